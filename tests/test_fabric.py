"""The routing fabric (chapter 12): leaf-spine paths, ECMP keeping a flow on one path,
oversubscription, failures noticed at once or after the hold timer, convergence, the
backbone against the internet, bad input, determinism."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudquest.cloud.fabric import BFD_DETECT_S, Fabric, great_circle_km, SiteSpec
from cloudquest.cloud.faults import set_health
from cloudquest.cloud.hardware import Health
from cloudquest.game.schema import World
from cloudquest.game.session import Session, free_play_chapter


def _rack(name: str, hosts: int = 8) -> dict:
    return {"name": name, "hosts": [{"count": hosts, "vcpus": 8, "ram_gib": 32, "nic_gbps": 50}]}


def _world(**fabric) -> dict:
    fabric.setdefault("sites", [
        {"region": "eu-central-1", "city": "Frankfurt", "lat": 50.11, "lon": 8.68},
        {"region": "ap-southeast-2", "city": "Sydney", "lat": -33.87, "lon": 151.21},
    ])
    return {
        "view": "fabric",
        "regions": [
            {"name": "eu-central-1", "zones": [
                {"name": "za", "racks": [_rack("a1"), _rack("a2"), _rack("a3")]},
                {"name": "zb", "racks": [_rack("b1"), _rack("b2")]},
            ]},
            {"name": "ap-southeast-2", "zones": [{"name": "zs", "racks": [_rack("s1", 4)]}]},
        ],
        "fabric": fabric,
    }


def _session(world: dict, seed: int = 0) -> Session:
    return Session(free_play_chapter(World.model_validate(world)), seed, sandbox=True)


def _fabric(s: Session) -> Fabric:
    f = s.cloud.get(Fabric)
    assert f is not None
    return f


def test_two_racks_of_a_zone_are_two_hops_apart_through_every_spine():
    """Leaf-spine (a two-tier Clos): ToR, any spine, ToR."""
    s = _session(_world(spines_per_zone=4))
    f = _fabric(s)
    assert f.next_hops("tor-a1", "tor-a2") == [f"spine-za-{k}" for k in range(1, 5)]
    t = f.trace("a1-h1", "a2-h1")
    assert [h.node for h in t.hops][0] == "tor-a1" and t.hops[1].node.startswith("spine-za-") and t.paths == 4
    assert [h.node for h in t.hops][2:] == ["tor-a2", "a2-h1"]


def test_ecmp_keeps_every_packet_of_a_flow_on_one_path_and_spreads_flows():
    """RFC 2992: a hash of the flow's header fields picks the next hop, so a flow's
    packets all follow one path (no reordering), and many flows use every path."""
    s = _session(_world(spines_per_zone=4))
    f = _fabric(s)
    seen_spines = set()
    for port in range(2000, 2400):
        header = (f.addr["a1-h1"], port, f.addr["a2-h2"], 443, 6)
        key = f.hash_key(header)
        first, _ = f.route("a1-h1", "a2-h2", key)
        for _packet in range(20):  # every packet of the flow hashes the same
            again, _ = f.route("a1-h1", "a2-h2", f.hash_key(header))
            assert again == first
        seen_spines.add(first[2])
    assert seen_spines == {f"spine-za-{k}" for k in range(1, 5)}


def test_hashing_only_the_addresses_puts_every_flow_between_two_hosts_on_one_path():
    s = _session(_world(hash_fields="2-tuple"))
    f = _fabric(s)
    paths = {tuple(f.route("a1-h1", "a2-h2", f.hash_key((f.addr["a1-h1"], p, f.addr["a2-h2"], 443, 6)))[0]) for p in range(1000, 1200)}
    assert len(paths) == 1


def test_oversubscription_is_capacity_below_over_capacity_above():
    s = _session(_world(spines_per_zone=4, tor_uplink_gbps=100))
    # 8 hosts at 50 Gbps = 400 down, 4 x 100 = 400 up
    assert _fabric(s).oversubscription()["tor"] == 1.0
    s = _session(_world(spines_per_zone=2, tor_uplink_gbps=100))
    assert _fabric(s).oversubscription()["tor"] == 2.0


def test_without_ecmp_one_spine_carries_a_racks_traffic():
    world = _world(ecmp=False, flows=[{"src": "a1", "dst": "a2", "flows": 400, "gbps": 120}])
    s = _session(world)
    util = {(a, b): pct for pct, a, b, _, _ in _fabric(s).utilisation()}
    assert util[("tor-a1", "spine-za-1")] == pytest.approx(120.0) and util[("spine-za-1", "tor-a2")] == pytest.approx(120.0)
    assert not any(a == "tor-a1" and b != "spine-za-1" for a, b in util)
    assert s.cloud.metrics()["fabric_gbps_lost"] == pytest.approx(20.0)
    s.execute("fabric ecmp on")
    m = s.cloud.metrics()
    assert m["fabric_max_link_pct"] < 50 and m["fabric_gbps_lost"] == 0


@pytest.mark.parametrize("detection,hidden_s", [("hold-timer", 90), ("bfd", BFD_DETECT_S)])
def test_a_hung_switch_black_holes_its_flows_until_noticed_and_converged(detection, hidden_s):
    """RFC 4271's suggested 90 s hold time against BFD's 3 x 300 ms (RFC 5880)."""
    s = _session(_world(detection=detection, converge_s=1, flows=[{"src": "za", "dst": "za", "flows": 800, "gbps": 100}]))
    f = _fabric(s)
    s.execute("fabric switch fail spine-za-2")
    assert f.blackholed > 0
    s.execute(f"tick {hidden_s + 0.5}")
    assert f.blackholed > 0 and f.pending_installs == 1  # noticed, tables not yet rewritten
    s.execute("tick 1")
    assert f.blackholed == 0 and s.cloud.metrics()["fabric_gbps_lost"] == 0
    converged = [e for e in s.cloud.log if e.kind == "fabric.converged"][-1]
    assert converged.get("took_s") == pytest.approx(hidden_s + 1, abs=0.01)


def test_a_cut_cable_is_noticed_at_once():
    s = _session(_world(flows=[{"src": "a1", "dst": "a2", "flows": 400, "gbps": 40}]))
    s.execute("fabric link fail tor-a1~spine-za-1")
    detected = [e for e in s.cloud.log if e.kind == "fabric.failure_detected"]
    assert detected and detected[0].get("after_s") == 0
    s.execute("tick 2")
    assert _fabric(s).blackholed == 0


def test_the_worlds_own_faults_reach_the_fabric():
    """A rack's uplink (the world's link a1-uplink) bundles its ToR's spine links; a zone
    link bundles the zone routers' links across the two zones."""
    s = _session(_world(flows=[{"src": "za", "dst": "zb", "flows": 200, "gbps": 20}]))
    f = _fabric(s)
    s.execute("fail link a1-uplink")
    assert all(not f.link_lit(f"tor-a1~spine-za-{k}") for k in range(1, 5))
    s.execute("fail link za~zb")
    s.execute("tick 5")
    t = f.trace("a2-h1", "b1-h1")
    assert any(h.node.startswith("rr-") for h in t.hops)  # around, through the region routers


