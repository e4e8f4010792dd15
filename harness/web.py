"""What the harness's two local HTTP servers share (``harness view``'s page, ``harness serve``'s API):
refusing, in one line and before any work, what they do not serve.

- a ``Host`` header whose name is not on the allowlist gets 403: a page of another site that
  rebinds its DNS name to 127.0.0.1 (DNS rebinding) sends its own name, so it reads nothing. The
  allowlist is the bound address and the local names (``localhost``, ``127.0.0.1``, ``::1``),
  plus what ``--allow-host`` adds (for ``--host 0.0.0.0`` behind a name). A request without a
  ``Host`` header is refused the same way; the port is not compared.
- a method the server does not serve gets 405 with an ``Allow`` header (not Python's 501 page).
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any

from harness.errors import InputError

#: the names of this machine every server accepts
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
#: addresses that bind every interface: no name of their own to allow
WILDCARDS = ("", "0.0.0.0", "::")


def host_name(header: str | None) -> str | None:
    """The host name of a ``Host`` header, lower case, without its port or brackets; None when empty."""
    text = (header or "").strip().lower()
    if not text:
        return None
    if text.startswith("["):  # [::1]:8080
        return text[1:].partition("]")[0] or None
    if text.count(":") == 1:  # name:port (a bare IPv6 address has several colons)
        text = text.partition(":")[0]
    return text.rstrip(".") or None


def allowed_hosts(bound: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The host names a server bound to ``bound`` answers: the local names, the bound address
    (unless it is a wildcard) and ``extra``."""
    names = {*LOCAL_NAMES, *(host_name(h) for h in extra)}
    if bound not in WILDCARDS:
        names.add(host_name(bound) if not bound.count(":") > 1 else bound.lower())
    return frozenset(n for n in names if n)


class GuardedHandler(BaseHTTPRequestHandler):
    """A request handler that refuses other hosts (403) and other methods (405) before dispatching.
    Subclasses set ``methods`` and the server's ``allowed_hosts`` (see ``guard``)."""

    methods: tuple[str, ...] = ("GET", "HEAD")
    allowed_hosts: frozenset[str] = frozenset(LOCAL_NAMES)

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        name = host_name(self.headers.get("Host"))
        if name not in self.allowed_hosts:
            self.refuse(403, f"host {name or '(none)'!r} is not served here (allowed: "
                             f"{', '.join(sorted(self.allowed_hosts))}; add one with --allow-host)")
            return False
        if self.command not in self.methods:
            self.refuse(405, f"method {self.command} is not allowed (allowed: {', '.join(self.methods)})",
                        {"Allow": ", ".join(self.methods)})
            return False
        return True

    def refuse(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        """One plain-text line with ``status``; the connection is closed after it."""
        body = (message + "\n").encode("utf-8")
        self.send_response(status)
        for key, value in {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass


def serve_until_interrupted(server: Any) -> None:
    """Serve until Ctrl-C, then close the socket."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def bind(handler: type[GuardedHandler], host: str, port: int, allow_hosts: Iterable[str] = ()) -> Any:
    """A ``ThreadingHTTPServer`` on ``host:port`` (not yet serving) whose ``handler`` answers the
    ``Host`` names of ``allowed_hosts(host, allow_hosts)``; a port in use is one ``InputError`` line."""
    from http.server import ThreadingHTTPServer

    guarded = type(handler.__name__, (handler,), {"allowed_hosts": allowed_hosts(host, allow_hosts)})
    try:
        return ThreadingHTTPServer((host, port), guarded)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise InputError(f"port {port} on {host} is in use; choose another with --port") from None
        raise InputError(f"cannot serve on {host}:{port}: {exc.strerror}") from None
