"""``openworld priors``: the registered kinds of prior and the priors in the local store, one line each."""

from __future__ import annotations

import json
from typing import Any

from openworld.errors import PriorError


def format_kinds() -> str:
    """One line per registered kind: id, how it learns, summary."""
    from openworld.registry import prior_entry, prior_ids

    lines = [f"{'kind':<16} {'learns':<8} summary"]
    for kind in prior_ids():
        entry = prior_entry(kind)
        lines.append(f"{kind:<16} {entry.training:<8} {entry.summary}")
    return "\n".join(lines)


def format_store() -> str:
    """One line per prior in the store: id, kind, what it learnt from, its monitored validation figure."""
    from openworld.prior.format import local_prior_ids, priors_root, read_prior_header

    ids = local_prior_ids()
    if not ids:
        return f"no priors in {priors_root()} (openworld pretrain ... name=<name> saves one there)"
    lines = [f"{'id':<28} {'kind':<14} {'learnt from':<44} figures"]
    for prior in ids:
        try:
            header = read_prior_header(prior)
        except PriorError as err:
            lines.append(f"{prior:<28} unreadable: {err}")
            continue
        source = ", ".join(str(d.get("id")) for d in header.get("datasets", [])) or f"world {header.get('world')}"
        figures = ", ".join(f"{key} {value:.3g}" for key, value in sorted(header.get("metrics", {}).items())
                            if key.startswith(("val/", "coverage/")))[:80]
        lines.append(f"{prior:<28} {header.get('prior')!s:<14} {source:<44} {figures}")
    return "\n".join(lines)


def format_header(header: dict[str, Any]) -> str:
    """A prior file's header as indented JSON."""
    return json.dumps(header, indent=2)
