"""Motion's e-commerce prompt as a real LLM app: a styling assistant whose prompt keeps itself up to date.

Each shopper is one instance of `ECommerce`, with two prompt sub-parts in
its state: `query_summary` (their lifestyle, from what they asked for) and
`preference_summary` (from their likes and dislikes).

- `styling_query` (props `{"event": "hiking in the Bay Area"}`): the serve op
  builds the prompt from both sub-parts and the catalog products BM25 finds
  for the event, then streams: first `{"prompt": ..., "model": ...}`, then
  `{"token": ...}` items as the model writes (RunStream, or `inst.gen`).
  Its update op asks the model for a new lifestyle summary.
- `feedback` (props `{"liked": [...], "disliked": [...]}`): the serve op
  acknowledges; its update op asks the model for a new preference summary.

The model is the endpoint `MOTION_LLM_BASE_URL` / `MOTION_LLM_MODEL` /
`MOTION_LLM_API_KEY` configure, else an offline local text model (see
ecommerce_llm.py). Serve it with `motion-grpc serve examples/ecommerce/ecommerce_app.py`
and play the four-step interaction with `make ecommerce`.
"""

from collections.abc import AsyncIterator, Mapping
from typing import Any

# This folder is on sys.path: `motion-grpc serve` puts an app's folder there, and Python a script's.
from ecommerce_catalog import Product, catalog
from ecommerce_llm import CATALOG_MARK, CURRENT_SUMMARY, complete, model

from motion_grpc import Component, DiscardPolicy

ECommerce = Component("ECommerce")

NO_QUERIES = "No queries yet."
NO_PREFERENCES = "No preference information yet."


@ECommerce.init_state
def setup() -> dict[str, str]:
    return {"query_summary": NO_QUERIES, "preference_summary": NO_PREFERENCES}


def recommendation_prompt(state: Mapping[str, Any], event: str, products: list[Product]) -> str:
    """The seed's prompt: both self-updated sub-parts, the occasion, and the retrieved products."""
    listing = "\n".join(f"- {product.line()}" for product in products)
    return (
        "Consider the following lifestyle and preference information about me.\n"
        f"Lifestyle: {state['query_summary']}\n"
        f"Preferences: {state['preference_summary']}\n"
        f"Suggest 3-5 apparel items for me to buy for {event}, {CATALOG_MARK}\n{listing}"
    )


def _text(props: Mapping[str, Any], key: str) -> str:
    value = props.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(
            f'props need "{key}": a non-empty string, e.g. {{"{key}": "hiking in the Bay Area"}}'
        )
    return value.strip()


@ECommerce.serve("styling_query")
async def recommend(state: Mapping[str, Any], props: Any) -> AsyncIterator[dict[str, str]]:
    event = _text(props, "event")
    prompt = recommendation_prompt(state, event, catalog().search(event))
    yield {"prompt": prompt, "model": model().name}
    async for token in model().stream(prompt):
        yield {"token": token}


@ECommerce.update("styling_query", discard_policy=DiscardPolicy.NUM_NEW_UPDATES, discard_after=5)
async def summarize_lifestyle(state: Mapping[str, Any], props: Any) -> dict[str, str]:
    """A new lifestyle summary; under a burst of queries only the newest five are summarized in."""
    prompt = (
        "Summarize this shopper's lifestyle for a stylist in at most three sentences, keeping what still "
        "holds from the current summary and adding what they asked about.\n"
        f"{CURRENT_SUMMARY}: {state['query_summary']}\n"
        f"Asked about: {_text(props, 'event')}"
    )
    return {"query_summary": (await complete(model(), prompt)).strip()}


def _items(props: Mapping[str, Any], key: str) -> list[str]:
    value = props.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f'props "{key}" must be a list of strings, e.g. {{"{key}": ["wide-leg jeans"]}}')
    return [item.strip() for item in value if item.strip()]


@ECommerce.serve("feedback")
def acknowledge(state: Mapping[str, Any], props: Any) -> str:
    liked, disliked = _items(props, "liked"), _items(props, "disliked")
    if not liked and not disliked:
        raise ValueError('feedback needs "liked" or "disliked": lists of product names')
    return f"Noted: you like {', '.join(liked) or 'nothing yet'}; you dislike {', '.join(disliked) or 'nothing'}."


@ECommerce.update("feedback")
async def summarize_preferences(state: Mapping[str, Any], props: Any) -> dict[str, str]:
    lines = [f"{CURRENT_SUMMARY}: {state['preference_summary']}"]
    lines += [f"{label}: {'; '.join(items)}" for label, items in _feedback_lines(props) if items]
    prompt = (
        "Summarize this shopper's apparel preferences in at most two sentences, keeping what still holds "
        "from the current summary.\n" + "\n".join(lines)
    )
    return {"preference_summary": (await complete(model(), prompt)).strip()}


def _feedback_lines(props: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    return [("Liked", _items(props, "liked")), ("Disliked", _items(props, "disliked"))]


if __name__ == "__main__":
    # In-process, as in Motion: no server needed (state in MOTION_REDIS_URL, else the embedded Redis).
    shopper = ECommerce("shopper-in-process")
    for item in shopper.gen("styling_query", props={"event": "coffee with a friend"}):
        print(
            item.get("prompt", "") + item.get("token", ""), end="\n" if "prompt" in item else "", flush=True
        )
    shopper.flush_update("styling_query")
    print("\nquery_summary:", shopper.read_state("query_summary"))
