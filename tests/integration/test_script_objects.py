"""Objects a script defines (in `__main__`) and keeps in state load in another script, as in
Motion: they are pickled by value, not as a reference to the script that made them."""

from __future__ import annotations

import pathlib
import textwrap

from tests.helpers import run_script, unique

WRITER = textwrap.dedent(
    """
    import sys
    from motion_grpc import Component

    C = Component("ScriptObjects")

    @C.init_state
    def setup():
        return {"model": None}

    class Model:
        def __init__(self, w):
            self.w = w

        def predict(self, x):
            return self.w * x

    def scale(x):
        return x * 100

    @C.update("fit")
    def fit(state, props):
        return {"model": Model(props["w"]), "scale": scale}

    if __name__ == "__main__":
        instance = C(sys.argv[1])
        instance.run("fit", props={"w": 3}, flush_update=True)
        model = instance.read_state("model")
        print(model.predict(2), isinstance(model, Model), instance.read_state("scale")(2))
    """
)

READER = textwrap.dedent(
    """
    import sys
    from motion_grpc import Component

    C = Component("ScriptObjects")

    @C.init_state
    def setup():
        return {"model": None}

    if __name__ == "__main__":
        instance = C(sys.argv[1])
        print(instance.read_state("model").predict(2), instance.read_state("scale")(2))
    """
)


def test_another_script_loads_the_objects_a_script_kept(redis_url: str, tmp_path: pathlib.Path) -> None:
    (tmp_path / "writer.py").write_text(WRITER)
    (tmp_path / "reader.py").write_text(READER)
    instance_id = unique("objects")
    assert run_script(tmp_path / "writer.py", redis_url, instance_id).strip() == "6 True 200"
    assert run_script(tmp_path / "reader.py", redis_url, instance_id).strip() == "6 200"
