"""Docs that quote a command's output quote what it prints today.

A block in README.md or docs/*.md is checked when the line before its opening fence is
``<!-- output of: <command> -->`` (a command of ``tests/conftest.py::DOCUMENTED_COMMANDS``). Matching:

* the block may be an excerpt: its lines must appear in the output in order and contiguously, starting
  anywhere;
* a line ``...`` stands for any number of output lines; a line starting ``$ `` is the prompt, skipped;
* throughput figures (``309 steps/s (79,031 body steps/s)``, ``1,234 agent-steps/s``) depend on the
  machine and match any number; paths are printed absolute and quoted relative to where the command
  ran; trailing blanks are ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^<!-- output of: (?P<command>.+?) -->\n```[a-z]*\n(?P<block>.*?)^```", re.M | re.S)
THROUGHPUT = re.compile(r"[\d,.]+ (steps/s|body steps/s|agent-steps/s)")


def documented_blocks() -> list[tuple[str, str, str]]:
    """``(file, command, block)`` for every marked block of README.md and docs/."""
    blocks = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for match in MARKER.finditer(path.read_text()):
            blocks.append((str(path.relative_to(ROOT)), match["command"], match["block"]))
    return blocks


def normalise(text: str, work: Path | None = None) -> str:
    if work is not None:
        text = text.replace(f"{work.resolve()}/", "").replace(f"{work}/", "")
    text = "\n".join(line.rstrip() for line in text.split("\n"))  # docs do not keep trailing blanks
    return THROUGHPUT.sub(r"N \1", text)


def excerpt_pattern(block: str) -> re.Pattern[str]:
    """A regex that finds the block's lines, in order and contiguous, with ``...`` as any lines."""
    parts = []
    for line in block.splitlines():
        if line.startswith("$ "):
            continue
        parts.append(r"(?:[^\n]*\n)*?" if line.strip() == "..." else re.escape(normalise(line)) + r"\n")
    return re.compile(r"^" + "".join(parts), re.M)


def test_the_docs_mark_the_outputs_they_quote() -> None:
    marked = {(file, command) for file, command, _ in documented_blocks()}
    assert ("README.md", "openworld demo") in marked
    assert ("docs/experiments.md", "openworld run") in marked
    assert ("docs/experiments.md", "openworld run (again)") in marked


def test_the_excerpt_matcher_refuses_what_differs() -> None:
    output = normalise("a\nb 12 steps/s (3 body steps/s)\nc\nd\ne\n")
    assert excerpt_pattern("a\nb 99 steps/s (4 body steps/s)\n...\ne\n").search(output)
    assert excerpt_pattern("c\nd\n").search(output)
    assert not excerpt_pattern("a\nc\n").search(output)  # not contiguous without "..."
    assert not excerpt_pattern("d\nc\n").search(output)  # out of order
    assert not excerpt_pattern("c\nd 1\n").search(output)


@pytest.mark.parametrize(("file", "command", "block"), documented_blocks(),
                         ids=[f"{file}:{command}" for file, command, _ in documented_blocks()])
def test_documented_output_is_what_the_command_prints(documented_outputs, file: str, command: str,
                                                      block: str) -> None:
    output, work = documented_outputs.output(command)
    printed = normalise(output, work)
    if not printed.endswith("\n"):
        printed += "\n"
    assert excerpt_pattern(block).search(printed), (
        f"{file} quotes output of `{command}` that it no longer prints.\n--- quoted:\n{block}\n"
        f"--- printed today:\n{printed}")
