"""The key service's commands and record (cloud/kms.py): keys, their life cycle, and the
envelope store that keeps data beside its encrypted data key.

``kms ...`` follows the AWS CLI's names (``create-key``, ``generate-data-key``,
``schedule-key-deletion`` shortened to ``schedule-deletion``); ``envelope seal|open|show``
is the client side: what an SDK's encryption client does with ``GenerateDataKey`` and
``Decrypt``. Key administration is done as the world's key administrator unless ``--as``
names another principal; IAM and the key policy decide either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...cloud import kms as sim
from ...cloud.errors import CloudError
from ...cloud.kms import MAX_WINDOW_DAYS, MIN_WINDOW_DAYS, KeyService
from ..mechanism import Mechanism, keys_of
from ..parser import CommandError
from ..registry import CommandSet, Param

if TYPE_CHECKING:
    from ..session import Session

command = CommandSet()


def _kms(session: "Session") -> KeyService:
    kms = session.cloud.get(KeyService)
    if kms is None:
        raise CommandError("this world has no key service (its world has no kms section)")
    return kms


def _admin(session: "Session", who: str | None) -> str:
    kms = _kms(session)
    name = who or session.chapter.world.kms.admin  # type: ignore[union-attr]
    if name is None:
        raise CommandError("say who makes the call: --as PRINCIPAL (this world names no key administrator)")
    if kms.iam is not None and name not in kms.iam.principals:
        raise CommandError(f"no user or role named {name!r} (principals: {', '.join(sorted(kms.iam.principals))})")
    return name


def _key_known(kms: KeyService, key: str) -> None:
    if key not in kms.keys:
        raise CommandError(f"no key named {key!r} (keys: {', '.join(kms.keys) or 'none'})")


KEY = Param("key", "a KMS key", complete="kms-key")
AS = Param("as", "the principal making the call (default: the key administrator)", complete="principal")


def key_line(kms: KeyService, name: str, now_ms: int) -> str:
    k = kms.keys[name]
    when = ""
    if k.state == "PendingDeletion" and k.deletion_at_ms is not None:
        left = (k.deletion_at_ms - now_ms) / sim.DAY_MS
        when = f", deleted in {left:.1f} days"
    users = sum(1 for o in kms.objects.values() if o.key == name)
    return f"{name:<14} {k.state:<15} versions {k.versions}{when}; key policy {k.policy}; {users} objects; {k.arn}"


@command("kms show", "show the keys: state, versions (rotations), key policy, objects under each", args=[Param("key", "a key", required=False, complete="kms-key")])
def kms_show(session: "Session", key: str | None) -> str:
    kms = _kms(session)
    if key is not None:
        _key_known(kms, key)
        return key_line(kms, key, session.cloud.now_ms)
    lines = [key_line(kms, k, session.cloud.now_ms) for k in kms.keys] or ["no keys"]
    lines.append("(the key material never leaves the service: no command shows it)")
    return "\n".join(lines)


@command(
    "kms create-key",
    "create a KMS key in an account, with its key policy",
    args=[Param("name", "the key's name"), Param("policy", "its key policy (a resource-based policy)", complete="policy")],
    options=[Param("account", "the owning account (default: the key administrator's)"), AS],
)
def kms_create_key(session: "Session", name: str, policy: str, account: str | None, **kw: str | None) -> str:
    kms = _kms(session)
    who = _admin(session, kw["as"])
    assert kms.iam is not None
    acct = account or kms.iam.principals[who].account
    try:
        kms.iam.policy(policy)
    except CloudError as exc:
        raise CommandError(exc.message) from None
    if name in kms.keys:
        raise CommandError(f"a key named {name!r} exists")
    kms.authorize_arn(who, "kms:CreateKey", f"arn:aws:kms:{kms.region}:{acct}:key/{name}")
    k = kms.create_key(name, acct, policy)
    return f"key {name} created: {k.arn}, 1 version, key policy {policy}"


@command(
    "kms generate-data-key",
    "ask for a data key: its plaintext (use it once, then forget it) and the same key encrypted under the KMS key",
    args=[KEY],
    options=[AS, Param("context", "encryption context bound to it (default: none)")],
)
def kms_generate_data_key(session: "Session", key: str, context: str | None, **kw: str | None) -> str:
    kms = _kms(session)
    _key_known(kms, key)
    who = _admin(session, kw["as"])
    plain, blob = kms.generate_data_key(key, who, context or "")
    return (
        f"Plaintext      {plain.hex()}  (32 bytes: encrypt with it, then forget it)\n"
        f"CiphertextBlob {blob.hex()}  ({len(blob)} bytes: store it beside the data)\n"
        f"KeyId          {kms.keys[key].arn} version {kms.keys[key].versions - 1}"
    )


def _life(verb: str, summary: str, details: str = ""):
    @command(f"kms {verb}", summary, args=[KEY], options=[AS], details=details)
    def handler(session: "Session", key: str, **kw: str | None) -> str:
        kms = _kms(session)
        _key_known(kms, key)
        who = _admin(session, kw["as"])
        call = {"rotate": kms.rotate, "disable": kms.disable, "enable": kms.enable, "cancel-deletion": kms.cancel_deletion}[verb]
        k = call(key, who)
        return f"key {key}: {k.state}, {k.versions} version{'s' if k.versions != 1 else ''}"

    return handler


_life("rotate", "rotate a key: new material for new data keys, the old kept so old data stays readable")
_life("disable", "disable a key: every Decrypt and GenerateDataKey with it fails until it is enabled")
_life("enable", "enable a disabled key")
_life("cancel-deletion", "save a key pending deletion (it comes back disabled)")


@command(
    "kms schedule-deletion",
    f"schedule a key's deletion after a waiting period of {MIN_WINDOW_DAYS}-{MAX_WINDOW_DAYS} days; then its data is unreadable for good",
    args=[KEY],
    options=[Param("days", "the waiting period", type=int, min=MIN_WINDOW_DAYS, max=MAX_WINDOW_DAYS, default=30), AS],
    details="""During the waiting period the key is PendingDeletion: every use fails, and kms
