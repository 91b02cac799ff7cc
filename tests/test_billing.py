"""The billing engine (chapter 15): metering from the event log, rating with the price
sheet, the invoice. Published facts are reproduced and named: S3's storage example and
tiers, EC2's per-second billing with its 60-second minimum, NAT gateway hours, free
inbound transfer. Properties: the invoice is the sum of its rated records; every second
of an instance's life is metered in exactly one state. Bad input is one line and changes
nothing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from worlds import tiny_world

from cloudquest.cloud.billing import Billing
from cloudquest.cloud.events import Event
from cloudquest.cloud.metering import BILLED_STATES, DAY_MS, HOUR_MS, Meter, gb_months, record
from cloudquest.cloud.pricing import Invoice, PriceSheet, rate, tier_cost
from cloudquest.game.chapters import load_chapter
from cloudquest.game.session import Session, free_play_chapter
from cloudquest.game.schema import World

CHAPTER = Path(__file__).resolve().parent.parent / "levels" / "15-billing.yaml"


def events(*rows: tuple[int, str, dict]) -> list[Event]:
    return [Event(t, i, kind, tuple(sorted(data.items()))) for i, (t, kind, data) in enumerate(rows)]


def invoice(meter: Meter, start: int, end: int) -> Invoice:
    return Invoice(rate(meter.records(start, end), PriceSheet.default()))


# -- published facts ------------------------------------------------------------------------------
def test_s3_pricing_page_storage_example_52900_gb_months():
    """Amazon S3 pricing page, storage example: 100 GB (107,374,182,400 bytes) for 15 days
    of March and 100 TB (109,951,162,777,600 bytes) for the last 16 days are
    42,259,901,212,262,400 byte-hours, 52,900 GB-months (744 hours in March)."""
    byte_hours = 107_374_182_400 * 15 * 24 + 109_951_162_777_600 * 16 * 24
    assert byte_hours == 42_259_901_212_262_400
    assert gb_months(byte_hours, 744) == 52_900

    # ... and the meter, fed the bucket's history as events, meters the same GB-months
    meter = Meter(hours_in_month=744)
    meter.feed(
        events(
            (0, "billing.inventory", {"resource": "photos", "what": "bucket", "gb": 100}),
            (15 * DAY_MS, "traffic.transferred", {"flow": "upload", "src": "web", "dst": "bucket:photos", "gb": 102_300,
                                                  "path": "endpoint", "via": "vpce", "puts": 1, "seconds": 0}),
        )
    )  # fmt: skip
    storage = [r for r in meter.records(0, 31 * DAY_MS) if r.usage_type == "TimedStorage-ByteHrs"]
    assert math.isclose(sum(r.quantity for r in storage), 52_900)
    # S3 Standard in us-east-1: the first 50 TB (51,200 GB) at $0.023, the next 450 TB at $0.022
    cost = math.fsum(r.cost for r in rate(storage, PriceSheet.default()))
    assert cost == pytest.approx(51_200 * 0.023 + 1_700 * 0.022) == pytest.approx(1_215.00)


def test_ec2_per_second_billing_with_a_60_second_minimum():
    """Amazon EC2 On-Demand pricing, per-second billing: Linux instances are billed per
    second, with a minimum of 60 seconds each time they start."""
    meter = Meter()
    meter.feed(
        events(
            (0, "launch.requested", {"instance": "web", "type": "small", "zone": "z"}),
            (10_000, "instance.running", {"instance": "web"}),
            (40_000, "instance.stopped", {"instance": "web"}),  # ran 30 s: billed 60
            (50_000, "api.call", {"action": "StartInstances", "instance": "web"}),
            (60_000, "instance.running", {"instance": "web"}),
            (121_500, "instance.terminated", {"instance": "web"}),  # ran 61.5 s: billed 62
        )
    )
    hours = [r.quantity for r in meter.records(0, DAY_MS) if r.usage_type == "BoxUsage:small"]
    assert sorted(round(h * 3600, 6) for h in hours) == [60, 62]
    inv = invoice(meter, 0, DAY_MS)
    assert inv.total == pytest.approx(122 / 3600 * 0.0208)  # t3.small, $0.0208 an hour


def test_a_real_launch_is_billed_from_running_to_stop_not_while_pending():
    session = Session(free_play_chapter(World.model_validate(tiny_world()), "t"), 3, sandbox=True)
    session.execute("launch --name web --type medium")
    session.execute("tick 100")
    session.execute("stop web")
    session.execute("tick 50")
    meter = Meter()
    meter.feed(session.cloud.log)
    (life,) = meter.lifecycles()
    running = [(s, e) for state, s, e in life.states_until(session.cloud.now_ms) if state == "running"]
    assert len(running) == 1 and running[0][1] == 100_000  # stopped at t=100 s
    (rec,) = [r for r in meter.records(0, session.cloud.now_ms) if r.service == "EC2"]
    assert rec.quantity * 3600 == pytest.approx(max(60, math.ceil((running[0][1] - running[0][0]) / 1000)))


def test_tiered_transfer_out_first_100_gb_free_then_9_cents_and_inbound_free():
    """AWS data transfer pricing, us-east-1: 100 GB out to the internet free each month,
    then $0.09 per GB for the next 10 TB; data in is free."""
    meter = Meter()
    meter.feed(
        events(
            (HOUR_MS, "traffic.transferred", {"flow": "f", "src": "web", "dst": "internet", "gb": 150, "path": "internet", "seconds": 3600}),
            (HOUR_MS, "traffic.transferred", {"flow": "u", "src": "internet", "dst": "web", "gb": 500, "path": "inbound", "seconds": 3600}),
        )
    )
    inv = invoice(meter, 0, DAY_MS)
    assert inv.by_usage_type() == pytest.approx({"DataTransfer-Out-Bytes": 4.50, "DataTransfer-In-Bytes": 0.0})
    assert tier_cost(PriceSheet.default().tiers["DataTransfer-Out-Bytes"], 0, 100 + 10 * 1024 + 1) == pytest.approx(10 * 1024 * 0.09 + 0.085)


def test_nat_gateway_partial_hours_count_whole_and_bytes_are_charged_even_to_s3():
    """Amazon VPC pricing: a NAT gateway is $0.045 per hour, each partial hour billed as
    a full hour, plus $0.045 per GB processed; an S3 gateway endpoint costs nothing."""
    meter = Meter()
    meter.feed(
        events(
            (HOUR_MS // 2, "network.changed", {"action": "CreateNatGateway", "resource": "nat", "detail": "subnet a, 203.0.113.9"}),
            (2 * HOUR_MS, "traffic.transferred", {"flow": "r", "src": "app", "dst": "bucket:b", "gb": 10, "path": "nat", "via": "nat", "seconds": 3600}),
            (2 * HOUR_MS, "traffic.transferred", {"flow": "r", "src": "app", "dst": "bucket:b", "gb": 10, "path": "endpoint", "via": "vpce", "seconds": 3600}),
            (2 * HOUR_MS + 600_000, "network.changed", {"action": "DeleteNatGateway", "resource": "nat", "detail": ""}),
        )
    )
    by_type = invoice(meter, 0, DAY_MS).by_usage_type()
    assert by_type["NatGateway-Hours"] == pytest.approx(3 * 0.045)  # 0:30-2:10 touches hours 0, 1 and 2
    assert by_type["NatGateway-Bytes"] == pytest.approx(10 * 0.045)
    assert by_type["GatewayEndpoint-Bytes"] == 0
    assert "DataTransfer-Out-Bytes" not in by_type  # S3 in the same region is no data out


def test_public_ipv4_an_idle_elastic_ip_costs_half_a_cent_an_hour():
    """AWS public IPv4 charge since 1 February 2024: $0.005 per address per hour, in use or idle."""
    meter = Meter()
    meter.feed(events((0, "network.changed", {"action": "AllocateAddress", "resource": "spare", "detail": "203.0.113.7"})))
    (rec,) = meter.records(0, 10 * HOUR_MS)
    assert rec.usage_type == "PublicIPv4:IdleAddress" and rec.quantity == 10
    assert invoice(meter, 0, 10 * HOUR_MS).total == pytest.approx(0.05)


# -- properties -----------------------------------------------------------------------------------
USAGE = st.sampled_from(["BoxUsage:small", "DataTransfer-Out-Bytes", "TimedStorage-ByteHrs", "NatGateway-Bytes", "Requests-Tier2"])
RECORDS = st.lists(
    st.tuples(USAGE, st.sampled_from(["a", "b", "c"]), st.integers(0, 29), st.floats(0, 5000, allow_nan=False), st.sampled_from(["x", "y", ""])),
    max_size=40,
)


@settings(max_examples=120, deadline=None)
@given(rows=RECORDS, order=st.randoms(use_true_random=False))
def test_the_invoice_total_is_the_sum_of_its_rated_records_whatever_their_order(rows, order):
    records = [
        record(u, res, d * DAY_MS, (d + 1) * DAY_MS, q, (("team", team),) if team else ()) for u, res, d, q, team in rows
    ]
    sheet = PriceSheet.default()
    rated = rate(records, sheet)
    inv = Invoice(rated)
    assert inv.total == math.fsum(r.cost for r in rated)
    for grouping in (inv.by_service(), inv.by_tag("team"), inv.by_day(), inv.by_resource(), inv.by_usage_type()):
        assert math.isclose(math.fsum(grouping.values()), inv.total, rel_tol=1e-12, abs_tol=1e-9)
    shuffled = list(records)
    order.shuffle(shuffled)
    assert Invoice(rate(shuffled, sheet)).total == pytest.approx(inv.total, rel=1e-12, abs=1e-9)
    assert all(r.cost >= 0 for r in rated)


ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("launch"), st.sampled_from(["p", "q", "r"]), st.sampled_from(["small", "large"])),
        st.tuples(st.sampled_from(["stop", "start", "terminate"]), st.sampled_from(["p", "q", "r"])),
        st.tuples(st.sampled_from(["fail", "repair"]), st.sampled_from(["a1-h1", "b1-h1"])),
        st.tuples(st.just("tick"), st.integers(1, 90)),
    ),
    max_size=14,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=ACTIONS)
def test_every_metered_second_belongs_to_exactly_one_instance_state(actions):
    session = Session(free_play_chapter(World.model_validate(tiny_world()), "t"), 1, sandbox=True)
    for action in actions:
        if action[0] == "launch":
            session.execute(f"launch --name {action[1]} --type {action[2]}")
        elif action[0] == "tick":
            session.execute(f"tick {action[1]}")
        elif action[0] in ("fail", "repair"):
            session.execute(f"{action[0]} host {action[1]}")
        else:
            session.execute(f"{action[0]} {action[1]}")
    now = session.cloud.now_ms
    meter = Meter()
    meter.feed(session.cloud.log)
    for life in meter.lifecycles():
        spans = life.states_until(now)
        if now == life.born_ms:
            assert spans == []
            continue
        assert spans[0][1] == life.born_ms and spans[-1][2] == now  # from RunInstances to now
        for (_, _, end), (_, start, _) in zip(spans, spans[1:]):
            assert end == start  # no gap, no overlap
        assert all(state in ("pending", "running", "impaired", "stopped", "terminated", "failed") for state, _, _ in spans)
        billed = sum(e - s for state, s, e in spans if state in BILLED_STATES)
        runs = sum(e - s for _, s, e in life.runs_until(now))
        assert billed == runs
        inst = session.cloud.control.instances.get(life.name)
        if life is meter.instances.get(life.name) and inst is not None:
            assert life.state == inst.state  # the meter's reading of the log agrees with the cloud


# -- the chapter's world -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def week():
    """The billing chapter (Kestrel Books' June)."""
    return load_chapter(CHAPTER)


FIXES = {
    "idle addresses": ["eip release old-bastion", "eip release old-vpn"],
    "unattached volume": ["ebs delete vol-export"],
    "NAT gateway bytes to S3": ["endpoint create s3-gw private-rt"],
    "oversized instance": ["stop reports", "resize reports small", "start reports"],
    "logs kept for ever": ["bucket lifecycle kestrel-logs 30"],
}


def play(chapter, lines) -> Session:
    session = Session(chapter, 0)
    for line in lines:
        outcome = session.execute(line)
        assert outcome.ok, (line, outcome.output)
    return session


@pytest.mark.parametrize("leak", FIXES)
def test_each_of_the_five_leaks_alone_keeps_julys_forecast_over_the_bound(week, leak):
    lines = ["tick 604800"] + [line for name, fix in FIXES.items() if name != leak for line in fix]
    m = play(week, lines).cloud.metrics()
    assert m["billing_next_month_usd"] >= 305 and m["billing_needs_unmet"] == 0


def test_the_forecast_does_not_care_when_the_fixes_were_made(week):
    early = play(week, ["tick 604800"] + [line for fix in FIXES.values() for line in fix])
    late = play(week, ["tick 604800"] * 4 + ["tick 172800"] + [line for fix in FIXES.values() for line in fix])
    e, l = early.cloud.metrics()["billing_next_month_usd"], late.cloud.metrics()["billing_next_month_usd"]
    assert e < 305 and l < 305
    # late, the logs' lifecycle rule runs at July's first midnight: one more day of 6 TB
    assert l - e == pytest.approx(6_000 * 24 / 744 * 0.023, abs=0.05)
    assert late.cloud.metrics()["billing_month_to_date_usd"] > early.cloud.metrics()["billing_month_to_date_usd"] + 200


def test_the_meter_reads_only_the_log(week):
    """No second bookkeeping: a fresh meter fed the log gives the invoice the game shows."""
    session = play(week, ["tick 86400", "eip release old-vpn", "ebs delete vol-export", "tick 86400"])
    billing = session.cloud.get(Billing)
    fresh = Meter(hours_in_month=720)
    fresh.feed(session.cloud.log)
    again = Invoice(rate(fresh.records(0, session.cloud.now_ms), billing.sheet))
    assert again.total == billing.invoice().total
    assert again.by_tag("team") == billing.invoice().by_tag("team")


def test_a_switched_off_need_is_named(week):
    session = play(week, ["stop web-2", "bucket lifecycle kestrel-logs 7"])
    unmet = session.cloud.get(Billing).needs_unmet()
    assert any("storefront-b" in u for u in unmet) and any("orders" in u for u in unmet)
    assert any("kestrel-logs expires objects after 7 days" in u for u in unmet)
    resized = play(week, ["stop reports", "resize reports micro", "start reports"])
    assert resized.cloud.get(Billing).needs_unmet() == ["reports as a micro: its memory peak 1.4 GiB does not fit 1 GiB"]


# -- bad input: one line, nothing changed ---------------------------------------------------------------
@pytest.mark.parametrize(
    "line,message",
    [
        ("price set NatGateway-Hours -1", "a price cannot be negative"),
        ("price set Shiny-Hours 1", "no usage type 'Shiny-Hours'"),
        ("price set TimedStorage-ByteHrs 0.01", "priced in tiers"),
        ("cost by tag colour", "no resource has a tag 'colour' (tag keys: env, team)"),
        ("cost by service team", "only cost by tag takes a key"),
        ("tag nothing team x", "no resource 'nothing' to tag"),
        ("ebs delete vol-db", "VolumeInUse"),
        ("resize reports small", "reports is running: stop it first"),
        ("endpoint create e1 no-such-rt", "no route table 'no-such-rt'"),
        ("bucket lifecycle kestrel-logs 0", "days must be a whole number from 1 to 3650, or off"),
        ("usage nowhere", "no resource or service 'nowhere'"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(week, line, message):
    session = Session(week, 0, sandbox=True)
    session.sample()
    before = (len(session.cloud.log), session.cloud.metrics())
    outcome = session.execute(line + " ")
    assert not outcome.ok and message in outcome.output and "\n" not in outcome.output
    assert (len(session.cloud.log), session.cloud.metrics()) == before


def test_a_negative_price_in_a_world_file_is_refused_with_its_line(tmp_path):
    import yaml

    from cloudquest.game.chapters import load_chapter as load

    data = yaml.safe_load(CHAPTER.read_text())
    data["world"]["billing"]["prices"] = {"prices": {"NatGateway-Hours": -0.045}}
    path = tmp_path / "15-bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(Exception) as info:
        load(path)
    assert "NatGateway-Hours must be from 0 to 1000000" in str(info.value)
    assert f"{path}:" in str(info.value)
