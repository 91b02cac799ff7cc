"""Screenshots of the network view (chapters 6 and 7) at 80x24 and 120x40, each after a
few commands: a reply dying at a stateless network ACL, and an Elastic IP moved to the
standby after the primary's host failed.

Deterministic as the other screenshots are: frozen copies of the two chapters
(tests/tui/fixtures/network, so edits to levels/ never change these), seed 0, the clock
paused, no cursor blink (the app turns it off when headless), UTC and a pinned clock for
anything dated. Review a changed screenshot in the report before accepting it with
``pytest tests/snapshots --snapshot-update``.
"""

from __future__ import annotations

import pytest

from .support import FIXTURES, SIZES
from .support import make_app as _make_app
from .support import opened as _opened

LEVELS = FIXTURES / "network"


def make_app():
    return _make_app(LEVELS)


def opened(ident: str, *lines: str):
    return _opened(LEVELS, ident, *lines)


@pytest.mark.parametrize("size", SIZES)
def test_network_view_reply_dropped_at_nacl(snap_compare, size):
    """Chapter 6 after its NAT gateway is replaced: app-1's request reaches db-1 and the
    reply dies at app-acl's final * rule (no rule for the ephemeral ports): the verdict on
    top, the hop strip ending in ✘acl, app-a in focus with private-rt's routes."""
    lines = (
        "nat create nat-a web-a",
        "route replace private-rt 0.0.0.0/0 nat-a",
        "packet trace app-1 db-1 --port 5432",
    )
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("sdn", *lines))


@pytest.mark.parametrize("size", SIZES)
def test_network_view_elastic_ip_failover(snap_compare, size):
    """Chapter 7: the plan carved in zones a and b, svc-1 and svc-2 running, svc-1's host
    failed and svc-ip moved to svc-2; the trace from the internet to svc-ip arrives at
    svc-2 and old-ip is still idle."""
    lines = (
        "subnet create public-a 10.20.1.0/24 --zone eu-west-1a --map-public-ip yes",
        "subnet create public-b 10.20.2.0/24 --zone eu-west-1b --map-public-ip yes",
        "route-table associate public-rt public-a",
        "route-table associate public-rt public-b",
        "launch --name svc-1 --subnet public-a --sg svc-sg",
        "launch --name svc-2 --subnet public-b --sg svc-sg",
        "tick 20",
        "eip associate svc-ip svc-1",
        "fail host a1-h2",
        "eip associate svc-ip svc-2",
        "packet trace internet svc-ip --port 443",
    )
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("ip-assignment", *lines))
