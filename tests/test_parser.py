from __future__ import annotations

import pytest

from cloudquest.game.parser import CommandError, tokenize
from cloudquest.game.registry import completions, help_index, parse, table


def test_tokenize_handles_quotes_and_comments():
    assert tokenize('launch --name "web 1"  # a comment') == ["launch", "--name", "web 1"]
    assert tokenize("   # only a comment") == []
    assert tokenize("") == []


@pytest.mark.parametrize(
    "line, fragment",
    [
        ('launch --name "oops', "close the quote"),
        ("x" * 3000, "too long"),
        ("lunch", "did you mean 'launch'"),
        ("launch --type huge", "must be one of nano, micro, small, medium, large, xlarge"),
        ("launch --zone", "--zone needs a value"),
        ("launch --colour red", "has no option --colour (options: --type, --zone, --name"),
        ("launch --type small --type large", "given twice"),
        ("tick", "missing SECONDS (usage: tick SECONDS)"),
        ("tick soon", "must be a number"),
        ("tick -5", "must be at least"),
        ("tick nan", "finite"),
        ("tick 1 2", "too many arguments"),
        ("fail moon m1", "must be one of disk, host, rack, zone, link"),
    ],
)
def test_bad_input_is_one_clear_line(line, fragment):
    with pytest.raises(CommandError) as exc:
        parse(line)
    message = str(exc.value)
    assert fragment in message
    assert "\n" not in message


def test_not_enabled_names_what_is():
    with pytest.raises(CommandError, match="not available in this chapter \\(available: help, tick\\)"):
        parse("launch", enabled={"help", "tick"})


def test_options_in_any_order_and_with_equals():
    p = parse("launch --zone=za --type nano --name web")
    assert p.spec.verb == "launch"
    assert p.values == {"type": "nano", "zone": "za", "name": "web", "group": None, "subnet": None, "sg": None}
    p = parse("launch")
    assert p.values["type"] == "small"


def test_blank_and_comment_lines_parse_to_nothing():
    assert parse("") is None
    assert parse("# nothing") is None


def test_help_is_generated_from_the_registry():
    text = help_index()
    for verb, spec in table().items():
        assert spec.usage in text
    assert "usage: launch [--type nano|micro|small|medium|large|xlarge]" in table()["launch"].help_text()


def test_completion_of_verbs_and_ids():
    ids = {"instance": ["web", "db"], "zone": ["za", "zb"]}.get
    assert completions([], "la", None, lambda k: ids(k) or []) == ["launch"]
    assert completions(["terminate"], "w", None, lambda k: ids(k) or []) == ["web"]
    assert completions(["launch", "--zone"], "z", None, lambda k: ids(k) or []) == ["za", "zb"]
    assert completions(["launch"], "--t", None, lambda k: []) == ["--type"]
    assert completions(["fail"], "ho", None, lambda k: []) == ["host"]
