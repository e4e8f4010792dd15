"""``harness serve``: an OpenAI-compatible endpoint in front of a bundle, on 127.0.0.1 by default.

Routes (any other path: 404; other methods than GET and POST: 405; another ``Host``: 403, see
``harness.web``):

- ``GET /v1/models``: the one model served, named by the bundle folder.
- ``POST /v1/chat/completions``: the last user message is the question. It is answered with the
  bundle (``harness.using.answering``: its backend — a local model, or an upstream
  OpenAI-compatible server through the ``openai`` backend — its extractor, map and threshold).
  The response is a standard ``chat.completion`` with one extra top-level field, ``calibration``:
  ``confidence`` (calibrated), ``raw_confidence``, ``imputed``, ``abstained``, ``threshold``,
  ``alpha`` and ``delta``. Below the threshold the model abstains: ``message.content`` is null and
  ``message.refusal`` holds ``REFUSAL`` (the answer is withheld), ``calibration.abstained`` true.
  A body that is not such a request is a 400, a failed generation a 502, each with OpenAI's
  ``{"error": {"message", "type"}}`` shape and no traceback.

One request is answered at a time (the local model is not shared between threads).
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.errors import HarnessError
from harness.records import Example
from harness.statistics.risk_control import ThresholdChoice
from harness.using.answering import Answerer, threshold_for
from harness.using.bundle import load_bundle
from harness.web import GuardedHandler, bind, serve_until_interrupted

#: the refusal an abstaining answer carries in ``message.refusal``
REFUSAL = "I abstain: my calibrated confidence is below the threshold this service answers at."
#: the largest request body read (bytes)
MAX_BODY = 1 << 20


class RequestError(Exception):
    """A request this endpoint cannot answer: its HTTP status and one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def question_of(body: Any) -> str:
    """The question of a chat-completions request body: its last user message's text."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise RequestError(400, "the body must be a JSON object with a list of messages")
    if body.get("stream"):
        raise RequestError(400, "streaming is not supported: send stream = false")
    if body.get("n", 1) != 1:
        raise RequestError(400, "only n = 1 is supported")
    users = [m for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        raise RequestError(400, "no user message to answer")
    content = users[-1].get("content")
    if isinstance(content, list):  # content parts: the text ones
        content = "".join(p.get("text", "") for p in content
                          if isinstance(p, dict) and p.get("type") == "text")
    if not isinstance(content, str) or not content.strip():
        raise RequestError(400, "the last user message has no text")
    return content


def completion(answer: dict[str, Any], model: str, choice: ThresholdChoice) -> dict[str, Any]:
    """The ``chat.completion`` of one answer, with its ``calibration`` field."""
    abstained = answer["abstain"]
    message = {"role": "assistant", "content": None if abstained else answer["answer"],
               "refusal": REFUSAL if abstained else None}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "calibration": {"confidence": answer["confidence"], "raw_confidence": answer["raw_confidence"],
                        "imputed": answer["imputed"], "abstained": abstained, "threshold": choice.threshold,
                        "alpha": choice.alpha, "delta": choice.delta},
    }


def make_server(bundle_folder: Path, *, host: str = "127.0.0.1", port: int = 0,
                allow_hosts: Sequence[str] = (), backend: str | None = None, model: str | None = None,
                overrides: Sequence[str] = (), alpha: float | None = None, delta: float | None = None) -> Any:
    """A ``ThreadingHTTPServer`` answering with the bundle in ``bundle_folder`` (not yet serving)."""
    bundle = load_bundle(bundle_folder)
    choice = threshold_for(bundle, alpha, delta)
    scratch = Path(tempfile.mkdtemp(prefix="harness-serve-"))
    answerer = Answerer(bundle, backend=backend, model=model, overrides=overrides, choice=choice,
                        scratch=scratch / "follow_ups.jsonl")
    name = Path(bundle_folder).resolve().name
    lock = threading.Lock()

    class Handler(GuardedHandler):
        methods = ("GET", "POST")

        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            if urlsplit(self.path).path.rstrip("/") != "/v1/models":
                self._json(404, _error("no such route: GET /v1/models or POST /v1/chat/completions"))
                return
            self._json(200, {"object": "list", "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "calibration-harness"}]})

        def do_POST(self) -> None:  # noqa: N802
            if urlsplit(self.path).path.rstrip("/") != "/v1/chat/completions":
                self._json(404, _error("no such route: POST /v1/chat/completions"))
                return
            try:
                question = question_of(self._body())
                with lock:
                    answer = answerer.answer([Example(id=f"request-{uuid.uuid4().hex}", question=question,
                                                      answer="")])[0]
                if answer["error"] and not answer["answer"]:
                    raise RequestError(502, f"the backend gave no answer: {answer['error']}")
            except RequestError as exc:
                self._json(exc.status, _error(str(exc)))
                return
            except HarnessError as exc:
                self._json(502, _error(" ".join(str(exc).split())))
                return
            self._json(200, completion(answer, name, choice))

        def _body(self) -> Any:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                raise RequestError(400, "Content-Length is not a number") from None
            if not 0 < length <= MAX_BODY:
                raise RequestError(400 if length <= 0 else 413, f"a body of 1 to {MAX_BODY} bytes is needed")
            try:
                return json.loads(self.rfile.read(length))
            except ValueError:
                raise RequestError(400, "the body is not JSON") from None

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = bind(Handler, host, port, allow_hosts)
    server.scratch = scratch  # type: ignore[attr-defined]
    return server


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": None}}


def serve_bundle(bundle_folder: Path, *, host: str = "127.0.0.1", port: int = 8000,
                 announce: Callable[[str], None] = print, **options: Any) -> None:
    """Serve the bundle until interrupted, after announcing its address and threshold."""
    import shutil

    server = make_server(bundle_folder, host=host, port=port, **options)
    announce(f"serving {Path(bundle_folder).resolve().name} at http://{host}:{server.server_address[1]}/v1 "
             "(Ctrl-C to stop)")
    try:
        serve_until_interrupted(server)
    finally:
        shutil.rmtree(server.scratch, ignore_errors=True)
