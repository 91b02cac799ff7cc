"""Screenshots of the tenants view (chapter 10) and the security view (chapter 11) at 80x24
and 120x40: the red team's first run against the broken shared host, and the attacker's
script after the layers are repaired, with encryption switched off to prove the others hold.

Deterministic as the other screenshots are: frozen copies of the two chapters
(tests/tui/fixtures/security, so edits to levels/ never change these), seed 0, the clock
paused, no cursor blink, UTC and a pinned clock. Review a changed screenshot in the report
before accepting it with ``pytest tests/snapshots --snapshot-update``.
"""

from __future__ import annotations

import pytest

from .support import FIXTURES, SIZES
from .support import make_app as _make_app
from .support import opened as _opened

LEVELS = FIXTURES / "security"


def make_app():
    return _make_app(LEVELS)


def opened(ident: str, *lines: str):
    return _opened(LEVELS, ident, *lines)


@pytest.mark.parametrize("size", SIZES)
def test_tenants_view_red_team_crosses_five_lines(snap_compare, size):
    """Chapter 10 after 5 s and a red-team run: five attempts crossed (✘ side-channel,
    starve, db-port, fresh-volume, assume-admin), every core shared by acme and bolt (!),
    acme's old payroll block left on the disk (a lower-case a), the two VPCs on one block."""
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("isolation", "tick 5", "redteam run"))


@pytest.mark.parametrize("size", SIZES)
def test_security_view_depth_two_with_encryption_off(snap_compare, size):
    """Chapter 11 with the layers repaired: every attack stopped at depth 2 or more, the
    rings showing where each attack was stopped, then the script played without
    encryption: the encryption ring dim, nothing through."""
    lines = (
        "disposal shred",
        "envelope encrypt backups payroll-key --as app-role",
        "sg revoke db-sg in tcp 5432 web-sg",
        "pin web-1 0-1",
        "pin db-1 4-5",
        "iam put-policy payroll-key-strict '{\"Version\": \"2012-10-17\", \"Statement\": [{\"Sid\": \"App\", \"Effect\": \"Allow\", "
        "\"Principal\": {\"AWS\": \"arn:aws:iam::111122223333:role/app-role\"}, \"Action\": [\"kms:Decrypt\", \"kms:GenerateDataKey\"], \"Resource\": \"*\"}]}'",
        "kms put-key-policy payroll-key payroll-key-strict",
        "iam put-policy payroll-bucket '{\"Version\": \"2012-10-17\", \"Statement\": [{\"Sid\": \"OnlyTheApp\", \"Effect\": \"Deny\", "
        "\"Principal\": \"*\", \"Action\": \"s3:*\", \"Resource\": \"arn:aws:s3:::payroll-data/*\", "
        "\"Condition\": {\"ArnNotEquals\": {\"aws:PrincipalArn\": \"arn:aws:iam::111122223333:role/app-role\"}}}]}'",
        "iam attach payroll-bucket arn:aws:s3:::payroll-data/* --as resource",
        "attack run",
        "attack run --without encryption",
    )
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("security", *lines))
