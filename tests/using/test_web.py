"""``harness.web``: which Host names a local server answers (the rest of its behaviour is tested
through the two servers that use it, in test_view.py and test_using_serve.py)."""

from __future__ import annotations

import pytest

from harness.web import LOCAL_NAMES, allowed_hosts, host_name


@pytest.mark.parametrize("header, name", [
    ("127.0.0.1:8765", "127.0.0.1"), ("LocalHost", "localhost"), ("localhost.:80", "localhost"),
    ("[::1]:8000", "::1"), ("[::1]", "::1"), ("::1", "::1"), ("evil.example:8765", "evil.example"),
    ("", None), (None, None), ("  ", None), ("[]:80", None),
])
def test_a_host_header_is_read_as_its_name_without_port_brackets_or_case(header, name):
    assert host_name(header) == name


def test_a_server_answers_its_bound_address_the_local_names_and_what_is_added():
    assert allowed_hosts("127.0.0.1") == frozenset(LOCAL_NAMES)
    added = allowed_hosts("192.168.1.5", ["Calib.Internal:8000"])
    assert added == {*LOCAL_NAMES, "192.168.1.5", "calib.internal"}
    assert allowed_hosts("fe80::1") == {*LOCAL_NAMES, "fe80::1"}


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "::", ""])
def test_a_wildcard_bind_adds_no_name_of_its_own(wildcard):
    assert allowed_hosts(wildcard) == frozenset(LOCAL_NAMES)
    assert "0.0.0.0" not in allowed_hosts(wildcard, ["box.lan"])
