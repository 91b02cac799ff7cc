"""Mechanisms that a world switches on by naming their section.

Each entry maps a top-level world key to ``attach(cloud, section)``, which builds the
mechanism's state (kept in ``cloud.extensions[key]``) and registers its metric sources
and step hooks. Imports are lazy so a world pays only for what it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cloud import Cloud

# world key -> "module:function" inside cloudquest.cloud
ATTACHERS: dict[str, str] = {
    "hypervisor": "hypervisor:attach",
    "fleet": "fleet:attach",
    "storage": "storage:attach",
    "loadbalancer": "loadbalancer:attach",
    "timeline": "timeline:attach",
    "reliability": "reliability:attach",  # after storage and loadbalancer: it reads both each step
}


def attach_all(cloud: "Cloud", world: dict[str, Any]) -> None:
    for key, target in ATTACHERS.items():
        section = world.get(key)
        if section is None:
            continue
        module_name, func_name = target.split(":")
        module = importlib.import_module(f"{__package__}.{module_name}")
        getattr(module, func_name)(cloud, section)
