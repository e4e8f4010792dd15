"""The server behind ``harness view``: the page and its own assets on 127.0.0.1, nothing else.

What may be served is a fixed table, built before the server starts: ``/`` and the page's
name for the page, and each page it links to (a sweep's cell pages) by its relative path. No
request path is ever joined to a folder, so ``/../``, absolute and percent-encoded traversal
cannot reach a file: anything outside the table is a 404, and so is a file of the table that has
disappeared since. Another ``Host`` than the bound address and the local names (403), and any
method but GET and HEAD (405), are refused before that (``harness.web``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from harness.web import GuardedHandler, bind, serve_until_interrupted

_LINK = re.compile(r'href="([^"#:?]+\.html)"')
_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                               "img-src data:",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def routes(page: Path) -> dict[str, Path]:
    """URL path -> file: the page, and the relative ``.html`` links in it that exist under its folder."""
    page = Path(page).resolve()
    table = {"/": page, "/" + page.name: page}
    root = page.parent
    for link in _LINK.findall(page.read_text(encoding="utf-8")):
        target = (root / link).resolve()
        if target.is_file() and target.is_relative_to(root):
            table["/" + link] = target
    return table


def make_server(page: Path, host: str = "127.0.0.1", port: int = 0, allow_hosts: Sequence[str] = ()) -> Any:
    """A ``ThreadingHTTPServer`` for ``page`` (not yet serving), answering ``Host`` names of the bound
    address, the local names and ``allow_hosts``; a port in use is an ``InputError``."""
    table = routes(page)

    class Handler(GuardedHandler):
        methods = ("GET", "HEAD")

        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            path = unquote(urlsplit(self.path).path)
            target = table.get(path)
            try:
                body = None if target is None else target.read_bytes()
            except OSError:  # removed or unreadable since the table was built
                body = None
            if body is None:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")
                return
            self._send(200, body, _HEADERS["Content-Type"])

        def do_HEAD(self) -> None:  # noqa: N802
            self.do_GET()

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            for key, value in {**_HEADERS, "Content-Type": content_type}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return bind(Handler, host, port, allow_hosts)


def serve_page(page: Path, *, host: str = "127.0.0.1", port: int = 8765, allow_hosts: Sequence[str] = (),
               announce: Callable[[str], None] = print) -> None:
    """Serve ``page`` until interrupted, after announcing its address."""
    server = make_server(page, host, port, allow_hosts)
    announce(f"serving http://{host}:{server.server_address[1]}/ (Ctrl-C to stop)")
    serve_until_interrupted(server)
