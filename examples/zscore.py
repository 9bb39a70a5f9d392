"""Motion's ZScore example (docs: Motion Concepts), as written there but for the import.

python examples/zscore.py
"""

from motion_grpc import Component

ZScoreComponent = Component("ZScore")


@ZScoreComponent.init_state
def setUp():
    return {"mean": None, "std": None, "values": []}


@ZScoreComponent.serve("number")
def serve(state, props):  # (1)!
    if state["mean"] is None:
        return None
    return abs(props["value"] - state["mean"]) / state["std"]


@ZScoreComponent.update("number")
def update(state, props):  # (2)!
    # Result of the serve op can be accessed via
    # props.serve_result
    # We don't do anything with the results, but we could!
    value_list = state["values"]
    value_list.append(props["value"])

    mean = sum(value_list) / len(value_list)
    std = sum((n - mean) ** 2 for n in value_list) / len(value_list)
    return {"mean": mean, "std": std, "values": value_list}


if __name__ == "__main__":
    import time
    c = ZScoreComponent() # Create instance of component

    # Observe 10 values of the flow's key
    for i in range(9):
        print(c.run("number", props={"value": i}))  # (1)!

    c.run("number", props={"value": 9}, flush_update=True)  # (2)!
    for i in range(10, 19):
        print(c.run("number", props={"value": i}))  # (3)!

    print(c.run("number", props={"value": 10})) # (4)!
    time.sleep(5)  # Give time for the second update to finish
    print(c.run("number", props={"value": 10}, force_refresh=True))
