"""The hypervisor: one physical host carved into virtual machines.

Each guest is given a slice of the host: a number of virtual CPUs and a block of RAM. The
guest sees them as its own hardware; the hypervisor keeps the books and decides who runs.
This module holds the carving (the part every launch goes through); the chapter on the
hypervisor adds CPU scheduling and memory overcommit on top.
"""

from __future__ import annotations

from .hardware import Host


def claim(host: Host, vcpus: int, ram_mib: int) -> None:
    """Set aside a guest's CPU and RAM slices on ``host`` (the scheduler checked they fit)."""
    host.used_vcpus += vcpus
    host.used_ram_mib += ram_mib


def release(host: Host, vcpus: int, ram_mib: int) -> None:
    host.used_vcpus -= vcpus
    host.used_ram_mib -= ram_mib
    if host.used_vcpus < 0 or host.used_ram_mib < 0:
        raise AssertionError(f"host {host.id} released more than it held")
