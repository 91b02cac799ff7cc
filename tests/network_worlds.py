"""Small network worlds the network tests build on (full form: ``network.vpcs``)."""

from __future__ import annotations

from typing import Any


def hardware(zones: tuple[str, ...] = ("za", "zb"), hosts: int = 2) -> list[dict[str, Any]]:
    return [
        {
            "name": "r1",
            "zones": [
                {"name": z, "racks": [{"name": f"{z}-r1", "hosts": [{"count": hosts, "vcpus": 64, "ram_gib": 256}]}]}
                for z in zones
            ],
        }
    ]


def two_tier(**network: Any) -> dict[str, Any]:
    """VPC ``v`` 10.0.0.0/16 with an internet gateway: a public subnet ``pub`` (za) routed to
    it and a private ``priv`` (zb); instance ``a`` in pub, ``b`` in priv, default groups."""
    vpc = {
        "name": "v",
        "cidr": "10.0.0.0/16",
        "igw": "igw-v",
        "route_tables": [{"name": "pub-rt", "routes": [{"dest": "0.0.0.0/0", "target": "igw-v"}]}],
        "subnets": [
            {"name": "pub", "zone": "za", "cidr": "10.0.1.0/24", "public": True, "route_table": "pub-rt"},
            {"name": "priv", "zone": "zb", "cidr": "10.0.2.0/24"},
        ],
    }
    vpc.update(network.pop("vpc", {}))
    return {
        "regions": hardware(),
        "network": {"vpcs": [vpc], **network},
        "instances": [{"name": "a", "subnet": "pub"}, {"name": "b", "subnet": "priv"}],
    }
