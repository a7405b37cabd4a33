"""The exceptions openworld raises at its boundaries (world files, ids, runs, checkpoints), in one place.

Each is raised with a message a user can act on: it names the file, key, id or option at fault and,
where one exists, the nearest valid choice. Callers tell them apart by type, never by message text.
"""

from __future__ import annotations

import reprlib


class SpecError(ValueError):
    """A world spec is malformed: the message names the file, the key path and the problem."""


class UnknownIdError(KeyError):
    """An id that no registry entry has; the message lists what exists."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class UnknownVariantError(UnknownIdError):
    """A variant name the world does not define; the message lists the ones it does."""


class AgentError(TypeError):
    """An agent that cannot be built as configured (a keyword its factory does not take); the message names
    the agent and the configuration."""


class RunError(RuntimeError):
    """A run that cannot start as asked (an occupied run directory, nothing to resume, a bad run key...)."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt, truncated, or from a different run."""


class RecordingError(ValueError):
    """A recording that cannot be read as it was written: a chunk file truncated or altered since (its checksum
    or size differs from the manifest's), or a manifest that is not JSON; the message names the file."""


class DatasetError(ValueError):
    """A prior-data dataset that cannot be written or used as asked: an unknown id, a name that is not a valid id,
    an existing id without ``overwrite=true``, a corrupt file, or a world or observation space other than its
    use expects; the message names the dataset (and file) and what to do."""


class PriorError(ValueError):
    """A prior that cannot be trained, saved or used as asked: an unknown kind or id, a corrupt or foreign file, a
    prior whose observation or action space differs from the world's, a dataset it cannot learn from; the message
    names the prior (and file) and what to do."""


BRIEF_CHARS = 80
# reprlib stops at these sizes and depths, so that a value with a million items (or one shared node
# reached a million ways) is never formatted in full.
_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxstring, _BRIEF.maxother = 3, BRIEF_CHARS, BRIEF_CHARS
_BRIEF.maxtuple = _BRIEF.maxlist = _BRIEF.maxdict = _BRIEF.maxset = _BRIEF.maxfrozenset = 6


def brief(value: object, limit: int = BRIEF_CHARS) -> str:
    """A short ``repr`` of a value from a file or a command line, for error messages: cut to ``limit``
    characters, never formatted in full (a huge value would make the message itself the problem).

    Example:
        >>> brief("x" * 200, limit=12)
        "'xxxxxxxx..."
        >>> brief(list(range(100)))
        '[0, 1, 2, 3, 4, 5, ...]'
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"<an integer of about {int(value.bit_length() * 0.30103):,} digits>"  # str() would refuse past 4,300
    text = _BRIEF.repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
