"""Migration functions for the `motion-grpc migrate` tests."""


def times_ten(state):
    return {"n": state["n"] * 10}


def fail_on_three(state):
    if state["n"] == 3:
        raise ValueError("three is not allowed")
    return {"n": state["n"] + 100}