cancel-deletion can still save it. When the period ends its material is destroyed, and
with it every data key wrapped under it: crypto-shredding. tick past it (7 days is tick
604800).""",
)
def kms_schedule_deletion(session: "Session", key: str, days: int, **kw: str | None) -> str:
    kms = _kms(session)
    _key_known(kms, key)
    who = _admin(session, kw["as"])
    k = kms.schedule_deletion(key, who, days)
    at = (k.deletion_at_ms or 0) / 1000
    return f"key {key}: PendingDeletion; its material is destroyed at t={at:g}s ({days} days from now) unless cancelled"


@command("kms put-key-policy", "replace a key's key policy", args=[KEY, Param("policy", "a resource-based policy", complete="policy")], options=[AS])
def kms_put_key_policy(session: "Session", key: str, policy: str, **kw: str | None) -> str:
    kms = _kms(session)
    _key_known(kms, key)
    who = _admin(session, kw["as"])
    try:
        assert kms.iam is not None
        kms.iam.policy(policy)
    except CloudError as exc:
        raise CommandError(exc.message) from None
    kms.put_key_policy(key, policy, who)
    return f"key {key}: key policy now {policy}"


# -- the envelope store -------------------------------------------------------------------------
OBJECT = Param("object", "a stored object", complete="sealed")


@command(
    "envelope seal",
    "store data in an envelope: a fresh data key encrypts it (AES-256-GCM), the key is stored encrypted beside it",
    args=[Param("name", "the object's name"), Param("text", "the data, in quotes")],
    options=[Param("key", "the KMS key to wrap the data key under", complete="kms-key"), AS],
)
def envelope_seal(session: "Session", name: str, text: str, key: str | None, **kw: str | None) -> str:
    kms = _kms(session)
    who = _admin(session, kw["as"])
    if key is None:
        raise CommandError("envelope seal needs --key KEY (the KMS key that wraps the data key)")
    _key_known(kms, key)
    if name in kms.objects:
        raise CommandError(f"an object named {name!r} exists")
    env = kms.seal(name, text.encode(), key, who)
    return (
        f"{name}: GenerateDataKey({key}) as {who}; {len(text)} bytes encrypted with the data key; stored "
        f"{len(env.record())} bytes: the encrypted data key ({len(env.blob)} bytes), the nonce and the ciphertext. "
        "The plaintext data key is forgotten."
    )


@command(
    "envelope encrypt",
    "put a plaintext object into an envelope under a KMS key, in place (the old blocks are zeroed)",
    args=[OBJECT, Param("key", "the KMS key", complete="kms-key")],
    options=[AS],
)
def envelope_encrypt(session: "Session", object: str, key: str, **kw: str | None) -> str:
    kms = _kms(session)
    who = _admin(session, kw["as"])
    if object not in kms.objects:
        raise CommandError(f"no object named {object!r} (objects: {', '.join(kms.objects) or 'none'})")
    _key_known(kms, key)
    if kms.objects[object].key is not None:
        raise CommandError(f"{object} is already in an envelope under {kms.objects[object].key}")
    env = kms.encrypt_existing(object, key, who)
    return f"{object}: now {len(env.record())} bytes of envelope under {key}; its plaintext blocks were freed and zeroed"


@command(
    "envelope open",
    "read an object: Decrypt its data key (key policy and IAM must allow), then decrypt the data",
    args=[OBJECT],
    options=[AS, Param("key", "insist on this KMS key (a blob made under another is refused)", complete="kms-key")],
)
def envelope_open(session: "Session", object: str, key: str | None, **kw: str | None) -> str:
    kms = _kms(session)
    who = _admin(session, kw["as"])
    if object not in kms.objects:
        raise CommandError(f"no object named {object!r} (objects: {', '.join(kms.objects) or 'none'})")
    if key is not None:
        _key_known(kms, key)
        env = kms.objects[object]
        if env.key is not None and env.key != key:
            raise CommandError(f"IncorrectKeyException: {object}'s data key was encrypted under {env.key}, not {key}")
    data = kms.open(object, who, key_id=key)
    return f"{object} (as {who}): {data.decode(errors='replace')}"


def envelope_lines(kms: KeyService, name: str) -> list[str]:
    env = kms.objects[name]
    rec = env.record()
    vol = kms.disk.volumes[name]
    if env.key is None:
        return [f"{name}: PLAINTEXT on disk blocks {','.join(map(str, vol.blocks))} ({len(rec)} bytes): {rec[:48].decode(errors='replace')!r}"]
    return [
        f"{name}: envelope under {env.key}, on disk blocks {','.join(map(str, vol.blocks))} ({len(rec)} bytes)",
        f"  encrypted data key {env.blob.hex()[:48]}... ({len(env.blob)} bytes)",
        f"  nonce {env.nonce.hex()}   ciphertext {env.ciphertext.hex()[:40]}... ({len(env.ciphertext)} bytes, tag included)",
        f"  readable now: {'yes' if kms.readable(env) else 'no (its key is ' + kms.keys[env.key].state + ')'}",
    ]


@command("envelope show", "show what is stored on the disk for each object: encrypted data key, nonce, ciphertext", args=[Param("object", "an object", required=False, complete="sealed")])
def envelope_show(session: "Session", object: str | None) -> str:
    kms = _kms(session)
    if object is not None and object not in kms.objects:
        raise CommandError(f"no object named {object!r} (objects: {', '.join(kms.objects) or 'none'})")
    names = [object] if object else list(kms.objects)
    lines = [line for n in names for line in envelope_lines(kms, n)]
    return "\n".join(lines) or "no objects stored"


def _status(session: "Session", thing: str | None) -> str | None:
    kms = session.cloud.get(KeyService)
    if kms is None:
        return None
    if thing is None:
        m = kms.metrics()
        return f"kms: {m['kms_keys']} keys ({m['kms_keys_enabled']} enabled), {m['sealed_objects']} objects stored, {m['plaintext_objects']} in plaintext (kms show)"
    if thing in kms.keys:
        return key_line(kms, thing, session.cloud.now_ms)
    if thing in kms.objects:
        return "\n".join(envelope_lines(kms, thing))
    return None


MECHANISM = Mechanism(
    name="kms",
    summary="a key service with envelope encryption: data keys, key policies, rotation, crypto-shredding (chapter 11)",
    section=sim.KmsSpec,
    attach=sim.attach,
    needs=("iam",),
    check=sim.check_world,
    commands=command,
    ids={
        "kms-key": keys_of(KeyService, "keys"),
        "sealed": keys_of(KeyService, "objects"),
    },
    status=_status,
    metrics=sim.METRICS,
    events=sim.EVENTS,
)
