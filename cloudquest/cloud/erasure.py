"""Erasure coding: Reed-Solomon K+M, the alternative to keeping whole copies.

A Reed-Solomon code with K data and M parity fragments cuts a chunk into K equal pieces
and computes M more from them, so that *any* K of the K+M fragments rebuild the chunk.
It survives the loss of any M fragments while storing only (K+M)/K times the data:
HDFS's default policy RS-6-3 (``RS-6-3-1024k``, Hadoop 3) stores 1.5x and survives three
losses, where three-way replication stores 3.0x and survives two. The price is paid on
repair: rebuilding one lost fragment means reading K others (a whole chunk's worth of
traffic), where re-replicating a copy reads one.

How the simulation uses it: the object store does not push bytes around. It keeps, for
every chunk, which fragment (0..K-1 data, K..K+M-1 parity) lives on which disk, and
decides "can this chunk still be rebuilt?" by *counting* the fragments it can still
read: at least K means yes. That count is exactly what the real code guarantees, and
:func:`rs_encode` / :func:`rs_decode` below prove it on real bytes: a small systematic
Reed-Solomon codec over GF(2^8) (the field and generator polynomial 0x11d that Intel
ISA-L and Backblaze's JavaReedSolomon use), built from a Vandermonde matrix made
systematic, so every K rows of the encoding matrix are invertible. The tests encode
data, throw away every possible choice of M fragments, and get the data back.

Where HDFS differs: it stripes a file across the K data blocks of a *block group* in
1 MiB cells rather than cutting each block into K parts; the storage and failure
behaviour (any K of K+M, overhead (K+M)/K, K reads per rebuild) is the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Largest codes we accept. Real deployments use small ones (RS-3-2, RS-6-3, RS-10-4,
# Backblaze's 17+3); GF(2^8) allows K+M up to 256, far beyond any sensible cluster.
MAX_DATA = 32
MAX_PARITY = 16


@dataclass(frozen=True)
class ErasureCode:
    """A Reed-Solomon K+M scheme, seen by the store as a *protection scheme*.

    The store treats :class:`~cloudquest.cloud.replication.Replication` and this class
    alike through the same few properties: ``width`` pieces per chunk, ``need`` of them
    to read it, ``tolerates`` losses, ``overhead`` raw bytes per stored byte.
    """

    k: int
    m: int
    # derived, stored as plain attributes because the store reads them per chunk
    width: int = field(init=False, repr=False, compare=False)
    need: int = field(init=False, repr=False, compare=False)
    tolerates: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (1 <= self.k <= MAX_DATA) or not (1 <= self.m <= MAX_PARITY):
            raise ValueError(f"RS-{self.k}-{self.m}: K must be 1..{MAX_DATA} and M 1..{MAX_PARITY}")
        object.__setattr__(self, "width", self.k + self.m)
        object.__setattr__(self, "need", self.k)
        object.__setattr__(self, "tolerates", self.m)

    erasure = True

    @property
    def overhead(self) -> float:
        return (self.k + self.m) / self.k

    @property
    def label(self) -> str:
        return f"RS-{self.k}-{self.m}"

    def piece_bytes(self, chunk_bytes: int) -> int:
        """Each fragment holds a K-th of the chunk (rounded up, as padding would)."""
        return -(-chunk_bytes // self.k)

    def role(self, slot: int) -> str:
        return "data" if slot < self.k else "parity"


# -- GF(2^8) arithmetic ------------------------------------------------------------------
_POLY = 0x11D
_EXP = [0] * 512
_LOG = [0] * 256
_x = 1
for _i in range(255):
    _EXP[_i] = _x
    _LOG[_x] = _i
    _x <<= 1
    if _x & 0x100:
        _x ^= _POLY
for _i in range(255, 512):
    _EXP[_i] = _EXP[_i - 255]


def gf_mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def gf_inv(a: int) -> int:
    if a == 0:
        raise ZeroDivisionError("0 has no inverse in GF(256)")
    return _EXP[255 - _LOG[a]]


def gf_pow(a: int, n: int) -> int:
    if n == 0:
        return 1
    if a == 0:
        return 0
    return _EXP[(_LOG[a] * n) % 255]


Matrix = list[list[int]]


def _mat_mul(a: Matrix, b: Matrix) -> Matrix:
    cols = len(b[0])
    out = []
    for row in a:
        acc = [0] * cols
        for j, coef in enumerate(row):
            if coef:
                for c, v in enumerate(b[j]):
                    if v:
                        acc[c] ^= gf_mul(coef, v)
        out.append(acc)
    return out


def _mat_inv(m: Matrix) -> Matrix:
    """Gauss-Jordan elimination over GF(256); raises ValueError if singular."""
    n = len(m)
    work = [list(row) + [int(i == j) for j in range(n)] for i, row in enumerate(m)]
    for col in range(n):
        pivot = next((r for r in range(col, n) if work[r][col]), None)
        if pivot is None:
            raise ValueError("singular matrix")
        work[col], work[pivot] = work[pivot], work[col]
        inv = gf_inv(work[col][col])
        work[col] = [gf_mul(v, inv) for v in work[col]]
        for r in range(n):
            if r != col and work[r][col]:
                f = work[r][col]
                work[r] = [v ^ gf_mul(f, p) for v, p in zip(work[r], work[col])]
    return [row[n:] for row in work]


def encoding_matrix(k: int, m: int) -> Matrix:
    """The (K+M) x K systematic encoding matrix: identity on top, parity rows below.

    A Vandermonde matrix (row i = powers of i) has every K rows independent; multiplying
    it by the inverse of its top K x K block keeps that property and turns the top into
    the identity, so data fragments are stored as they are.
    """
    n = k + m
    if n > 256:
        raise ValueError("K+M must be at most 256 in GF(2^8)")
    vander = [[gf_pow(i, j) for j in range(k)] for i in range(n)]
    top_inv = _mat_inv(vander[:k])
    return _mat_mul(vander, top_inv)


def rs_encode(data: bytes, k: int, m: int) -> list[bytes]:
    """Split ``data`` into K equal fragments (zero-padded) and add M parity fragments."""
    size = -(-len(data) // k) if data else 1
    padded = data + bytes(size * k - len(data))
    shards = [padded[i * size : (i + 1) * size] for i in range(k)]
    matrix = encoding_matrix(k, m)
    for row in matrix[k:]:
        out = bytearray(size)
        for coef, shard in zip(row, shards):
            if coef:
                log_c = _LOG[coef]
                for pos, byte in enumerate(shard):
                    if byte:
                        out[pos] ^= _EXP[log_c + _LOG[byte]]
        shards.append(bytes(out))
    return shards


def rs_decode(fragments: Mapping[int, bytes], k: int, m: int, length: int) -> bytes:
    """Rebuild the original ``length`` bytes from any K fragments (index -> bytes).

    Raises ValueError with fewer than K fragments: the chunk is lost.
    """
    have = sorted(i for i in fragments if 0 <= i < k + m)
    if len(have) < k:
        raise ValueError(f"need {k} fragments to rebuild, have {len(have)}")
    use = have[:k]
    matrix = encoding_matrix(k, m)
    decode = _mat_inv([matrix[i] for i in use])
    size = len(fragments[use[0]])
    data = []
    for row in decode:
        out = bytearray(size)
        for coef, idx in zip(row, use):
            if coef:
                log_c = _LOG[coef]
                for pos, byte in enumerate(fragments[idx]):
                    if byte:
                        out[pos] ^= _EXP[log_c + _LOG[byte]]
        data.append(bytes(out))
    return b"".join(data)[:length]
