"""CloudQuest: a terminal game about how a cloud works inside."""

__version__ = "0.1.0"
ENGINE_VERSION = "5"  # bump when the same commands could give a different event log
