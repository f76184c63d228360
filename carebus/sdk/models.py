"""The canonical event models, for SDK users: `from carebus.sdk.models import Result, Observation, ...`.

The same classes as `carebus.events` (generated from `schemas/`); re-exported so code written against the
SDK needs no other carebus import.
"""

from carebus import events as _events
from carebus.events import *  # noqa: F403

__all__ = list(_events.__all__)
