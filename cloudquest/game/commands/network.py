"""The network's record: the VPC every instance is plugged into (cloud/network.py).

Every world has a network (one /20 per zone unless the world's ``network`` section
carves its own subnets); the launch pipeline's ``assign_nic`` and ``configure_firewall``
steps are its work.
"""

from __future__ import annotations

from ...cloud import network as network_module
from ..mechanism import Mechanism

MECHANISM = Mechanism(
    name="network",
    summary="the VPC: subnets per zone, private and public addresses, the default security group",
    section=network_module.NetworkSpec,
    attach=network_module.attach,
    always=True,
    check=network_module.check_world,
)
