"""The event log's promises (cloud/events.py), checked against lines written by hand.

A saved replay stores the SHA-256 of its event log; a later version of the game verifies
the replay by playing it again and comparing hashes. So the canonical line of an event
(sorted keys, no spaces, one line ended by a newline) is a file format: if it changed,
every replay a player saved before would stop verifying.
"""

from __future__ import annotations

import hashlib

import pytest

from cloudquest.cloud.events import EventLog

# Two events, written out by hand in the documented canonical form: sorted keys, ","
# and ":" with no spaces, each line ended by "\n".
LINES = (
    '{"kind":"world.created","seq":0,"t_ms":0}\n'
    '{"instance":"web-1","kind":"launch.step","seq":1,"step":"boot","t_ms":12345}\n'
)


def two_events() -> EventLog:
    log = EventLog()
    log.append(0, "world.created")
    log.append(12_345, "launch.step", step="boot", instance="web-1")
    return log


def test_each_event_is_one_canonical_json_line_and_the_hash_is_the_sha256_of_those_lines():
    log = two_events()
    assert log.to_jsonl() == LINES
    assert [e.to_json() + "\n" for e in log] == LINES.splitlines(keepends=True)
    assert log.sha256() == hashlib.sha256(LINES.encode()).hexdigest()


def test_the_running_hash_after_each_event_is_that_of_the_lines_so_far():
    log = EventLog()
    assert log.sha256() == hashlib.sha256(b"").hexdigest()
    log.append(0, "world.created")
    first = LINES.splitlines(keepends=True)[0]
    assert log.sha256() == hashlib.sha256(first.encode()).hexdigest()


def test_an_event_reads_back_its_fields_and_numbers_itself_in_order():
    log = two_events()
    assert len(log) == 2
    boot = log[1]
    assert (boot.t_ms, boot.seq, boot.kind) == (12_345, 1, "launch.step")
    assert boot.get("step") == "boot" and boot.get("instance") == "web-1"
    assert boot.get("zone") is None and boot.get("zone", "none") == "none"
    assert boot.as_dict() == {"t_ms": 12_345, "seq": 1, "kind": "launch.step", "step": "boot", "instance": "web-1"}
    assert [e.kind for e in log.since(1)] == ["launch.step"]
    assert log.since(2) == []


def test_describe_is_one_human_line_with_the_time_in_seconds():
    log = two_events()
    assert log[0].describe() == "t=0.000s world.created"  # no fields: nothing after the kind
    assert log[1].describe() == "t=12.345s launch.step instance=web-1 step=boot"


def test_count_is_per_kind_and_zero_for_a_kind_never_logged():
    log = two_events()
    log.append(20_000, "launch.step", step="running", instance="web-1")
    assert log.count("launch.step") == 2
    assert log.count("world.created") == 1
    assert log.count("instance.terminated") == 0


@pytest.mark.parametrize("field", ["t_ms", "seq", "kind"])
def test_the_fields_every_event_has_cannot_be_overwritten_by_its_data(field):
    log = two_events()
    with pytest.raises(ValueError, match=f"event field '{field}' is reserved"):
        log.append(20_000, "launch.step", **{field: 1})
    assert len(log) == 2


def test_events_at_the_same_time_are_kept_in_order_and_an_earlier_time_is_refused():
    log = two_events()
    log.append(12_345, "launch.step", step="network", instance="web-1")  # same millisecond: fine
    assert [e.seq for e in log] == [0, 1, 2]
    log.append(20_000, "launch.step", step="running", instance="web-1")
    # before the last event (20 s), though after every one before it
    with pytest.raises(ValueError, match="event launch.step at t=15000 is before the last event"):
        log.append(15_000, "launch.step", step="late", instance="web-1")
    assert len(log) == 4
