"""The instance-size catalogue.

Sizes follow AWS's burstable general-purpose family (t3): the vCPU and memory of
``t3.nano`` .. ``t3.xlarge`` as AWS publishes them. The root-disk sizes are the game's
own (AWS attaches a separate EBS volume whose size you choose; 8 GiB is the common AMI
default, which ``nano`` and ``micro`` use here).

Prices are AWS's on-demand Linux prices in **us-east-1** (N. Virginia), whatever region
a world names: other regions charge somewhat more (eu-west-1 about a tenth).

T3 is *burstable*: a t3 instance's price buys a **baseline** share of each vCPU, and it
earns CPU credits at that rate (one credit is one vCPU at 100% for one minute; AWS,
"Key concepts and definitions for burstable performance instances", credit table):

===========  =======================  ====================  ======================
type         baseline per vCPU        credits earned / hour  most credits banked
===========  =======================  ====================  ======================
nano         5%                       6                     144
micro        10%                      12                    288
small        20%                      24                    576
medium       20%                      24                    576
large        30%                      36                    864
xlarge       40%                      96                    2304
===========  =======================  ====================  ======================

T3 instances launch in *unlimited* mode by default: once the credits banked are spent,
CPU above the baseline is billed as surplus credits at a flat **$0.05 per vCPU-hour**
(Linux; AWS, "T2/T3/T4g Unlimited Mode Pricing"). The accounting lives with the cost
(cloud/reliability.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

# Surplus CPU credits of a T3 instance in unlimited mode, Linux: US$ per vCPU-hour.
T3_UNLIMITED_USD_PER_VCPU_HOUR = 0.05
CREDIT_BANK_HOURS = 24  # a T3 instance banks at most one day of earned credits


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    ram_mib: int
    disk_gib: int
    price_per_hour: float  # US$, on-demand, Linux, us-east-1
    baseline_pct: int = 100  # CPU it is priced for, per vCPU (t3: 5 to 40)

    @property
    def ram_gib(self) -> float:
        return self.ram_mib / 1024

    # The credit figures are read for every billed instance at every step
    # (cloud/reliability.py), millions of times a run: each is worked out once per type,
    # by the same expression, so the floats are the ones a plain property would give.
    # (cached_property stores in the instance's __dict__, which a frozen dataclass allows.)
    @cached_property
    def baseline_vcpus(self) -> float:
        """The CPU its price covers, in vCPUs running flat out."""
        return self.vcpus * self.baseline_pct / 100

    @cached_property
    def credits_per_hour(self) -> float:
        """CPU credits earned per hour: one credit is one vCPU at 100% for one minute."""
        return self.baseline_vcpus * 60

    @cached_property
    def max_credits(self) -> float:
        return self.credits_per_hour * CREDIT_BANK_HOURS


CATALOGUE: dict[str, InstanceType] = {
    t.name: t
    for t in (
        InstanceType("nano", 2, 512, 8, 0.0052, 5),
        InstanceType("micro", 2, 1024, 8, 0.0104, 10),
        InstanceType("small", 2, 2048, 16, 0.0208, 20),
        InstanceType("medium", 2, 4096, 32, 0.0416, 20),
        InstanceType("large", 2, 8192, 64, 0.0832, 30),
        InstanceType("xlarge", 4, 16384, 128, 0.1664, 40),
    )
}

DEFAULT_TYPE = "small"
