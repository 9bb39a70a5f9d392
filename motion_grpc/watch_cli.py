"""`motion-grpc watch COMPONENT INSTANCE`: an instance's update events as they happen.

One line per event: readable by default, one JSON object per line with --json.
"""

from __future__ import annotations

import argparse

from motion_grpc.client import WatchEvent, WatchProgress
from motion_grpc.errors import MotionError
from motion_grpc.operator_io import Output, connect


def event_text(event: WatchEvent) -> str:
    """One event as a short line: id, status, flow/op, update, version, error."""
    text = f"{event.event_id}  {event.status:<9} {event.flow}/{event.op}  update {event.update_id}"
    text += f"  version {event.version}"
    if event.error_type:
        text += f"  {event.error_type}: {event.error_message}"
    if event.state is not None:
        text += f"  state {event.state}"
    return text


def run_watch(args: argparse.Namespace, output: Output) -> int:
    """Print events until interrupted; on a lost connection, say where to resume (--after)."""
    with connect(args) as client:
        handle = client.instance(args.component, args.instance)
        watch = None
        try:
            watch = handle.watch(
                after=args.after,
                flows=args.flows,
                include_state=args.include_state,
                create_if_missing=args.create,
                heartbeats=args.progress,
                timeout=args.timeout,
            )
            for item in watch:
                if isinstance(item, WatchProgress):
                    output.emit(f"(up to date at {item.latest_event_id})", {"progress": item.latest_event_id})
                else:
                    output.emit(event_text(item), item.as_dict())
        except MotionError as exc:
            resume = f" (resume with --after {watch.last_event_id})" if watch and watch.last_event_id else ""
            return output.failed("watch", exc, resume)
    return 0
