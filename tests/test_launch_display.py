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
