"""Two openworld worlds as YAML files (Tidepools-v0, Shallows-v0), registered by openworld itself.

This package has no code: openworld imports it through the ``openworld.worlds`` entry point and then
registers every ``*.yaml`` file in its folder. ``tidepools.yaml`` names its rule module,
``tide_rules.py`` next to it, under ``rule_modules``; openworld imports that file when the world loads.
"""
