"""The Hydra configs of ``openworld pipeline`` (``pipeline.yaml``, and one ``experiment/<name>.yaml`` per pipeline
experiment): a config root of its own, since a pipeline's keys are its stages', not one run's."""
