"""Running topoact's heavy steps on Dask distributed (a LocalCluster or a remote scheduler).

- :mod:`topoact.distributed.scheduler`: ``--scheduler local[:N] | tcp://HOST:PORT`` to a client,
  and ``use_scheduler`` (the default scheduler of a block of work);
- :mod:`topoact.distributed.collect`: collection chunks as Dask tasks writing disjoint slots;
- :mod:`topoact.distributed.tasks`: worker-side helpers (per-process cache, progress events),
  ``map_tasks`` (the bootstrap resamples, probes per layer, k-NN spans and sweep settings use
  it), ``NpyRows`` / ``ZarrRows`` (workers read their rows of a run's ``.npy`` or Zarr layer
  themselves) and the
  Mapper's cover elements as tasks.
"""
from .scheduler import active_scheduler, check_scheduler, dask_client, use_scheduler

__all__ = ["active_scheduler", "check_scheduler", "dask_client", "use_scheduler"]
