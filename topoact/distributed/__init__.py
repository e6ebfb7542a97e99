"""Running topoact's heavy steps on Dask distributed (a LocalCluster or a remote scheduler).

- :mod:`topoact.distributed.scheduler`: ``--scheduler local[:N] | tcp://HOST:PORT`` to a client;
- :mod:`topoact.distributed.collect`: collection chunks as Dask tasks writing disjoint slots;
- :mod:`topoact.distributed.tasks`: worker-side helpers (per-process cache, progress events).
"""
from .scheduler import check_scheduler, dask_client

__all__ = ["check_scheduler", "dask_client"]
