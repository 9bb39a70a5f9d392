"""Motion's DiscardPolicy example (docs: DiscardPolicy), as written but for the import.

python examples/discard_policy.py
"""

from motion_grpc import Component, DiscardPolicy

C = Component("C")

@C.init_state
def setup():
    return {"default_value": 0, "some_value": 0, "another_value": 0}

@C.update(
    "something",
    discard_after=10,
    discard_policy=DiscardPolicy.NUM_NEW_UPDATES
)
def update_num_new(state, props):
    # Do an expensive operation that could take a while
    ...
    return {"some_value": state["some_value"] + props["value"]}

@C.update("something", discard_after=1, discard_policy=DiscardPolicy.SECONDS)
def update_seconds(state, props):
    # Do an expensive operation that could take a while
    ...
    return {"another_value": state["another_value"] + props["value"]}

@C.update("something")
def update_default(state, props):
    # Do an expensive operation that could take a while
    ...
    return {"default_value": state["default_value"] + props["value"]}

if __name__ == "__main__":
    c = C()

    # If we do many runs of "something", the update queue will grow
    # and the policy will be automatically enforced by Motion.

    for i in range(100):
        c.run("something", props={"value": str(i)})

    # Flush the update queue (i.e., wait for all updates to finish)
    c.flush_update("something")

    print(c.read_state("default_value")) # (1)!

    print(c.read_state("some_value")) # (2)!

    print(c.read_state("another_value")) # (3)!

    c.shutdown()
