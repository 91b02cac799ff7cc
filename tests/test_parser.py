from __future__ import annotations

import pytest

from cloudquest.game.parser import CommandError, split_lines, tokenize
from cloudquest.game.registry import completions, help_index, parse, table

from conftest import LEVELS


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
        ("tick soon", "must be a number in digits 0-9 with an optional sign and one decimal point"),
        ("tick -5", "must be at least"),
        ("tick nan", "must be a number in digits 0-9"),
        ("tick 1 2", "too many arguments"),
        ("fail moon m1", "must be one of disk, host, rack, zone, link"),
        # a number is ASCII digits (sign, one point), at most 15 of them, within the parameter's bounds
        ("tick 1e5", "not '1e5'"),
        ("tick 1_000", "not '1_000'"),
        ("tick \u0661\u0662", "not '\u0661\u0662'"),
        ("tick inf", "not 'inf'"),
        ("tick 1.5.5", "not '1.5.5'"),
        ("tick " + "9" * 16, "a number of 16 digits (at most 15)"),
        ("put a " + "9" * 400, "size: a number of 400 digits (at most 15)"),
        ("set chunk " + "9" * 400, "size: a number of 400 digits (at most 15)"),
        ("put a \u0663GiB", "size: write digits as 0-9"),
        ("vm create a --vcpus 99999 --ram 1", "vcpus must be at most 1024"),
        ("vm create a --vcpus 1 --ram 1e3", "ram must be a number in digits 0-9"),
        ("locate a --chunk 99999999", "chunk must be at most 2000000"),
        ("lb set web interval 9999", "value must be at most 300"),
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


@pytest.mark.parametrize(
    "text, says",
    [
        ("status\u2028launch\n", ["status\u2028launch"]),
        ("a\x0cb\x0bc\x1cd\x85e\n", ["a\x0cb\x0bc\x1cd\x85e"]),
        ("a\r\nb\nc", ["a", "b", "c"]),
        ("a\n\nb\n", ["a", "", "b"]),
        ("", []),
    ],
)
def test_a_script_splits_on_newlines_only(text, says):
    assert split_lines(text) == says
    assert split_lines("a\rb\r\nc", pasted=True) == ["a", "b", "c"]  # a terminal pastes line breaks as \r


def test_numbers_in_the_plain_forms_are_read():
    assert parse("tick 2.5").values["seconds"] == 2.5
    assert parse("tick .5").values["seconds"] == 0.5
    assert parse("tick +3").values["seconds"] == 3.0
    assert parse("set replication 3").values["n"] == 3
    assert parse("put a " + "9" * 15).values["size"] == "9" * 15  # 15 digits: at the limit, read


def test_help_explains_a_two_word_command_and_lists_a_family():
    from cloudquest.game.chapters import load_chapter
    from cloudquest.game.session import Session

    s = Session(load_chapter(LEVELS / "02-hypervisor.yaml"), 0)
    one = s.execute("help vm set")
    assert one.ok and one.output.startswith("usage: vm set NAME [--weight WEIGHT]")
    family = s.execute("help vm").output
    assert family.count("usage: vm ") == 3  # vm create, vm delete, vm set
    bad = s.execute("help vm nope")
    assert not bad.ok and bad.output == "error: no command 'vm nope' (type 'help' for the list)"
