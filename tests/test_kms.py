"""The key service and envelope encryption (cloud/kms.py) against the AWS KMS Developer
Guide: GenerateDataKey's two copies of a data key, Decrypt gated by the key policy and
IAM, rotation keeping old data readable, disable, the 7-30 day deletion window and
crypto-shredding; real AES-256-GCM bytes that fail authentication when touched; the key
material never shown; bad input in one line with nothing changed."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloudquest.cloud.errors import CloudError
from cloudquest.cloud.kms import DAY_MS, KeyService
from cloudquest.game.schema import World
from cloudquest.game.session import Session, free_play_chapter

ACCT = "111122223333"
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCT}:key/k1"


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


DEFAULT_KEY_POLICY = doc({"Sid": "EnableIam", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"}, "Action": "kms:*", "Resource": "*"})
APP_ONLY = doc(
    {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:user/admin"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "App", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:role/app"}, "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*"},
)  # fmt: skip


def world(key_policy: str = "default") -> dict:
    return {
        "iam": {
            "accounts": [{"id": ACCT, "name": "main"}],
            "policies": [
                {"name": "default", "document": DEFAULT_KEY_POLICY},
                {"name": "app-only", "document": APP_ONLY},
                {"name": "kms-all", "document": doc({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})},
                {"name": "nothing", "document": doc({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"})},
            ],
            "principals": [
                {"name": "admin", "account": ACCT, "policies": ["kms-all"]},
                {"name": "app", "kind": "role", "account": ACCT, "policies": ["kms-all"]},
                {"name": "clerk", "account": ACCT, "policies": ["kms-all"]},
                {"name": "guest", "account": ACCT, "policies": ["nothing"]},
            ],
        },
        "kms": {
            "admin": "admin",
            "keys": [{"name": "k1", "account": ACCT, "policy": key_policy}, {"name": "k2", "account": ACCT, "policy": "default"}],
            "objects": [{"name": "payroll", "key": "k1", "principal": "app", "text": "j.doe 7,000.00"}],
        },
    }


def session(seed: int = 0, key_policy: str = "default") -> Session:
    return Session(free_play_chapter(World.model_validate(world(key_policy))), seed, sandbox=True)


def kms_of(s: Session) -> KeyService:
    k = s.cloud.get(KeyService)
    assert k is not None
    return k


def test_generate_data_key_returns_a_plaintext_key_and_the_same_key_encrypted():
    """AWS KMS API Reference, GenerateDataKey: a 256-bit data key in plaintext and encrypted
    under the KMS key; Decrypt of the encrypted copy gives the plaintext back."""
    kms = kms_of(session())
    plain, blob = kms.generate_data_key("k1", "app")
    assert len(plain) == 32 and plain not in blob
    assert kms.decrypt(blob, "app") == plain


def test_envelope_round_trip_with_real_aes_gcm():
    """The data is AES-256-GCM under the data key: the cryptography package itself opens it
    with the key Decrypt returns."""
    kms = kms_of(session())
    env = kms.objects["payroll"]
    data_key = kms.decrypt(env.blob, "app", context="payroll")
    assert AESGCM(data_key).decrypt(env.nonce, env.ciphertext, b"payroll") == b"j.doe 7,000.00"
    assert kms.open("payroll", "app") == b"j.doe 7,000.00"
    assert b"j.doe" not in kms.disk.raw_image()  # the disk holds ciphertext only


@pytest.mark.parametrize("part", ["ciphertext", "blob", "nonce"])
def test_tampered_bytes_fail_authentication(part):
    """AES-GCM authenticates: one flipped bit in the ciphertext, the wrapped key or the nonce
    and decryption fails (InvalidCiphertextException), never garbage."""
    kms = kms_of(session())
    env = kms.objects["payroll"]
    raw = bytearray(getattr(env, part))
    raw[-1] ^= 0x01
    setattr(env, part, bytes(raw))
    with pytest.raises(CloudError) as exc:
        kms.open("payroll", "app")
    assert exc.value.code == "InvalidCiphertextException"


def test_a_different_encryption_context_fails_authentication():
    """KMS Developer Guide, "Encryption context": the context is bound to the ciphertext as
    additional authenticated data; Decrypt with another context fails."""
    kms = kms_of(session())
    _, blob = kms.generate_data_key("k1", "app", context="invoice-7")
    with pytest.raises(CloudError) as exc:
        kms.decrypt(blob, "app", context="invoice-8")
    assert exc.value.code == "InvalidCiphertextException"


def test_rotation_keeps_old_data_readable_and_wraps_new_keys_under_the_new_material():
    """KMS Developer Guide, "Rotate keys": rotation adds key material and keeps the old, so
    ciphertext made before rotation still decrypts."""
    kms = kms_of(session())
    _, old_blob = kms.generate_data_key("k1", "app")
    kms.rotate("k1", "admin")
    _, new_blob = kms.generate_data_key("k1", "app")
    assert kms.keys["k1"].versions == 2
    assert kms.open("payroll", "app") == b"j.doe 7,000.00"
    kms.decrypt(old_blob, "app")
    assert old_blob[7:9] == b"\x00\x00" and new_blob[7:9] == b"\x00\x01"  # each blob names its version


def test_disable_stops_every_use_until_enabled():
    """KMS Developer Guide, "Enable and disable keys": a disabled key cannot be used in any
    cryptographic operation."""
    kms = kms_of(session())
    kms.disable("k1", "admin")
    with pytest.raises(CloudError) as exc:
        kms.open("payroll", "app")
    assert exc.value.code == "DisabledException"
    kms.enable("k1", "admin")
    assert kms.open("payroll", "app") == b"j.doe 7,000.00"


def test_schedule_deletion_waits_7_to_30_days_then_shreds():
    """KMS API Reference, ScheduleKeyDeletion: PendingWindowInDays 7-30 (default 30); the key is
    PendingDeletion and unusable at once; when the period ends the material is deleted and
    everything encrypted under it is unrecoverable."""
    s = session()
    kms = kms_of(s)
    for days, bound in ((6, "at least 7"), (31, "at most 30")):
        out = s.execute(f"kms schedule-deletion k1 --days {days}")
        assert out.error_kind == "input" and bound in out.output
    with pytest.raises(CloudError) as exc:
        kms.schedule_deletion("k1", "admin", 31)
    assert exc.value.code == "ValidationException"
    kms.schedule_deletion("k1", "admin", 7)
    assert kms.keys["k1"].state == "PendingDeletion" and s.cloud.metrics()["readable.payroll"] == 0
    with pytest.raises(CloudError) as exc:
        kms.open("payroll", "app")
    assert exc.value.code == "KMSInvalidStateException"
    s.execute("tick 604799")
    assert kms.keys["k1"].versions == 1  # one second short: the material is still there
    s.execute("tick 1")
    assert kms.keys["k1"].state == "Deleted" and kms.keys["k1"].versions == 0
    assert [e.kind for e in s.cloud.log][-1] == "kms.key_deleted"
    with pytest.raises(CloudError) as exc:
        kms.open("payroll", "app")
    assert exc.value.code == "NotFoundException"


def test_cancel_deletion_brings_the_key_back_disabled():
    """KMS Developer Guide, "Cancel key deletion": the key state becomes Disabled."""
    s = session()
    kms = kms_of(s)
    kms.schedule_deletion("k1", "admin", 7)
    kms.cancel_deletion("k1", "admin")
    s.execute("tick 700000")
    assert kms.keys["k1"].state == "Disabled" and kms.keys["k1"].versions == 1


def test_the_default_key_policy_hands_the_decision_to_iam():
    """KMS Developer Guide, "Default key policy": the account principal statement lets IAM
    policies grant access; an IAM policy without kms permissions gets nothing."""
    kms = kms_of(session())
    assert kms.open("payroll", "clerk") == b"j.doe 7,000.00"
    with pytest.raises(CloudError) as exc:
        kms.open("payroll", "guest")
    assert exc.value.code == "AccessDeniedException"


def test_iam_alone_never_opens_a_key_whose_policy_does_not_let_it():
    """KMS Developer Guide, "Key policies": unless the key policy allows it, IAM policies
    cannot grant access to a KMS key, even kms:* on *."""
    kms = kms_of(session(key_policy="app-only"))
    assert kms.open("payroll", "app") == b"j.doe 7,000.00"
    with pytest.raises(CloudError) as exc:
        kms.open("payroll", "clerk")
    assert exc.value.code == "AccessDeniedException" and "key policy" in exc.value.message


def test_the_key_material_never_leaves_the_service():
    """No command output and no event ever holds a KMS key's material (the data key is
    shown by generate-data-key, as the API returns it; the KMS key never is)."""
    s = session()
    kms = kms_of(s)
    lines = ["kms show", "kms show k1", "kms generate-data-key k1 --as app", "kms rotate k1", "envelope show",
             "envelope seal memo 'lunch at noon' --key k2 --as app", "envelope open memo --as app", "kms disable k2", "status k1"]  # fmt: skip
    outputs = [s.execute(line).output for line in lines]
    secrets = [m.hex() for k in kms.keys.values() for m in k._material]
    text = "\n".join(outputs) + "\n".join(str(e) for e in s.cloud.log)
    assert secrets and not any(m in text for m in secrets)


def test_the_same_seed_makes_the_same_bytes_and_another_seed_others():
    a, b, c = kms_of(session(0)), kms_of(session(0)), kms_of(session(1))
    assert a.objects["payroll"].record() == b.objects["payroll"].record()
    assert a.objects["payroll"].record() != c.objects["payroll"].record()
    assert a.disk.raw_image() == b.disk.raw_image()


def test_decrypting_with_the_wrong_key_is_one_line_and_changes_nothing():
    """KMS API Reference, Decrypt: a KeyId that does not match the ciphertext is refused
    (IncorrectKeyException)."""
    s = session()
    before = (len(s.cloud.log), s.cloud.metrics())
    out = s.execute("envelope open payroll --as app --key k2")
    assert out.error_kind == "input" and "IncorrectKeyException" in out.output and "\n" not in out.output
    assert (len(s.cloud.log), s.cloud.metrics()) == before
    with pytest.raises(CloudError) as exc:
        kms_of(s).decrypt(kms_of(s).objects["payroll"].blob, "app", key_id="k2")
    assert exc.value.code == "IncorrectKeyException"


def test_a_shredded_object_stays_unreadable_for_good():
    s = session()
    s.execute("kms schedule-deletion k1 --days 7")
    s.execute("tick 604800")
    out = s.execute("envelope open payroll --as app")
    assert out.error_kind == "api" and "deleted" in out.output
    assert s.cloud.metrics()["readable.payroll"] == 0 and s.cloud.metrics()["kms_keys_deleted"] == 1
    assert DAY_MS * 7 == s.cloud.now_ms
