"""A process forked after it used in-process instances (os.fork, a fork-context multiprocessing
Pool, a pre-forking web server) uses them in the child as in Motion: the child gets engines of its
own, and ends without touching its parent's."""

from __future__ import annotations

import json
import pathlib
import textwrap

from tests.helpers import run_script, unique

SCRIPT = textwrap.dedent(
    """
    import json, multiprocessing, os, sys
    from motion_grpc import Component
    from motion_grpc.engine import Engine
    from motion_grpc.instance import ComponentInstance
    from motion_grpc.store import RedisSettings

    Counter = Component("ForkCounter")

    @Counter.init_state
    def setup():
        return {"n": 0}

    @Counter.serve("add")
    def add_serve(state, props):
        return state["n"]

    @Counter.update("add")
    def add_update(state, props):
        return {"n": state["n"] + props["k"]}

    def in_child(instance_id):
        return Counter(instance_id).run("add", props={"k": 1}, flush_update=True)

    if __name__ == "__main__":
        prefix = sys.argv[1]
        parent = Counter(prefix + "-parent")
        parent.run("add", props={"k": 1}, flush_update=True)
        own = Engine(RedisSettings(os.environ["MOTION_REDIS_URL"]), [Counter]).start()
        given = ComponentInstance(Counter, prefix + "-given", engine=own)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: a new handle, and the one the parent made
            os.close(read)
            seen = [Counter(prefix + "-child").run("add", props={"k": 5}, flush_update=True)]
            seen.append(parent.run("add", props={"k": 10}, flush_update=True))
            try:  # an engine its maker passed in is not replaced: a clear error, not a hang
                given.run("add", props={"k": 1})
            except RuntimeError as exc:
                seen.append("forked" in str(exc))
            os.write(write, json.dumps(seen).encode())
            sys.exit(0)  # the atexit hooks run: they must not wait on the parent's engine
        os.close(write)
        _, status = os.waitpid(pid, 0)
        child = json.loads(os.read(read, 1000) or b"null")
        with multiprocessing.get_context("fork").Pool(2) as pool:
            pooled = pool.map(in_child, [prefix + f"-pool{i}" for i in range(4)])
        after = parent.run("add", props={"k": 100}, flush_update=True)
        own.close()
        print(json.dumps({"status": os.waitstatus_to_exitcode(status), "child": child,
                          "pooled": pooled, "after": after, "n": parent.read_state("n")}))
    """
)


def test_a_forked_child_uses_instances_and_exits(redis_url: str, tmp_path: pathlib.Path) -> None:
    script = tmp_path / "forking.py"
    script.write_text(SCRIPT)
    outcome = json.loads(run_script(script, redis_url, unique("fork")).splitlines()[-1])
    # Serve results are the state before each run's update: the child saw the parent's first run.
    assert outcome == {"status": 0, "child": [0, 1, True], "pooled": [0, 0, 0, 0], "after": 11, "n": 111}
