"""Storage clusters the storage and replication tests build on."""

from __future__ import annotations

from cloudquest.cloud.cloud import Cloud
from cloudquest.game.session import new_cloud
from cloudquest.cloud.storage import ObjectStore


def cluster_world(zones=1, racks=3, hosts=4, disks=2, size_gib=1000, read_ms=5.0, storage=None) -> dict:
    """One region of ``zones`` x ``racks`` x ``hosts`` x ``disks``; racks named z<i>r<j>,
    hosts <rack>-h<n>, disks <host>-d<n>."""
    world = {
        "regions": [
            {
                "name": "r1",
                "zones": [
                    {
                        "name": f"z{z}",
                        "racks": [
                            {
                                "name": f"z{z}r{r}",
                                "hosts": [
                                    {
                                        "count": hosts,
                                        "vcpus": 16,
                                        "ram_gib": 64,
                                        "disks": [{"size_gib": size_gib, "count": disks, "read_ms": read_ms}],
                                    }
                                ],
                            }
                            for r in range(racks)
                        ],
                    }
                    for z in range(zones)
                ],
            }
        ],
        "storage": dict(storage or {}),
    }
    return world


def cluster(seed=1, **kw) -> tuple[Cloud, ObjectStore]:
    cloud = new_cloud(cluster_world(**kw), seed=seed)
    return cloud, cloud.get(ObjectStore)


def piece_hosts(store: ObjectStore, chunk) -> list:
    return [store.hw.disks[d].host for d in chunk.pieces if d is not None]


def all_chunks(store: ObjectStore):
    for obj in store.objects.values():
        yield from obj.chunks
