from __future__ import annotations

import ipaddress

import pytest

from parlour.web.clientip import client_ip

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        pytest.param("203.0.113.9", None, "203.0.113.9", id="direct-client"),
        pytest.param("203.0.113.9", "1.2.3.4", "203.0.113.9", id="untrusted-peer-header-ignored"),
        pytest.param("10.0.0.2", "198.51.100.7", "198.51.100.7", id="one-trusted-proxy"),
        pytest.param(
            "10.0.0.2", "6.6.6.6, 198.51.100.7", "198.51.100.7", id="spoofed-left-ignored"
        ),
        pytest.param("10.0.0.2", "198.51.100.7, 10.0.0.3", "198.51.100.7", id="proxy-chain"),
        pytest.param("10.0.0.2", "10.0.0.4, 10.0.0.3", "10.0.0.4", id="all-proxies"),
        pytest.param("10.0.0.2", "nonsense", "10.0.0.2", id="garbage-hop"),
        pytest.param("10.0.0.2", "198.51.100.7, nonsense", "10.0.0.2", id="garbage-nearest"),
        pytest.param("::1", "2001:db8::5", "2001:db8::5", id="ipv6"),
        pytest.param(None, None, "0.0.0.0", id="no-peer"),
    ],
)
def test_client_ip(peer: str | None, forwarded: str | None, expected: str) -> None:
    assert client_ip(peer, forwarded, PROXIES) == expected


def test_nothing_is_believed_without_trusted_proxies() -> None:
    assert client_ip("10.0.0.2", "198.51.100.7", ()) == "10.0.0.2"
