"""Hydra's launcher configs (``hydra/launcher=local|slurm|ray_local``), on the search path of every openworld command
that sweeps (``run``, ``collect``, ``pretrain``, ``pipeline``): one place for how a multirun is launched."""
