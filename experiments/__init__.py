"""Hydra experiment configs."""
