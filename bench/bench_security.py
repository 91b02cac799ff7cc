"""The security chapters' two hot paths.

Reports:
- 100,000 IAM decisions for one principal whose policies hold 50 statements in all (an
  SCP of 5, identity policies of 35, a permissions boundary of 5, a bucket policy of 5),
  with wildcards in actions and resources and conditions on half of them; the requests are
  1,000 distinct (action, resource, context) triples drawn with a fixed seed, each asked
  100 times (target: under 1 s);
- envelope encryption of 100 MB: one GenerateDataKey, AES-256-GCM over the data with the
  data key, then Decrypt of the wrapped key and AES-256-GCM decryption, against the raw
  AES-256-GCM rate of the ``cryptography`` package on the same bytes (the floor: envelope
  encryption adds one key unwrap per object, so it should stay within a few percent).

Run: python bench/bench_security.py
"""

from __future__ import annotations

import json
import os
import random
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloudquest.cloud.iam import IamService, IamSpec
from cloudquest.cloud.kms import KeyService, KmsSpec

ACCT = "111122223333"
SERVICES = {"s3": ["GetObject", "PutObject", "DeleteObject", "ListBucket"], "kms": ["Decrypt", "Encrypt", "GenerateDataKey"],
            "dynamodb": ["GetItem", "PutItem", "Scan"], "ec2": ["RunInstances", "DescribeInstances"]}  # fmt: skip
CONDITIONS = [
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"StringLike": {"aws:username": "ops-*"}},
    {"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}},
    {"NumericLessThan": {"s3:max-keys": "100"}},
]


def _statement(rng: random.Random, i: int, principal: bool = False) -> dict:
    service = rng.choice(sorted(SERVICES))
    action = rng.choice([f"{service}:{rng.choice(SERVICES[service])}", f"{service}:Get*", f"{service}:*", f"{service}:*Item"])
    bucket = rng.choice(["reports", "logs", "payroll", "site"])
    resource = rng.choice([f"arn:aws:s3:::{bucket}/*", f"arn:aws:s3:::{bucket}/2026/*", "*", f"arn:aws:dynamodb:eu-west-1:{ACCT}:table/t{i % 4}"])
    st = {"Sid": f"S{i}", "Effect": "Deny" if i % 7 == 0 else "Allow", "Action": action, "Resource": resource}
    if i % 2:
        st["Condition"] = CONDITIONS[i % len(CONDITIONS)]
    if principal:
        st["Principal"] = {"AWS": ACCT}
    return st


def _world() -> IamService:
    rng = random.Random(42)
    n = iter(range(50))

    def doc(k: int, principal: bool = False) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": [_statement(rng, next(n), principal) for _ in range(k)]})

    spec = IamSpec(
        accounts=[{"id": ACCT, "name": "main", "scps": ["scp"]}],
        policies=[
            {"name": "scp", "document": json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"}, *[_statement(rng, next(n)) for _ in range(4)]]})},
            *[{"name": f"id{i}", "document": doc(7)} for i in range(5)],
            {"name": "boundary", "document": json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["s3:*", "kms:*", "dynamodb:*"], "Resource": "*"}, *[_statement(rng, next(n)) for _ in range(4)]]})},
            {"name": "bucket", "document": doc(5, principal=True)},
        ],
        principals=[{"name": "ops-1", "account": ACCT, "policies": [f"id{i}" for i in range(5)], "boundary": "boundary"}],
        resources=[{"arn": "arn:aws:s3:::payroll/*", "account": ACCT, "policy": "bucket"}],
    )  # fmt: skip
    return IamService(None, spec)


def bench_iam(n: int = 100_000) -> None:
    iam = _world()
    statements = iam.statement_count()
    rng = random.Random(7)
    requests = []
    for _ in range(1000):
        service = rng.choice(sorted(SERVICES))
        action = f"{service}:{rng.choice(SERVICES[service])}"
        resource = rng.choice(["arn:aws:s3:::payroll/2026/a.csv", "arn:aws:s3:::reports/q1", "arn:aws:s3:::logs/x",
                               f"arn:aws:dynamodb:eu-west-1:{ACCT}:table/t1"])  # fmt: skip
        ctx = {"aws:SourceIp": (rng.choice(["10.1.2.3", "203.0.113.9"]),), "aws:SecureTransport": (rng.choice(["true", "false"]),),
               "s3:max-keys": (str(rng.randint(1, 500)),)}  # fmt: skip
        requests.append((action, resource, ctx))
    allowed = 0
    start = time.perf_counter()
    for i in range(n):
        action, resource, ctx = requests[i % len(requests)]
        allowed += iam.decide("ops-1", action, resource, ctx, record=False).allowed
    took = time.perf_counter() - start
    print(f"IAM: {n:,} decisions against {statements} statements in {took:.3f} s ({took / n * 1e6:.2f} us each), "
          f"{allowed:,} allowed (target: under 1 s)")  # fmt: skip


def bench_envelope(mb: int = 100, rounds: int = 3) -> None:
    data = os.urandom(mb * 1_000_000)
    iam = IamService(None, IamSpec(
        accounts=[{"id": ACCT, "name": "main"}],
        policies=[{"name": "kp", "document": json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:role/app"}, "Action": "kms:*", "Resource": "*"}]})}],
        principals=[{"name": "app", "kind": "role", "account": ACCT}],
    ))  # fmt: skip
    kms = KeyService(None, KmsSpec(keys=[{"name": "k", "account": ACCT, "policy": "kp"}]), random.Random(0), iam)

    def raw() -> float:  # the floor: AES-256-GCM over the same bytes, both ways, with a key at hand
        key, nonce = AESGCM.generate_key(bit_length=256), os.urandom(12)
        start = time.perf_counter()
        ct = AESGCM(key).encrypt(nonce, data, None)
        AESGCM(key).decrypt(nonce, ct, None)
        return time.perf_counter() - start

    def envelope() -> float:  # GenerateDataKey, encrypt, store; then Decrypt the data key, decrypt
        start = time.perf_counter()
        data_key, blob = kms.generate_data_key("k", "app", context="big-object")
        nonce = os.urandom(12)
        ct = AESGCM(data_key).encrypt(nonce, data, b"big-object")
        del data_key
        out = AESGCM(kms.decrypt(blob, "app", context="big-object")).decrypt(nonce, ct, b"big-object")
        took = time.perf_counter() - start
        assert out == data
        return took

    raw(), envelope()  # warm up: the first pass pays for the memory it touches
    times = [(raw(), envelope()) for _ in range(rounds)]  # interleaved, so both see the same machine
    floor, best = min(t[0] for t in times), min(t[1] for t in times)
    rate = lambda s: 2 * mb / s  # noqa: E731 - MB/s over both directions
    print(f"envelope: {mb} MB sealed and opened in {best:.3f} s ({rate(best):.0f} MB/s); raw AES-256-GCM both ways "
          f"{floor:.3f} s ({rate(floor):.0f} MB/s): the envelope costs {1000 * (best - floor):+.1f} ms "
          f"over the floor (best of {rounds}; one GenerateDataKey and one Decrypt are microseconds)")  # fmt: skip


if __name__ == "__main__":
    bench_iam()
    bench_envelope()
