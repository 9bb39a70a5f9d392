"""Motion's README example: an e-commerce prompt that summarizes a user's styling queries.

The component is Motion's, as written there but for the import. `retrieve` and
`llm` are stand-ins (Motion's README leaves them to the reader): swap in a real
catalog search and a real LLM call.

python examples/ecommerce.py
motion-grpc serve examples/ecommerce.py
"""

import asyncio
import sys

from motion_grpc import Component


def retrieve(event):
    """Stand-in catalog search."""
    return ["linen shirt", "wide-leg jeans", "rain jacket"] if "hiking" not in event else ["trail shoes"]


def llm(prompt):
    """Stand-in LLM: deterministic, so the example's output can be checked."""
    if prompt.startswith("You recommended"):
        event = prompt.split(" for ", 1)[1].split(". The information", 1)[0]
        return f"Asked for outfits for {event}."
    return "Suggestions: " + prompt.split("using the catalog: ", 1)[1].rstrip(".")


ECommercePrompt = Component("E-Commerce")

@ECommercePrompt.init_state
def setup():
  return {"query_summary": "No queries yet.", "preference_summary": "No preference information yet."}

@ECommercePrompt.serve("styling_query")
def generate_recs(state, props):
    # Props = properties to this specific flow's execution
    # First retrieve products from the catalog
    catalog_products = retrieve(props['event'])
    prompt = f"Consider the following lifestyle and preference information about me: {state['query_summary']}, {state['preference_summary']}. Suggest 3-5 apparel items for me to buy for {props['event']}, using the catalog: {catalog_products}."
    return llm(prompt)

@ECommercePrompt.update("styling_query")
def query_summary(state, props):
    # props.serve_result contains the result from the serve op
    prompt = f"You recommended a user buy {props.serve_result} for {props['event']}. The information we currently have about them is: {state['query_summary']}. Based on their query history, give a new 3-sentence summary about their lifestyle."
    query_summary = llm(prompt)
    # Update state
    return {"query_summary": query_summary}


async def main(user_id):
    # Initialize component instance
    instance = ECommercePrompt(user_id) # Some user_id

    # Run the "styling_query" flow. Will return the result of the "styling_query" serve
    # operation, and queue the "styling_query" update operation to run in the background.
    rec = await instance.arun("styling_query", props={"event": "sightseeing in Santiago, Chile"})
    print(rec)
    instance.flush_update("styling_query")
    print(instance.read_state("query_summary"))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "user42"))
