"""Every console command, one module per mechanism.

Each module declares its commands in a ``CommandSet`` and ends with its mechanism's
record, ``MECHANISM``; the registry (:mod:`cloudquest.game.mechanism`) finds the modules
of this package itself. Importing this package registers nothing.
"""
