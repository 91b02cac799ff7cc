"""Screenshots of the operations chapters' views (chapters 14 and 15) at 80x24 and
120x40: the auto scaling group in the middle of a flash crowd, instances on their way in
at different steps; the billing engine after a week of June, with two leaks fixed.

Deterministic as the other screenshots are: frozen copies of the two chapters
(tests/tui/fixtures/ops, so edits to levels/ never change these), seed 0, the clock
paused, no cursor blink, UTC and a pinned clock. Review a changed screenshot in the
report before accepting it with ``pytest tests/snapshots --snapshot-update``.
"""

from __future__ import annotations

import pytest

from .support import FIXTURES, SIZES
from .support import make_app as _make_app
from .support import opened as _opened

LEVELS = FIXTURES / "ops"


def make_app():
    return _make_app(LEVELS)


def opened(ident: str, *lines: str):
    return _opened(LEVELS, ident, *lines)


@pytest.mark.parametrize("size", SIZES)
def test_asg_view_flash_crowd_scale_out_under_way(snap_compare, size):
    """Chapter 14 at t=1,077 s with target tracking at 50 %, a 120 s warm-up and the
    advert's scheduled action (min 14 at 1,020 s): ten new instances on their way in,
    some still held by the warm-cache hook (⏸), some passing health checks (…); the
    last change of the desired capacity and its cause; the policy's reading."""
    lines = (
        "asg delete policy cpu-high",
        "asg delete policy cpu-low",
        "asg policy track target-tracking --target 50",
        "asg set warmup 120",
        "asg schedule ad --at 1020 --min 14",
        "tick 1077",
    )
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("scaling", *lines))


@pytest.mark.parametrize("size", SIZES)
def test_billing_view_first_week_two_leaks_fixed(snap_compare, size):
    """Chapter 15 after June's first week: the idle Elastic IPs released and the S3
    gateway endpoint created; the services' bars, July's forecast beside each, the
    week's cost by day, the biggest lines (the log bucket first), the needs all met."""
    lines = ("tick 604800", "eip release old-bastion", "eip release old-vpn", "endpoint create s3-gw private-rt")
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("billing", *lines))
