"""`motion-grpc watch COMPONENT INSTANCE`: an instance's update events, one JSON line each."""

from __future__ import annotations

import argparse
import json
import sys

from motion_grpc.client import MotionClient, WatchProgress
from motion_grpc.errors import MotionError


def run_watch(args: argparse.Namespace) -> int:
    """Print events until interrupted; on a lost connection, say where to resume (--after)."""
    with MotionClient(args.target) as client:
        handle = client.instance(args.component, args.instance)
        watch = None
        try:
            watch = handle.watch(
                after=args.after,
                flows=args.flows,
                include_state=args.include_state,
                create_if_missing=args.create,
                heartbeats=args.progress,
            )
            for item in watch:
                if isinstance(item, WatchProgress) or item is None:
                    print(json.dumps({"progress": item.latest_event_id if item else None}), flush=True)
                else:
                    print(json.dumps(item.as_dict()), flush=True)
        except KeyboardInterrupt:
            return 0
        except MotionError as exc:
            resume = f" (resume with --after {watch.last_event_id})" if watch and watch.last_event_id else ""
            print(f"motion-grpc watch: {exc}{resume}", file=sys.stderr)
            return 1
    return 0
