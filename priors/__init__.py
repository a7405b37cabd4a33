"""openworld's prior catalogue: behaviour priors, skill priors and skills discovered without reward, each
registered next to its definition (``docs/priors.md``).

Importing this package (done through the ``openworld.priors`` entry point) registers them.
"""

from openworld.priors import bc, diayn, metra, skill_vae  # noqa: F401
