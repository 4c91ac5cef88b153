"""Leases of a per-host cap shared by several Downloaders or processes, in one place.

- ``source``: where leases come from: ``HostLeases`` (take, give back) and
  ``LocalLeases`` (the Downloaders of one process);
- ``semaphore``: ``SemaphoreLeases``, a Dask cluster's (``distributed`` is
  imported only when a lease is first taken);
- ``book``: ``LeaseBook``, how many to ask for, keep, park, give back (pure);
- ``connections``: ``ConnectionLeases``, a Downloader's leases carried out
  on the event loop (imported by the Downloader only: it loads the engine).

Importing this package loads neither the engine nor ``distributed``.
"""

from __future__ import annotations

from .semaphore import SemaphoreLeases
from .source import HostLeases, LocalLeases

__all__ = ["HostLeases", "LocalLeases", "SemaphoreLeases"]