def test_a_backbone_hop_costs_the_distance_at_the_speed_of_light_in_fibre():
    fra = SiteSpec(region="x", city="Frankfurt", lat=50.11, lon=8.68)
    syd = SiteSpec(region="y", city="Sydney", lat=-33.87, lon=151.21)
    km = great_circle_km(fra, syd)
    assert km == pytest.approx(16_480, rel=0.01)
    s = _session(_world(backbone_stretch=1.5))
    t = _fabric(s).trace("a1-h1", "s1-h1")
    assert t.rtt_ms == pytest.approx(2 * km * 1.5 / 200, rel=0.01)


def test_the_internet_path_is_longer_than_the_backbone_for_the_same_two_regions():
    s = _session(_world())
    back = s.execute("traceroute a1-h1 s1-h1")
    inet = s.execute("traceroute a1-h1 s1-h1 --via internet")
    assert back.ok and inet.ok and "private backbone" in back.output and "public internet" in inet.output
    traced = [e for e in s.cloud.log if e.kind == "fabric.traced"]
    assert traced[1].get("rtt_ms") > traced[0].get("rtt_ms") * 1.2


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_flow_crosses_a_failed_part_after_reconvergence(data):
    s = _session(_world(spines_per_zone=3, detection="bfd", flows=[
        {"src": "za", "dst": "zb", "flows": 300, "gbps": 30},
        {"src": "za", "dst": "za", "flows": 300, "gbps": 30},
        {"src": "zb", "dst": "ap-southeast-2", "flows": 100, "gbps": 10},
    ]))
    f = _fabric(s)
    switches = sorted(k for k, v in f.switches.items() if v.tier != "tor")
    links = sorted(k for k in f.links if not k.startswith(("a", "b", "s")))
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["switch", "link"]))
        ident = data.draw(st.sampled_from(switches if kind == "switch" else links))
        if s.cloud.hardware.find(kind, ident).health is Health.HEALTHY:
            set_health(s.cloud, kind, ident, Health.FAILED)
        s.execute(f"tick {data.draw(st.sampled_from([0.2, 1, 5]))}")
    s.execute("tick 5")  # noticed (BFD) and converged
    assert not f.pending_installs
    for flow in f.flows.values():
        if flow.path is None:
            continue  # no route left: counted as black-holed, sent nowhere
        assert all(f.node_up(n) for n in flow.path)
        assert all(f.link_up(f.link_id(a, b)) for a, b in zip(flow.path, flow.path[1:]))


