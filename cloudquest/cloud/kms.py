"""A key management service and envelope encryption, with real AES-GCM.

Encrypting terabytes through a central key service would make it the bottleneck, and a
key that travels is a key that leaks. So clouds encrypt in *envelopes* (AWS KMS, Google
Cloud KMS, Azure Key Vault all do):

1. the service holds the **KMS key** (AWS used to call it a customer master key). Its
   material is generated inside the service (in AWS, inside FIPS 140 validated hardware
   security modules) and never leaves it: no call returns it;
2. ``GenerateDataKey`` makes a fresh 256-bit **data key** and returns it twice: in
   plaintext, and encrypted under the KMS key (the *ciphertext blob*, which names the key
   and the key version inside it);
3. the caller encrypts its data locally with the plaintext data key (AES-256-GCM), stores
   the ciphertext *beside the encrypted data key*, and forgets the plaintext key;
4. to read, the caller sends the encrypted data key to ``Decrypt``. The service checks
   that the **key policy** (the key's resource-based policy) and **IAM** allow the caller,
   then unwraps the data key; the data never reaches the service.

A key policy is where a key's access starts: IAM policies count only when the key
policy lets the account's IAM decide (``"Principal": {"AWS": "arn:aws:iam::ACCOUNT:root"}``);
a key policy naming the caller itself is enough on its own (the AWS KMS Developer Guide,
"Key policies"). Decisions are made by :mod:`.iam`.

- **Rotation** (``RotateKeyOnDemand``, or yearly automatic rotation) adds new key
  material and keeps the old: new data keys are wrapped under the newest, old blobs still
  name theirs, so old data stays readable without re-encrypting anything.
- ``DisableKey`` stops every use at once (and ``EnableKey`` restores it).
- ``ScheduleKeyDeletion`` puts a key in *PendingDeletion* for a waiting period of 7 to 30
  days (30 by default), during which every use fails and ``CancelKeyDeletion`` can still
  save it (it comes back *Disabled*). When the period ends the material is destroyed,
  and every data key wrapped under it, so every byte encrypted with them, is unreadable
  for good: **crypto-shredding**. Deleting one key erases petabytes without touching them.

The bytes are real: key material is 32 bytes drawn from the session's seeded generator
(so a replay makes the same keys and the same ciphertext, byte for byte), the cipher is
the ``cryptography`` package's AESGCM, and a ciphertext blob is
``"CQK1" | key name | version | 12-byte nonce | wrapped key + 16-byte tag``, authenticated
with the key's ARN and the encryption context as associated data, so a flipped bit, a
blob moved to another key or a changed context fails authentication.

Where the game simplifies: one region; no grants, aliases, multi-Region keys, imported
material or asymmetric keys; a nonce comes from the seeded generator rather than a
hardware random source; a waiting period is counted on the simulated clock.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import Field, model_validator

from .blockstore import BlockDisk
from .errors import CloudError
from .iam import IamService, PolicyError
from .mechanism import events, metrics
from .world import CoreWorld, Strict

if TYPE_CHECKING:
    from .cloud import Cloud

DAY_MS = 86_400_000
MIN_WINDOW_DAYS, MAX_WINDOW_DAYS, DEFAULT_WINDOW_DAYS = 7, 30, 30
BLOB_MAGIC = b"CQK1"
ENVELOPE_MAGIC = b"CQENV1"
KEY_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
KeyState = Literal["Enabled", "Disabled", "PendingDeletion", "Deleted"]


@dataclass(eq=False)
class KmsKey:
    name: str
    account: str
    region: str
    policy: str
    state: KeyState = "Enabled"
    _material: list[bytes] = field(default_factory=list, repr=False)  # one per version; never returned
    deletion_at_ms: int | None = None
    rotations: int = 0

    @property
    def arn(self) -> str:
        return f"arn:aws:kms:{self.region}:{self.account}:key/{self.name}"

    @property
    def versions(self) -> int:
        return len(self._material)


@dataclass(eq=False)
class Envelope:
    """A stored object: ciphertext beside its encrypted data key (or, with no key, plaintext)."""

    name: str
    owner: str  # the principal that stored it
    key: str | None
    blob: bytes = b""
    nonce: bytes = b""
    ciphertext: bytes = b""
    plaintext_len: int = 0

    def record(self) -> bytes:
        """The bytes written to disk."""
        if self.key is None:
            return self.ciphertext  # stored as is: plaintext
        return ENVELOPE_MAGIC + len(self.blob).to_bytes(2, "big") + self.blob + self.nonce + self.ciphertext


class KeyService:
    """The key service (its API) and the envelope store its clients keep on a disk."""

    def __init__(self, cloud: "Cloud | None", spec: "KmsSpec", rng: random.Random, iam: IamService | None) -> None:
        self.cloud = cloud
        self.rng = rng
        self.iam = iam
        self.region = spec.region
        self.keys: dict[str, KmsKey] = {}
        self.objects: dict[str, Envelope] = {}
        # the store zeroes what it frees, so re-encrypting an object leaves no plaintext behind
        self.disk = BlockDisk("vault-disk", spec.disk.blocks, spec.disk.block_bytes, "zero", rng)
        self._truth: dict[str, bytes] = {}  # what each object holds: the referee's, never a player's
        self.decrypts = 0
        self.denied = 0
        self.data_keys = 0
        for k in spec.keys:
            self._new_key(k.name, k.account, k.policy)
        for o in spec.objects:
            self.seal(o.name, o.text.encode(), o.key, o.principal, record=False)

    # -- keys ------------------------------------------------------------------------------
    def _emit(self, kind: str, **data) -> None:
        if self.cloud is not None:
            self.cloud.emit(kind, **data)

    def _api(self, action: str) -> None:
        if self.cloud is not None:
            self.cloud.api_call(action)

    def _new_key(self, name: str, account: str, policy: str) -> KmsKey:
        if not KEY_NAME.match(name or ""):
            raise CloudError("InvalidParameterValue", f"bad key name {name!r} (lower-case letters, digits and '-')")
        if name in self.keys:
            raise CloudError("AlreadyExistsException", f"a key named {name!r} exists")
        self._check_key_policy(policy)
        if self.iam is not None and account not in self.iam.accounts:
            raise CloudError("InvalidParameterValue", f"no account {account} (accounts: {', '.join(self.iam.accounts)})")
        key = KmsKey(name, account, self.region, policy)
        key._material.append(self.rng.getrandbits(256).to_bytes(32, "big"))
        self.keys[name] = key
        if self.iam is not None:
            self.iam.resources[key.arn] = policy  # the key policy is the key's resource policy
            self.iam.invalidate()
        return key

    def _check_key_policy(self, policy: str) -> None:
        if self.iam is None:
            raise CloudError("InvalidParameterValue", "a key needs a key policy, and this world has no iam section")
        p = self.iam.policy(policy)
        if not any(s.principals is not None for s in p.statements):
            raise CloudError("MalformedPolicyDocument", f"policy {policy} names no Principal: a key policy is a resource-based policy")

    def key(self, name: str) -> KmsKey:
        k = self.keys.get(name)
        if k is None:
            raise CloudError("NotFoundException", f"no key named {name!r} (keys: {', '.join(self.keys) or 'none'})")
        return k

    def create_key(self, name: str, account: str, policy: str) -> KmsKey:
        key = self._new_key(name, account, policy)
        self._api("CreateKey")
        self._emit("kms.key_changed", key=name, action="CreateKey", state=key.state, versions=key.versions)
        return key

    def _usable(self, key: KmsKey) -> None:
        if key.state == "Deleted":
            raise CloudError("NotFoundException", f"key {key.name} was deleted: its material no longer exists anywhere")
        if key.state == "Disabled":
            raise CloudError("DisabledException", f"key {key.name} is disabled")
        if key.state == "PendingDeletion":
            raise CloudError("KMSInvalidStateException", f"key {key.name} is pending deletion: no cryptographic use")

    def authorize(self, principal: str, action: str, key: KmsKey, context: dict | None = None, record: bool = True) -> None:
        """The key policy and IAM, as KMS asks them; AccessDeniedException if they say no."""
        self.authorize_arn(principal, action, key.arn, context, record)

    def authorize_arn(self, principal: str, action: str, arn: str, context: dict | None = None, record: bool = True) -> None:
        if self.iam is None:
            return
        d = self.iam.decide(principal, action, arn, context, record=record, source="kms")
        if not d.allowed:
            self.denied += int(record)
            raise CloudError("AccessDeniedException", f"{principal} may not {action} on {arn.rsplit('/', 1)[-1]}: {d.reason}")

    def _change(self, name: str, principal: str, action: str) -> KmsKey:
        key = self.key(name)
        if key.state == "Deleted":
            raise CloudError("NotFoundException", f"key {name} was deleted")
        self.authorize(principal, f"kms:{action}", key)
        return key

    def rotate(self, name: str, principal: str) -> KmsKey:
        key = self._change(name, principal, "RotateKeyOnDemand")
        self._usable(key)
        key._material.append(self.rng.getrandbits(256).to_bytes(32, "big"))
        key.rotations += 1
        self._api("RotateKeyOnDemand")
        self._emit("kms.key_changed", key=name, action="RotateKeyOnDemand", state=key.state, versions=key.versions)
        return key

    def _transition(self, name: str, principal: str, action: str, was: KeyState, now: KeyState) -> KmsKey:
        key = self._change(name, principal, action)
        if key.state != was:
            raise CloudError("KMSInvalidStateException", f"key {name} is {key.state}, not {was}")
        key.state = now
        self._api(action)
        self._emit("kms.key_changed", key=name, action=action, state=key.state, versions=key.versions)
        return key

    def disable(self, name: str, principal: str) -> KmsKey:
        return self._transition(name, principal, "DisableKey", "Enabled", "Disabled")

    def enable(self, name: str, principal: str) -> KmsKey:
        return self._transition(name, principal, "EnableKey", "Disabled", "Enabled")

    def schedule_deletion(self, name: str, principal: str, days: int = DEFAULT_WINDOW_DAYS) -> KmsKey:
        if not isinstance(days, int) or not MIN_WINDOW_DAYS <= days <= MAX_WINDOW_DAYS:
            raise CloudError("ValidationException", f"the waiting period is {MIN_WINDOW_DAYS} to {MAX_WINDOW_DAYS} days, not {days}")
        key = self._change(name, principal, "ScheduleKeyDeletion")
        if key.state == "PendingDeletion":
            raise CloudError("KMSInvalidStateException", f"key {name} is already pending deletion")
        key.state = "PendingDeletion"
        now = self.cloud.now_ms if self.cloud is not None else 0
        key.deletion_at_ms = now + days * DAY_MS
        at = key.deletion_at_ms
        if self.cloud is not None:
            self.cloud.clock.schedule(at, lambda: self._delete_if_due(name, at))
        self._api("ScheduleKeyDeletion")
        self._emit("kms.key_changed", key=name, action="ScheduleKeyDeletion", state=key.state, versions=key.versions)
        return key

    def cancel_deletion(self, name: str, principal: str) -> KmsKey:
        # as AWS: a key saved from deletion comes back disabled
        key = self._transition(name, principal, "CancelKeyDeletion", "PendingDeletion", "Disabled")
        key.deletion_at_ms = None
        return key

    def _delete_if_due(self, name: str, at: int) -> None:
        key = self.keys.get(name)
        if key is None or key.state != "PendingDeletion" or key.deletion_at_ms != at:
            return  # cancelled (and maybe scheduled again) since
        versions = key.versions
        key._material.clear()  # the material is destroyed: nothing can unwrap its data keys again
        key.state = "Deleted"
        orphaned = sum(1 for o in self.objects.values() if o.key == name)
        self._emit("kms.key_deleted", key=name, versions=versions, objects=orphaned)

    def put_key_policy(self, name: str, policy: str, principal: str) -> KmsKey:
        key = self._change(name, principal, "PutKeyPolicy")
        self._check_key_policy(policy)
        key.policy = policy
        if self.iam is not None:
            self.iam.resources[key.arn] = policy
            self.iam.invalidate()
        self._api("PutKeyPolicy")
        self._emit("kms.key_changed", key=name, action="PutKeyPolicy", state=key.state, versions=key.versions)
        return key

    # -- GenerateDataKey and Decrypt --------------------------------------------------------
    @staticmethod
    def _aad(key: KmsKey, context: str) -> bytes:
        return f"{key.arn}|{context}".encode()

    def generate_data_key(self, name: str, principal: str, context: str = "", record: bool = True) -> tuple[bytes, bytes]:
        """(plaintext data key, ciphertext blob). The plaintext is the caller's to use and forget."""
        key = self.key(name)
        self.authorize(principal, "kms:GenerateDataKey", key, record=record)
        self._usable(key)
        data_key = self.rng.getrandbits(256).to_bytes(32, "big")
        nonce = self.rng.getrandbits(96).to_bytes(12, "big")
        version = key.versions - 1
        wrapped = AESGCM(key._material[version]).encrypt(nonce, data_key, self._aad(key, context))
        name_b = key.name.encode()
        blob = BLOB_MAGIC + bytes([len(name_b)]) + name_b + version.to_bytes(2, "big") + nonce + wrapped
        self.data_keys += 1
        if record:
            self._api("GenerateDataKey")
        return data_key, blob

    @staticmethod
    def blob_key(blob: bytes) -> str:
        if len(blob) < 8 or not blob.startswith(BLOB_MAGIC):
            raise CloudError("InvalidCiphertextException", "that is not a ciphertext blob from this key service")
        n = blob[4]
        return blob[5 : 5 + n].decode(errors="replace")

    def truth(self, name: str) -> bytes:
        """What an object holds, for a referee asking whether a disk image shows it."""
        return self._truth.get(name, b"")

    def decrypt(
        self, blob: bytes, principal: str, context: str = "", key_id: str | None = None, record: bool = True,
        iam_context: dict | None = None,
    ) -> bytes:
        """Unwrap a data key. The blob says which key and version made it; naming another
        key (``key_id``) is refused, as AWS's IncorrectKeyException."""
        name = self.blob_key(blob)
        if key_id is not None and key_id != name:
            self.key(key_id)
            raise CloudError("IncorrectKeyException", f"the blob was encrypted under {name}, not {key_id}")
        key = self.key(name) if name in self.keys else None
        if key is None:
            raise CloudError("NotFoundException", f"the blob names key {name!r}, which this service does not have")
        self.authorize(principal, "kms:Decrypt", key, iam_context, record=record)
        self._usable(key)
        n = blob[4]
        version = int.from_bytes(blob[5 + n : 7 + n], "big")
        nonce, wrapped = blob[7 + n : 19 + n], blob[19 + n :]
        if version >= key.versions:
            raise CloudError("InvalidCiphertextException", f"the blob names version {version} of {name}, which has {key.versions}")
        try:
            data_key = AESGCM(key._material[version]).decrypt(nonce, wrapped, self._aad(key, context))
        except InvalidTag:
            raise CloudError(
                "InvalidCiphertextException", "the blob fails authentication (tampered with, or a different encryption context)"
            ) from None
        if record:
            self.decrypts += 1
            self._api("Decrypt")
        return data_key

    # -- the envelope store ----------------------------------------------------------------
    def seal(self, name: str, data: bytes, key: str | None, principal: str, record: bool = True, replace: bool = False) -> Envelope:
        """Store an object: with a key, in an envelope; without, as plaintext (the broken way).
        With ``replace`` an existing object is rewritten: the new record is written first,
        then the old blocks are freed (and zeroed)."""
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,31}", name or ""):
            raise CloudError("InvalidParameterValue", f"bad object name {name!r} (lower-case letters, digits and '-')")
        if name in self.objects and not replace:
            raise CloudError("InvalidParameterValue", f"an object named {name!r} exists")
        if self.iam is not None:
            self.iam.principal(principal)
        if key is None:
            env = Envelope(name, principal, None, ciphertext=data, plaintext_len=len(data))
        else:
            data_key, blob = self.generate_data_key(key, principal, context=name, record=record)
            nonce = self.rng.getrandbits(96).to_bytes(12, "big")
            ct = AESGCM(data_key).encrypt(nonce, data, name.encode())
            del data_key  # the plaintext data key is used once and forgotten
            env = Envelope(name, principal, key, blob, nonce, ct, len(data))
        record_bytes = env.record()
        blocks = -(-len(record_bytes) // self.disk.block_bytes)
        fresh = f"{name}~new" if name in self.disk.volumes else name
        self.disk.create(fresh, principal, blocks)
        self.disk.write(fresh, 0, record_bytes)
        if fresh != name:
            self.disk.delete(name)
            self.disk.rename(fresh, name)
        self.objects[name] = env
        self._truth[name] = bytes(data)
        if record:
            self._emit("envelope.sealed", object=name, key=key or "", bytes=len(data), stored=len(record_bytes))
        return env

    def open(self, name: str, principal: str, key_id: str | None = None, record: bool = True) -> bytes:
        env = self.objects.get(name)
        if env is None:
            raise CloudError("NoSuchKey", f"no object named {name!r} (objects: {', '.join(self.objects) or 'none'})")
        if env.key is None:
            data = env.ciphertext
        else:
            data_key = self.decrypt(env.blob, principal, context=name, key_id=key_id, record=record)
            try:
                data = AESGCM(data_key).decrypt(env.nonce, env.ciphertext, name.encode())
            except InvalidTag:
                raise CloudError("InvalidCiphertextException", f"object {name} fails authentication: its bytes were changed") from None
        if record:
            self._emit("envelope.opened", object=name, principal=principal, key=env.key or "")
        return data

    def encrypt_existing(self, name: str, key: str, principal: str) -> Envelope:
        """Put a plaintext object into an envelope under a key, in place."""
        env = self.objects.get(name)
        if env is None:
            raise CloudError("NoSuchKey", f"no object named {name!r} (objects: {', '.join(self.objects) or 'none'})")
        if env.key is not None:
            raise CloudError("InvalidParameterValue", f"{name} is already in an envelope under {env.key}")
        self.key(key)
        return self.seal(name, env.ciphertext, key, principal, replace=True)

    def readable(self, env: Envelope) -> bool:
        """Whether anyone at all could still read an object: plaintext, or its key usable."""
        if env.key is None:
            return True
        key = self.keys.get(env.key)
        return key is not None and key.state == "Enabled" and key.versions > 0

    # -- metrics ---------------------------------------------------------------------------
    def metrics(self) -> dict[str, int]:
        states = [k.state for k in self.keys.values()]
        out = {
            "kms_keys": len(self.keys),
            "kms_keys_enabled": states.count("Enabled"),
            "kms_keys_pending_deletion": states.count("PendingDeletion"),
            "kms_keys_deleted": states.count("Deleted"),
            "kms_decrypts": self.decrypts,
            "kms_denied": self.denied,
            "sealed_objects": len(self.objects),
            "plaintext_objects": sum(1 for o in self.objects.values() if o.key is None),
        }
        for o in self.objects.values():
            out[f"readable.{o.name}"] = int(self.readable(o))
        return out


class KeySpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    account: str = Field(pattern=r"^[0-9]{12}$")
    policy: str = Field(description="its key policy: a resource-based policy of the iam section")


class DiskSpec(Strict):
    blocks: int = Field(default=32, ge=1, le=4096)
    block_bytes: int = Field(default=256, ge=64, le=4096, multiple_of=16)


class SealedSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    text: str = Field(max_length=4096)
    key: str | None = Field(default=None, description="the KMS key its data key is wrapped under (none: stored as plaintext)")
    principal: str = Field(description="who stores it (GenerateDataKey is asked as this principal)")


class KmsSpec(Strict):
    """The world's ``kms`` section: keys (each with its key policy) and the objects stored
    in envelopes on the vault's disk when the story starts. Needs an ``iam`` section."""

    region: str = "eu-west-1"
    admin: str | None = Field(default=None, description="the principal key administration is done as, unless a command names another")
    keys: list[KeySpec] = Field(default_factory=list)
    disk: DiskSpec = Field(default_factory=DiskSpec)
    objects: list[SealedSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names(self) -> "KmsSpec":
        names = [k.name for k in self.keys]
        if len(set(names)) != len(names):
            raise ValueError("two keys share a name")
        return self


def check_world(world: CoreWorld, spec: KmsSpec) -> None:
    """Keys name their accounts and policies, objects their keys and principals: build it."""
    iam_spec = getattr(world, "iam", None)
    if iam_spec is None:
        raise ValueError("a kms section needs an iam section (key policies are IAM policy documents)")
    try:
        iam = IamService(None, iam_spec)
        KeyService(None, spec, random.Random(0), iam)
    except CloudError as exc:
        raise ValueError(exc.message) from None
    except PolicyError as exc:
        raise ValueError(str(exc)) from None


def attach(cloud: "Cloud", spec: KmsSpec) -> KeyService:
    iam = cloud.get(IamService)
    service = KeyService(cloud, spec, random.Random(cloud.rng.getrandbits(64)), iam)
    cloud.metric_sources.append(service.metrics)
    return service


METRICS = metrics(
    ("kms_keys", "KMS keys"),
    ("kms_keys_enabled", "keys enabled"),
    ("kms_keys_pending_deletion", "keys waiting out their deletion period"),
    ("kms_keys_deleted", "keys whose material was destroyed"),
    ("kms_decrypts", "data keys unwrapped by Decrypt"),
    ("kms_denied", "key uses the key policy or IAM refused"),
    ("sealed_objects", "objects in the envelope store"),
    ("plaintext_objects", "objects stored without encryption"),
    ("readable.{object}", "1 while anyone could still read an object (plaintext, or its key usable)", "there is no object {} yet"),
)
EVENTS = events(
    ("kms.key_changed", "key action state versions", "a key was created, rotated, disabled, enabled, scheduled for deletion or saved"),
    ("kms.key_deleted", "key versions objects", "a key's waiting period ended: its material was destroyed"),
    ("envelope.sealed", "object key bytes stored", "an object was stored (in an envelope, or as plaintext)"),
    ("envelope.opened", "object principal key", "an object was read back"),
)
