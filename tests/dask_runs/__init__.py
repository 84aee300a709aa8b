"""Workflows run on a Dask ``LocalCluster`` of worker processes (``DaskExecutor``)."""
