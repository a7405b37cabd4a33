"""Prior data: lifetimes recorded as Minari datasets (``openworld collect``), their cards, and checked loading.

See docs/data.md for the episode convention, what a step stores and the card's keys.
"""

from __future__ import annotations
