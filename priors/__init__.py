"""openworld's prior catalogue: behaviour priors, skill priors and skills discovered without reward, each
registered next to its definition (``docs/priors.md``).

Importing this package (done through the ``openworld.priors`` entry point) registers them.
"""
from openworld.priors import diayn, metra  # noqa: F401
