"""Hydra's config root for ``openworld run`` (found as ``pkg://openworld.experiments.conf``)."""
