"""One raw HTTP request with the Host header and method a test chooses (what a browser fooled by
DNS rebinding, or a careless client, would send)."""

from __future__ import annotations

import http.client


def request(port: int, method: str = "GET", path: str = "/", *, host: str | None = None,
            body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of ``method path`` to 127.0.0.1:``port`` with ``Host: host``
    (default: 127.0.0.1:port; "" sends none)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        host = f"127.0.0.1:{port}" if host is None else host
        if host:
            conn.putheader("Host", host)
        if body is not None:
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()
