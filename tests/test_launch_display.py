"""Chapter 1: an instance has no private address until its assign_nic step has run; the
console and the view say so (the control plane picks the address when the launch starts,
as AWS's RunInstances does, but the interface carries it only from assign_nic on)."""

from __future__ import annotations

from pathlib import Path

from cloudquest.game.chapters import load_chapter
from cloudquest.game.session import Session

LAUNCH = load_chapter(next((Path(__file__).resolve().parent.parent / "levels").glob("*-launch.yaml")))


def test_the_private_ip_shows_only_after_assign_nic():
    s = Session(LAUNCH, 0)
    s.execute("launch --name api --zone eu-west-1b")
    ip = s.cloud.control.instances["api"].private_ip
    assert ip  # picked already ...
    for line in ("describe api", "status api", "status", "describe"):
        assert ip not in s.execute(line).output, line  # ... but not shown before it is assigned
    assert "private ip -" in s.execute("describe api").output
    while not any(step == "assign_nic" for step, _ in s.cloud.control.instances["api"].steps):
        s.advance(s.step_ms())
    assert f"private ip {ip}" in s.execute("describe api").output
    assert f"ip {ip}" in s.execute("status api").output


def _read_steps(s: Session) -> bool:
    s.sample()
    return next(st for st in s.grader.states if st.id == "read-steps").status == "passed"


def test_reading_the_seven_steps_needs_all_seven_done():
    """The objective says "read an instance's seven launch steps": a describe while the
    launch is still on its first steps does not count; one after the seventh does."""
    s = Session(LAUNCH, 0)
    s.execute("launch --name api --type medium --zone eu-west-1b")
    assert "launch steps:" in s.execute("describe api").output
    assert not _read_steps(s)
    s.execute("tick 1")
    s.execute("describe api")
    assert not _read_steps(s)
    s.execute("tick 90")
    s.execute("describe api")
    assert _read_steps(s)
    assert s.cloud.log.count("api.call") and any(
        e.get("steps_done") == 7 for e in s.cloud.log.since(0) if e.kind == "api.call"
    )