@pytest.mark.parametrize(
    "line,message",
    [
        ("fabric link fail no~such", "no link named 'no~such'"),
        ("fabric switch fail spine-zz-9", "no switch named 'spine-zz-9'"),
        ("fabric switch repair spine-za-1", "is already healthy"),
        ("traceroute a1-h1 nowhere", "no host, switch or region named 'nowhere'"),
        ("traceroute a1-h1 a2-h1 --via internet", "both ends are in one region"),
        ("traceroute a1-h1 a1-h1", "the same"),
        ("fabric hash 4-tuple", "must be one of"),
        ("flows --top 0", "at least 1"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(line, message):
    s = _session(_world(flows=[{"src": "za", "dst": "zb", "flows": 50, "gbps": 5}]))
    before = (len(s.cloud.log), s.cloud.metrics())
    out = s.execute(line)
    assert not out.ok and out.error_kind == "input"
    assert message in out.output and "\n" not in out.output
    assert (len(s.cloud.log), s.cloud.metrics()) == before


def test_same_seed_same_log():
    lines = ["fabric ecmp on", "tick 10", "fabric switch fail spine-za-1", "tick 100", "traceroute a1-h1 s1-h1 --via internet", "flows"]
    world = _world(flows=[{"src": "za", "dst": "zb", "flows": 300, "gbps": 30}])
    hashes = []
    for seed in (5, 5, 6):
        s = _session(world, seed)
        s.run_script(lines)
        hashes.append(s.cloud.log.sha256())
    assert hashes[0] == hashes[1] != hashes[2]


def test_a_traceroute_through_a_hung_switch_gets_no_answer_until_convergence():
    s = _session(_world(spines_per_zone=2, detection="hold-timer"))
    f = _fabric(s)
    s.execute("fabric switch fail spine-za-1")
    traces = [f.trace(f"a1-h{i}", f"a2-h{i}") for i in range(1, 9)]
    through = [t for t in traces if t.hops[1].node == "spine-za-1"]
    assert through and all(h.lost for t in through for h in t.hops[1:])  # * from the hung spine on
    assert all(not h.lost for t in traces if t not in through for h in t.hops)
    s.execute("tick 92")
    assert all(f.trace(f"a1-h{i}", f"a2-h{i}").hops[1].node == "spine-za-2" for i in range(1, 9))
