"""Tenant isolation (cloud/tenancy.py, cloud/blockstore.py) and defence in depth
(cloud/defence.py): each red-team attempt judged by its layer with the evidence, the
shared disk's release policies (the DigitalOcean 2013 leak and its cures), a fresh volume
never holding another tenant's bytes (hypothesis), and the attacker's routes with one
layer switched off."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudquest.cloud.blockstore import BlockDisk
from cloudquest.cloud.defence import Defence
from cloudquest.cloud.errors import CloudError
from cloudquest.cloud.tenancy import Tenancy
from cloudquest.game.chapters import load_chapter
from cloudquest.game.session import Session
from tests.conftest import LEVELS

ISOLATION = LEVELS / "10-isolation.yaml"
SECURITY = LEVELS / "11-security.yaml"


@pytest.fixture
def iso() -> Session:
    return Session(load_chapter(ISOLATION), 0)


def events(s: Session, kind: str) -> list[dict]:
    return [dict(e.data) for e in s.cloud.log if e.kind == kind]


def test_the_starting_world_leaks_and_each_crossing_names_its_layer(iso):
    iso.execute("tick 5")
    iso.execute("redteam run")
    got = {e["attempt"]: (e["blocked"], e["layer"]) for e in events(iso, "isolation.attempt")}
    assert got == {
        "read-memory": (True, "hypervisor"),
        "side-channel": (False, "hypervisor"),
        "starve": (False, "hypervisor"),
        "spoof": (True, "network (source/destination check)"),
        "sniff": (True, "network (overlay)"),
        "db-port": (False, "network"),
        "fresh-volume": (False, "storage"),
        "cross-read": (True, "permissions (account boundary)"),
        "assume-admin": (False, "permissions"),
    }
    leak = next(e for e in events(iso, "isolation.attempt") if e["attempt"] == "fresh-volume")
    assert "ACME PAYROLL 2025" in leak["evidence"] and leak["victim"] == "acme"


def test_smt_siblings_are_one_core_and_pinning_per_tenant_removes_the_side_channel(iso):
    """pCPUs 2k and 2k+1 are one core's two threads (the world's numbering): pinning acme-db to
    pCPU 0 and bolt-ci to pCPU 1 still shares core 0; pCPUs 2-3 do not."""
    iso.execute("pin acme-db 0")
    iso.execute("pin bolt-ci 1")
    iso.execute("redteam run side-channel")
    assert events(iso, "isolation.attempt")[-1]["blocked"] is False
    iso.execute("pin bolt-ci 2-3")
    iso.execute("redteam run side-channel")
    assert events(iso, "isolation.attempt")[-1]["blocked"] is True


def test_a_spoofed_source_without_the_check_still_never_reaches_the_other_tenant(iso):
    """With bolt-1's source/destination check off its spoofed packet leaves the host, but bolt's
    internet gateway maps only bolt's own addresses (1:1 NAT), so it goes no further."""
    iso.execute("eni source-dest-check bolt-1 off")
    iso.execute("redteam run spoof")
    e = events(iso, "isolation.attempt")[-1]
    assert e["blocked"] is True and e["layer"] == "network (internet gateway)"


def test_the_same_address_in_two_vpcs_is_two_machines(iso):
    """acme-1 and bolt-1 both hold 10.0.1.4: each VPC's mapping service knows only its own."""
    acme, bolt = iso.execute("eni show acme-1").output, iso.execute("eni show bolt-1").output
    assert "10.0.1.4" in acme and "10.0.1.4" in bolt


def test_trust_policy_naming_every_account_lets_a_stranger_in_and_naming_one_does_not(iso):
    iso.execute("iam simulate bolt-dev sts:AssumeRole arn:aws:iam::111111111111:role/acme-admin")
    assert iso.cloud.metrics()["iam_last_allowed"] == 1
    iso.execute(
        "iam put-policy acme-admin-trust '{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", "
        "\"Action\": \"sts:AssumeRole\", \"Principal\": {\"AWS\": \"111111111111\"}, \"Resource\": \"*\"}]}'"
    )
    iso.execute("iam simulate bolt-dev sts:AssumeRole arn:aws:iam::111111111111:role/acme-admin")
    assert iso.cloud.metrics()["iam_last_allowed"] == 0


def test_bad_isolation_input_is_one_line_and_changes_nothing(iso):
    for line, message in [
        ("redteam run no-such", "no attempt named 'no-such'"),
        ("volume create v1 nobody 2", "no tenant 'nobody'"),
        ("volume create v1 acme 500", "at most 256"),
        ("volume read ghost", "no volume named 'ghost'"),
        ("volume scrub bleach", "must be one of none, zero, crypto"),
    ]:
        before = (iso.cloud.log.sha256(), iso.cloud.metrics())
        out = iso.execute(line)
        assert out.error_kind == "input" and message in out.output and "\n" not in out.output, out.output
        assert (iso.cloud.log.sha256(), iso.cloud.metrics()) == before


# -- the shared disk -----------------------------------------------------------------------------
def test_without_scrubbing_a_fresh_volume_reads_the_last_tenants_data():
    """The DigitalOcean incident of December 2013: without scrubbing a new customer's disk
    held the previous customer's data."""
    disk = BlockDisk("d", 8, 64, "none", random.Random(0))
    disk.create("a1", "acme", 2)
    disk.write("a1", 0, b"acme secret")
    disk.delete("a1")
    disk.create("b1", "bolt", 2)
    count, whose, sample = disk.foreign_bytes("b1")
    assert whose == "acme" and sample.startswith(b"acme secret") and disk.read("b1", 0, 11) == b"acme secret"


