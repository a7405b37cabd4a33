"""The Hydra configs of ``openworld pretrain`` (``pretrain.yaml``, and one ``prior/<kind>.yaml`` per kind of
prior): a config root of its own, since its ``prior`` group chooses a kind to *train*, where ``openworld run``'s
``prior`` group chooses a saved prior to *load*."""
