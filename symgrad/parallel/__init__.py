"""Beyond one process: hyperparameter sweeps and data-parallel training on Dask.

- :func:`~symgrad.parallel.sweep.sweep` trains every configuration of a grid, one Dask task
  each, and returns a :class:`~symgrad.parallel.results.SweepResult`.
- :func:`~symgrad.parallel.data_parallel.fit_distributed` trains one model by synchronous
  data-parallel mini-batch steps: each worker the gradient of its rows of a batch, the driver
  the step.

Dask is an optional extra (``pip install 'symgrad[dask]'``); a local cluster of processes or a
scheduler's address are both a ``client=`` away (:mod:`symgrad.parallel.cluster`).
"""
