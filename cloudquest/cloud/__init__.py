"""The simulated cloud: pure, deterministic, no UI and no I/O.

Hardware -> Hypervisor -> Virtual resources -> APIs; the game sits on top.
"""

from .catalogue import CATALOGUE, InstanceType
from .cloud import Cloud, make_rng
from .control_plane import STEPS, Instance
from .errors import CloudError
from .events import Event, EventLog
from .hardware import Hardware, Health, Host
from .scheduler import NoValidHost, Request, Scheduler, SchedulerConfig

__all__ = [
    "CATALOGUE",
    "STEPS",
    "Cloud",
    "CloudError",
    "Event",
    "EventLog",
    "Hardware",
    "Health",
    "Host",
    "Instance",
    "InstanceType",
    "NoValidHost",
    "Request",
    "Scheduler",
    "SchedulerConfig",
    "make_rng",
]
