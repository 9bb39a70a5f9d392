"""Plays the seed's four-step interaction against a server and prints each prompt as the model gets it.

    python examples/ecommerce/play.py                      # starts a server on this app, then stops it
    python examples/ecommerce/play.py --target HOST:PORT   # a server already hosting ecommerce_app.py

Each run is a new shopper, so the prompt starts from "No queries yet." and
the self-updated sub-parts (Lifestyle, Preferences) fill in step by step.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

from motion_grpc import MotionClient
from motion_grpc.client import InstanceHandle

APP = pathlib.Path(__file__).with_name("ecommerce_app.py")
STEPS: list[tuple[str, dict[str, Any]]] = [
    ("styling_query", {"event": "attending the SIGMOD conference in Santiago, Chile"}),
    ("feedback", {"liked": ["wide-leg jeans"], "disliked": ["purple blazer"]}),
    ("styling_query", {"event": "hiking in the Bay Area"}),
    ("styling_query", {"event": "coffee with a friend"}),
]


def play(shopper: InstanceHandle) -> None:
    for number, (flow, props) in enumerate(STEPS, 1):
        print(f"\n=== Step {number}: {flow} {json.dumps(props)}")
        if flow == "styling_query":
            stream_recommendation(shopper, props)
        else:
            print(shopper.run(flow, props))
        shopper.flush(timeout=120)  # the update ops rewrite the sub-parts the next prompt shows
        state = shopper.get_state()
        print(f"--- state after step {number}:")
        for key in ("query_summary", "preference_summary"):
            print(f"{key}: {state[key]}")


def stream_recommendation(shopper: InstanceHandle, props: dict[str, Any]) -> None:
    for item in shopper.stream("styling_query", props):
        if "prompt" in item:
            print(f"--- prompt (model: {item['model']}):\n{item['prompt']}\n--- answer:")
        else:
            print(item["token"], end="", flush=True)
    print()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def own_server(data_dir: str) -> Iterator[str]:
    """`motion-grpc serve` on this app, on a free port, with an embedded Redis in `data_dir`."""
    port = free_port()
    command = [pathlib.Path(sys.executable).with_name("motion-grpc"), "serve", str(APP)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--data-dir", data_dir, "--log-level", "WARNING"]
    server = subprocess.Popen(command, env=os.environ.copy())
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--target", help="host:port of a server hosting ecommerce_app.py (default: start one)"
    )
    parser.add_argument(
        "--user", default=f"shopper-{uuid.uuid4().hex[:8]}", help="instance id (default: new)"
    )
    parser.add_argument(
        "--data-dir", default=".motion/ecommerce", help="embedded Redis data of the own server"
    )
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        target = args.target or stack.enter_context(own_server(args.data_dir))
        client = stack.enter_context(MotionClient(target))
        client.wait_ready(timeout=60)
        print(f"Shopper {args.user} on {target}")
        play(client.instance("ECommerce", args.user))


if __name__ == "__main__":
    main()
