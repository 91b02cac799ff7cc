"""The instance-size catalogue.

Sizes follow AWS's burstable general-purpose family (t3): the vCPU and memory of
``t3.nano`` .. ``t3.xlarge`` as AWS publishes them. The root-disk sizes are the game's
own (AWS attaches a separate EBS volume whose size you choose; 8 GiB is the common AMI
default, which ``nano`` and ``micro`` use here).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    ram_mib: int
    disk_gib: int
    price_per_hour: float  # US$, on-demand, the game's round figures

    @property
    def ram_gib(self) -> float:
        return self.ram_mib / 1024


CATALOGUE: dict[str, InstanceType] = {
    t.name: t
    for t in (
        InstanceType("nano", 2, 512, 8, 0.0052),
        InstanceType("micro", 2, 1024, 8, 0.0104),
        InstanceType("small", 2, 2048, 16, 0.0208),
        InstanceType("medium", 2, 4096, 32, 0.0416),
        InstanceType("large", 2, 8192, 64, 0.0832),
        InstanceType("xlarge", 4, 16384, 128, 0.1664),
    )
}

DEFAULT_TYPE = "small"
