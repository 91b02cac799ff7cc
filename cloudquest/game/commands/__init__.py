"""Every console command, one module per mechanism. Importing this registers them all."""

from . import core, launch  # noqa: F401
from . import hypervisor  # noqa: F401
from . import scheduling  # noqa: F401
from . import reliability  # noqa: F401
from . import storage  # noqa: F401
