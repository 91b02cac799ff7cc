"""Block storage on a shared physical disk: volumes carved from blocks that tenants reuse.

A cloud's block volumes (EBS, Persistent Disk, a Cinder volume) are not disks of their
own. A storage server keeps big physical disks and hands out their blocks to volumes as
they are created; when a volume is deleted its blocks go back to the free pool and the
next volume, very likely another customer's, is built from them. What the last owner
wrote is still on the platter. Three ways to keep it there, and only one is safe:

- ``none``: the blocks are handed over as they are, and a new volume reads the last
  owner's bytes. This happened: in December 2013 DigitalOcean's API left the ``scrub_data``
  flag off by default, and customers could read earlier customers' data from fresh
  droplet disks until the default was changed;
- ``zero``: the provider overwrites released blocks with zeros before they are reused
  (it costs disk time: ``bytes_zeroed``). AWS says of EBS that volumes are presented as
  raw block devices that have been wiped before being made available, and that instance
  store is wiped the same way;
- ``crypto``: each volume is encrypted with a key of its own (AES-256 in XTS mode, the
  IEEE 1619 mode for disks that dm-crypt, BitLocker and the EBS encryption done by Nitro
  cards use), and the key is destroyed when the volume is deleted: *crypto-erase*, as
  NIST SP 800-88 names it. The stale blocks stay on the platter but are ciphertext under
  a key that no longer exists; a new volume, holding its own key, reads its unwritten
  blocks as zeros.

The bytes are real: a disk is a ``bytearray``, a volume's key 64 bytes from the session's
seeded generator, the cipher the ``cryptography`` package's AES-XTS.

Where the game simplifies: a disk is a few dozen blocks of a few hundred bytes, one per
world; the free pool is a stack, so the blocks released last are the ones handed out
next (a real allocator is less predictable, which makes a leak rarer, not safer);
zeroing happens at once rather than in the background; no snapshots or replication.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import CloudError

Scrub = Literal["none", "zero", "crypto"]
SCRUBS: tuple[Scrub, ...] = ("none", "zero", "crypto")
MIN_BLOCK = 64  # AES-XTS needs at least one 16-byte block; keep blocks readable in a view


@dataclass(eq=False)
class Volume:
    name: str
    tenant: str
    blocks: list[int]
    key: bytes | None = None  # the volume's own key (crypto); None otherwise
    written: set[int] = field(default_factory=set)  # indexes into ``blocks`` written since creation

    @property
    def size(self) -> int:
        return len(self.blocks)


class BlockDisk:
    """One physical disk of ``blocks`` blocks, shared by every tenant's volumes."""

    def __init__(self, name: str, blocks: int, block_bytes: int, scrub: Scrub, rng: random.Random) -> None:
        if scrub not in SCRUBS:
            raise CloudError("InvalidParameterValue", f"scrub must be one of {', '.join(SCRUBS)}, not {scrub!r}")
        self.name = name
        self.block_bytes = block_bytes
        self.raw = bytearray(blocks * block_bytes)
        self.owner: list[str | None] = [None] * blocks  # who last wrote each block (for evidence only)
        self.free: list[int] = list(range(blocks - 1, -1, -1))  # a stack: pop() takes the lowest first
        self.volumes: dict[str, Volume] = {}
        self.scrub: Scrub = scrub
        self.rng = rng
        self.bytes_zeroed = 0
        self.keys_destroyed = 0

    @property
    def blocks(self) -> int:
        return len(self.owner)

    # -- the volume API ------------------------------------------------------------------
    def volume(self, name: str) -> Volume:
        v = self.volumes.get(name)
        if v is None:
            raise CloudError("InvalidVolume.NotFound", f"no volume named {name!r} (volumes: {', '.join(self.volumes) or 'none'})")
        return v

    def create(self, name: str, tenant: str, size: int) -> Volume:
        if name in self.volumes:
            raise CloudError("InvalidVolume.Duplicate", f"a volume named {name!r} exists")
        if size < 1:
            raise CloudError("InvalidParameterValue", "a volume has at least one block")
        if size > len(self.free):
            raise CloudError("InsufficientVolumeCapacity", f"disk {self.name} has {len(self.free)} free blocks, not {size}")
        blocks = [self.free.pop() for _ in range(size)]
        key = self.rng.getrandbits(512).to_bytes(64, "big") if self.scrub == "crypto" else None
        vol = Volume(name, tenant, blocks, key)
        self.volumes[name] = vol
        return vol

    def delete(self, name: str) -> tuple[Volume, int]:
        """Release a volume's blocks to the pool, scrubbed as the disk's policy says.
        Returns the volume and the bytes zeroed."""
        vol = self.volume(name)
        zeroed = 0
        if self.scrub == "zero":
            for b in vol.blocks:
                start = b * self.block_bytes
                self.raw[start : start + self.block_bytes] = bytes(self.block_bytes)
                self.owner[b] = None
                zeroed += self.block_bytes
            self.bytes_zeroed += zeroed
        elif vol.key is not None:
            vol.key = None  # crypto-erase: the only copy of the key is gone
            self.keys_destroyed += 1
        for b in reversed(vol.blocks):
            self.free.append(b)
        del self.volumes[name]
        return vol, zeroed

    def rename(self, name: str, new: str) -> None:
        vol = self.volume(name)
        if new in self.volumes:
            raise CloudError("InvalidVolume.Duplicate", f"a volume named {new!r} exists")
        del self.volumes[name]
        vol.name = new
        self.volumes[new] = vol

    def _check_range(self, vol: Volume, offset: int, length: int) -> None:
        size = vol.size * self.block_bytes
        if offset < 0 or length < 0 or offset + length > size:
            raise CloudError("InvalidParameterValue", f"bytes {offset}-{offset + length} are outside volume {vol.name} ({size} bytes)")

    def _cipher(self, vol: Volume, index: int) -> Cipher:
        assert vol.key is not None
        tweak = vol.blocks[index].to_bytes(16, "little")  # the sector number, as dm-crypt's plain64 IV
        return Cipher(algorithms.AES(vol.key), modes.XTS(tweak))

    def _plain_block(self, vol: Volume, index: int) -> bytes:
        """What the volume reads in one of its blocks."""
        b = vol.blocks[index]
        raw = bytes(self.raw[b * self.block_bytes : (b + 1) * self.block_bytes])
        if vol.key is None:
            return raw
        if index not in vol.written:
            return bytes(self.block_bytes)  # never written through this key: reads as zeros
        dec = self._cipher(vol, index).decryptor()
        return dec.update(raw) + dec.finalize()

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        vol = self.volume(name)
        if length is None:
            length = vol.size * self.block_bytes - offset
        self._check_range(vol, offset, length)
        first, last = offset // self.block_bytes, (offset + length - 1) // self.block_bytes if length else offset // self.block_bytes
        data = b"".join(self._plain_block(vol, i) for i in range(first, last + 1)) if length else b""
        skip = offset - first * self.block_bytes
        return data[skip : skip + length]

    def write(self, name: str, offset: int, data: bytes) -> None:
        vol = self.volume(name)
        self._check_range(vol, offset, len(data))
        pos = 0
        while pos < len(data):
            index, within = divmod(offset + pos, self.block_bytes)
            take = min(self.block_bytes - within, len(data) - pos)
            block = bytearray(self._plain_block(vol, index))
            block[within : within + take] = data[pos : pos + take]
            b = vol.blocks[index]
            if vol.key is not None:
                enc = self._cipher(vol, index).encryptor()
                stored = enc.update(bytes(block)) + enc.finalize()
                vol.written.add(index)
            else:
                stored = bytes(block)
            self.raw[b * self.block_bytes : (b + 1) * self.block_bytes] = stored
            self.owner[b] = vol.tenant
            pos += take

    def raw_image(self) -> bytes:
        """The whole platter, as someone holding the physical disk would read it."""
        return bytes(self.raw)

    # -- what an auditor sees --------------------------------------------------------------
    def foreign_bytes(self, name: str) -> tuple[int, str, bytes]:
        """Non-zero bytes a volume reads from blocks another tenant wrote last:
        (count, whose, a sample). (0, "", b"") when it reads nothing of anyone else's."""
        vol = self.volume(name)
        count, whose, sample = 0, "", b""
        for i, b in enumerate(vol.blocks):
            last = self.owner[b]
            if last is None or last == vol.tenant:
                continue
            data = self._plain_block(vol, i)
            nonzero = sum(1 for x in data if x)
            if nonzero:
                count += nonzero
                whose = whose or last
                if not sample:
                    sample = data.strip(b"\x00")[:40]
        return count, whose, sample

    def set_scrub(self, scrub: Scrub) -> int:
        """Change the release policy. Turning scrubbing on also wipes the free pool of
        what earlier, unscrubbed releases left there (a fix that left it would leak the
        past); returns the bytes zeroed."""
        if scrub not in SCRUBS:
            raise CloudError("InvalidParameterValue", f"scrub must be one of {', '.join(SCRUBS)}, not {scrub!r}")
        self.scrub = scrub
        zeroed = 0
        if scrub != "none":
            for b in self.free:
                if self.owner[b] is not None:
                    start = b * self.block_bytes
                    self.raw[start : start + self.block_bytes] = bytes(self.block_bytes)
                    self.owner[b] = None
                    zeroed += self.block_bytes
        self.bytes_zeroed += zeroed
        return zeroed

    def used_blocks(self) -> int:
        return self.blocks - len(self.free)
