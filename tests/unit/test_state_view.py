"""The state mapping ops read: dict idioms that do not change it work as on Motion's dict."""

from __future__ import annotations

from motion_grpc.state import State


def test_copy_and_union_give_plain_dicts_that_leave_the_state_as_it_was() -> None:
    data = {"items": [1, 2], "n": 3}
    copied = State("i", data, 7).copy()
    copied["items"].append(9)
    copied["n"] = 4
    assert copied == {"items": [1, 2, 9], "n": 4}
    assert data == {"items": [1, 2], "n": 3}
    merged = State("i", data, 7) | {"n": 5}
    merged["items"].append(8)
    assert merged == {"items": [1, 2, 8], "n": 5}
    assert {"n": 5, "m": 1} | State("i", data, 7) == {"n": 3, "m": 1, "items": [1, 2]}
    assert data == {"items": [1, 2], "n": 3}


def test_a_state_reads_as_a_dict_in_text_as_motions_dict_state_does() -> None:
    """A prompt built with f"{state}" reads the same as with Motion's dict state."""
    data = {"summary": "likes tea", "turns": [1, 2]}
    state = State("user-1", data, 3, "Chat")
    assert str(state) == repr(state) == str(data) and f"{state}" == f"{data}"
    assert (state.component_name, state.instance_id, state.version) == ("Chat", "user-1", 3)