def test_crypto_erase_leaves_only_ciphertext_under_a_destroyed_key():
    """NIST SP 800-88 Rev. 1, cryptographic erase: the blocks keep ciphertext, the key is gone."""
    disk = BlockDisk("d", 8, 64, "crypto", random.Random(0))
    disk.create("a1", "acme", 2)
    disk.write("a1", 0, b"acme secret")
    assert b"acme secret" not in disk.raw_image()  # AES-XTS on the platter
    assert disk.read("a1", 0, 11) == b"acme secret"
    vol, _ = disk.delete("a1")
    assert vol.key is None and disk.keys_destroyed == 1
    disk.create("b1", "bolt", 2)
    assert disk.read("b1") == bytes(128) and disk.foreign_bytes("b1")[0] == 0


def test_turning_scrubbing_on_wipes_what_was_left_in_the_pool():
    disk = BlockDisk("d", 8, 64, "none", random.Random(0))
    disk.create("a1", "acme", 2)
    disk.write("a1", 0, b"acme secret")
    disk.delete("a1")
    assert disk.set_scrub("zero") == 64  # the one written block
    disk.create("b1", "bolt", 8)
    assert disk.foreign_bytes("b1")[0] == 0


OPS = st.lists(
    st.tuples(st.sampled_from(["create", "write", "delete"]), st.sampled_from(["acme", "bolt", "cato"]),
              st.integers(0, 5), st.integers(1, 4), st.binary(min_size=1, max_size=150)),
    max_size=40,
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(OPS, st.sampled_from(["zero", "crypto"]), st.sampled_from(["acme", "bolt", "cato"]), st.integers(0, 2**32))
def test_a_fresh_volume_never_returns_another_tenants_bytes(ops, scrub, reader, seed):
    """Whatever tenants create, write and delete, with released blocks zeroed or crypto-erased
    a new volume reads nothing but zeros."""
    disk = BlockDisk("d", 24, 64, scrub, random.Random(seed))
    owner: dict[str, str] = {}
    for op, tenant, n, size, data in ops:
        name = f"v{n}"
        try:
            if op == "create" and name not in owner:
                disk.create(name, tenant, size)
                owner[name] = tenant
            elif op == "write" and name in owner:
                disk.write(name, 0, data[: size * 64])
            elif op == "delete" and name in owner:
                disk.delete(name)
                del owner[name]
        except CloudError:
            pass  # a full disk or a write past the end: refused, nothing changed
    size = len(disk.free)
    if size:
        disk.create("fresh", reader, size)
        assert disk.read("fresh") == bytes(size * 64)
        assert disk.foreign_bytes("fresh")[0] == 0


# -- defence in depth --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def secured() -> Session:
    ch = load_chapter(SECURITY)
    s = Session(ch, 0)
    s.run_script([line for line in ch.solution if not line.startswith(("attack run", "tick"))])
    return s


def test_the_starting_world_is_breached_by_three_footholds():
    s = Session(load_chapter(SECURITY), 0)
    s.execute("attack run")
    got = {e["attack"]: (e["breached"], e["route"]) for e in events(s, "attack.result")}
    assert got["stolen-disk"] == (True, "backups") and got["web-shell"][0] and got["insider"][0]
    assert got["leaked-key"] == (False, "read-payroll")  # stopped, but by encryption alone
    assert s.cloud.metrics()["min_depth"] == 0


def test_switching_one_layer_off_leaves_every_attack_stopped_after_the_fixes(secured):
    d = secured.cloud.get(Defence)
    assert d is not None
    full = d.run()
    assert all(not r.breached and r.depth >= 2 for r in full)
    for layer in ("physical", "network", "vm", "identity", "encryption"):
        assert not any(r.breached for r in d.run(without=layer)), layer


def test_a_layer_switched_off_is_only_pretended_off(secured):
    """--without plays as if the layer were gone; the world itself is unchanged."""
    before = secured.cloud.metrics()
    secured.execute("attack run --without encryption")
    after = secured.cloud.metrics()
    assert after["min_depth"] == before["min_depth"] and after["readable.payroll"] == before["readable.payroll"]


def test_two_layers_that_share_a_route_step_count_once():
    """Depth counts distinct layers: two identity steps on one route are one layer."""
    from cloudquest.cloud.defence import RouteResult, StepResult

    r = RouteResult("r", (StepResult("identity", True, ""), StepResult("identity", True, ""), StepResult("network", False, "")))
    assert r.layers == ("identity",)


def test_a_stolen_disk_holds_plaintext_until_the_object_is_enveloped():
    s = Session(load_chapter(SECURITY), 0)
    d = s.cloud.get(Defence)
    from cloudquest.cloud.kms import KeyService

    kms = s.cloud.get(KeyService)
    assert kms is not None and d is not None
    assert kms.truth("backups") in kms.disk.raw_image()
    s.execute("envelope encrypt backups payroll-key --as app-role")
    assert kms.truth("backups") not in kms.disk.raw_image()
    assert kms.open("backups", "app-role") == kms.truth("backups")
    assert isinstance(s.cloud.get(Tenancy), type(None))
