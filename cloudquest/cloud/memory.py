"""Guest memory on one host: overcommit, the balloon, and host swapping.

What real hypervisors do (Waldspurger, "Memory Resource Management in VMware ESX
Server", OSDI 2002; VMware's "Understanding Memory Resource Management in VMware
vSphere"; Xen's balloon driver and ``xl mem-set``; KVM's virtio-balloon):

- A guest is given RAM and, in time, fills it: what the applications do not use
  becomes the guest's page cache. From outside, the hypervisor cannot tell a cache page
  from a precious one, so every page the guest holds costs the host a real page.
- **Overcommit**: the guests' RAM may add up to more than the host has, betting they
  will not all want it at once.
- **Ballooning**: a driver inside the guest (the balloon) is told a target; it
  allocates guest pages and hands them back to the hypervisor. The *guest* chooses which
  pages to give up (free pages and cache first), so this is cheap while the target stays
  above what the guest really uses (its working set). Below that the guest pages its
  own memory out to its virtual disk: slower, but the guest still picks cold pages.
- **Host swapping** is the last resort: when the guests hold more than the host has,
  the hypervisor writes guest pages to its own swap without knowing which matter, and
  every touch of one stalls the guest for a disk read. It is the heavy slowdown that
  operators overcommit memory to avoid.

Where we simplify (game tunings, not published numbers):

- A guest holds exactly its current balloon size (its RAM, until ballooned down).
- The balloon moves towards its target at ``BALLOON_RATE_MIB_PER_S`` (1 GiB per simulated
  second), so a balloon takes visible time to inflate.
- Host swap comes out of every guest in proportion to what it holds, so a fraction
  ``f`` of each guest's working set sits in swap; a guest's slowdown is
  ``1 + HOST_SWAP_PENALTY * f + GUEST_SWAP_PENALTY * g`` where ``g`` is the share of its
  working set the guest paged out itself. Touching swapped memory costs a disk read
  (about 100 us on an SSD) instead of a RAM access (about 100 ns), so even small
  fractions hurt; 50 and 5 are chosen so the difference between ballooning and host
  swapping is plain to see, not measured from a particular system.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB_PER_GIB = 1024
BALLOON_RATE_MIB_PER_S = 1024
HOST_SWAP_PENALTY = 50.0
GUEST_SWAP_PENALTY = 5.0
MIN_BALLOON_MIB = 512  # below this a guest cannot keep its kernel and services alive


@dataclass(eq=False)
class GuestMemory:
    """One guest's memory: configured RAM, balloon target, what it holds now."""

    ram_mib: int
    working_set_mib: int
    target_mib: int
    current_mib: int
    host_swap_mib: float = 0.0  # of its pages, how many the host swapped out
    guest_swap_mib: int = 0  # of its working set, how much it paged out itself
    slowdown: float = 1.0

    @property
    def balloon_mib(self) -> int:
        """Pages the balloon holds (given back to the host)."""
        return self.ram_mib - self.current_mib


class HostMemory:
    """The RAM of one host and the guests that share it."""

    def __init__(self, ram_mib: int) -> None:
        self.ram_mib = ram_mib
        self.guests: dict[str, GuestMemory] = {}
        self.swap_mib = 0.0
        self.moving = False  # some balloon is still on its way to its target

    def add(self, name: str, ram_mib: int, working_set_mib: int, target_mib: int | None = None) -> GuestMemory:
        target = ram_mib if target_mib is None else target_mib
        guest = GuestMemory(ram_mib, working_set_mib, target, target)
        self.guests[name] = guest
        self.refresh()
        return guest

    def remove(self, name: str) -> None:
        del self.guests[name]
        self.refresh()

    def set_working_set(self, name: str, working_set_mib: int) -> None:
        self.guests[name].working_set_mib = working_set_mib
        self.refresh()

    def set_target(self, name: str, target_mib: int) -> None:
        self.guests[name].target_mib = target_mib
        self.moving = True

    def step(self, ms: int) -> None:
        """Move every balloon towards its target for ``ms`` of simulated time."""
        if not self.moving:
            return
        budget = BALLOON_RATE_MIB_PER_S * ms // 1000
        moving = False
        for guest in self.guests.values():
            gap = guest.target_mib - guest.current_mib
            if not gap:
                continue
            move = max(-budget, min(budget, gap))
            guest.current_mib += move
            if guest.current_mib != guest.target_mib:
                moving = True
        self.moving = moving
        self.refresh()

    def refresh(self) -> None:
        held = sum(g.current_mib for g in self.guests.values())
        self.swap_mib = float(max(0, held - self.ram_mib))
        fraction = self.swap_mib / held if held else 0.0
        for guest in self.guests.values():
            guest.host_swap_mib = guest.current_mib * fraction
            guest.guest_swap_mib = max(0, guest.working_set_mib - guest.current_mib)
            ws = guest.working_set_mib
            paged = guest.guest_swap_mib / ws if ws else 0.0
            guest.slowdown = 1.0 + HOST_SWAP_PENALTY * fraction + GUEST_SWAP_PENALTY * paged

    @property
    def held_mib(self) -> int:
        return sum(g.current_mib for g in self.guests.values())

    @property
    def configured_mib(self) -> int:
        return sum(g.ram_mib for g in self.guests.values())
