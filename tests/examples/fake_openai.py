"""A local OpenAI-compatible chat completions server for the e-commerce tests (streaming included).

It answers with the example's local text model, so its answers are the
ones the offline app would give, and it records every request so a test can
check that the app sent its prompts here, streaming, with the configured
model and key.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "examples" / "ecommerce"))
from ecommerce_llm import LocalTextModel


@dataclass
class Recorded:
    """What the fake server was sent."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)


def _chunk(content: str, finish: str | None = None) -> bytes:
    delta = {"content": content} if content else {}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    body = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "fake"}
    return f"data: {json.dumps({**body, 'choices': [choice]})}\n\n".encode()


def _completion(content: str) -> bytes:
    message = {"role": "assistant", "content": content}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return json.dumps({"id": "chatcmpl-fake", "object": "chat.completion", "created": 0,
                       "model": "fake", "choices": [choice]}).encode()  # fmt: skip


def _handler(recorded: Recorded) -> type[BaseHTTPRequestHandler]:
    class ChatCompletions(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/v1/chat/completions":
                self.send_error(404)
                return
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            recorded.requests.append(request)
            recorded.authorizations.append(self.headers.get("Authorization", ""))
            answer = LocalTextModel().answer(request["messages"][-1]["content"])
            if request.get("stream"):
                self._stream(re.findall(r"\S+\s*", answer))
            else:
                self._send("application/json", _completion(answer))

        def _stream(self, tokens: list[str]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for token in tokens:
                self.wfile.write(_chunk(token))
            self.wfile.write(_chunk("", "stop") + b"data: [DONE]\n\n")

        def _send(self, content_type: str, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output to the test's own

    return ChatCompletions


@contextmanager
def fake_openai() -> Iterator[tuple[str, Recorded]]:
    """The fake's base URL (http://127.0.0.1:PORT/v1) and what it records."""
    recorded = Recorded()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorded))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", recorded
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
