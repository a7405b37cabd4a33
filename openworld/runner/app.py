"""The Hydra app behind ``openworld run``: composes the config (``experiments/conf``, with the groups
generated from the registries), runs it, and turns the errors a user can act on into one line on stderr
and an exit code, with the nearest existing key after a misspelt override.

Exit codes: 0 done; 1 Hydra refused the command line (unknown choice, bad override); 2 the run refused
(:func:`user_error`).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from openworld.errors import AgentError, CheckpointError, DatasetError, PriorError, RunError, SpecError, UnknownIdError
from openworld.runner.groups import choose_world_files, register_config_groups
from openworld.runner.runner import run_experiment
from openworld.yaml_data import bounded_loader

CONFIG_PATH = "pkg://openworld.experiments.conf"
# The errors whose message says what to do: printed without a traceback.
USER_ERRORS = (RunError, SpecError, UnknownIdError, CheckpointError, AgentError, PriorError, DatasetError)


def hydra_main(argv: Sequence[str]) -> int:
    """Run the Hydra app with these command-line arguments (``-m`` for a multirun); returns the exit code."""
    import hydra
    from hydra.core.hydra_config import HydraConfig


    prepared = prepare_command_line(argv, "openworld run")
    if prepared is None:
        return 2
    argv = prepared
    failures: list[str] = []

    @hydra.main(config_path=CONFIG_PATH, config_name="config", version_base="1.3")
    def app(cfg: Any) -> None:
        hydra_config = HydraConfig.get()
        run_dir = Path(hydra_config.runtime.output_dir)
        overrides = list(hydra_config.overrides.task)
        try:
            run_experiment(cfg, run_dir, overrides, hydra_config=hydra_config)
        except Exception as err:
            message = user_error(err)
            if message is None:
                raise
            remove_empty_run_dir(run_dir)
            print(f"openworld run: error: {message}", file=sys.stderr, flush=True)
            failures.append(message)
            if hydra_config.mode is not None and hydra_config.mode.name == "MULTIRUN":
                raise RunError(message) from None  # a failed job fails the sweep (its exit code)

    saved_argv = sys.argv
    sys.argv = ["openworld run", *argv]
    try:
        with bounded_config_yaml():
            app()
    except SystemExit as exit_:  # Hydra exits on its own errors (unknown choice, bad override)
        code = exit_.code if isinstance(exit_.code, int) else 1
        if code:
            hint = override_hint(argv)
            if hint:
                print(f"openworld run: {hint}", file=sys.stderr, flush=True)
        return code
    finally:
        sys.argv = saved_argv
    return 2 if failures else 0


def hydra_command(argv: Sequence[str], command: str, config_path: str, config_name: str,
                  job: Callable[[Any, list[str]], str], errors: tuple[type[BaseException], ...]) -> int:
    """Run a one-job openworld command through Hydra (``openworld collect``, ``openworld pretrain``): prepare the
    command line, compose ``config_name`` under ``config_path`` (YAML bounded as for ``openworld run``), call
    ``job(cfg, overrides)`` and print the line it returns; an error of ``errors`` becomes one line on stderr.

    Returns:
        0 done; 1 Hydra refused the command line; 2 the job refused (``errors``), or a world file was refused.
    """
    import hydra

    prepared = prepare_command_line(argv, command)
    if prepared is None:
        return 2
    failures: list[str] = []

    @hydra.main(config_path=config_path, config_name=config_name, version_base="1.3")
    def app(cfg: Any) -> None:
        from hydra.core.hydra_config import HydraConfig

        try:
            line = job(cfg, list(HydraConfig.get().overrides.task))
        except errors as err:
            print(f"{command}: error: {err}", file=sys.stderr, flush=True)
            failures.append(str(err))
            return
        print(f"{command}: {line}", flush=True)

    saved_argv = sys.argv
    sys.argv = [command, *prepared]
    try:
        with bounded_config_yaml():
            app()
    except SystemExit as exit_:  # Hydra exits on its own errors (unknown choice, bad override)
        return exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = saved_argv
    return 2 if failures else 0


def prepare_command_line(argv: Sequence[str], command: str) -> list[str] | None:
    """What every Hydra command of openworld needs before composing: the catalogues registered, each world file
    named in ``world=`` registered and replaced by its group choice, the config groups generated. Returns the
    command line, or None after printing the error of a world file refused (``command`` names it)."""
    from openworld.plugins import load_plugins

    load_plugins("openworld.worlds")  # registers the catalogues
    try:
        out = choose_world_files(argv)  # world=path/to/x.yaml: registered, and chosen by its group choice
    except SpecError as err:
        print(f"{command}: error: {err}", file=sys.stderr, flush=True)
        return None
    register_config_groups()
    return out


def remove_empty_run_dir(run_dir: Path) -> None:
    """Remove the folders Hydra made for a refused run (it makes the run directory before the run is
    checked), as long as they are empty, up to the current directory: a refusal leaves nothing behind."""
    here = Path.cwd().resolve()
    folder = run_dir.resolve()
    while folder != here and here in folder.parents:
        try:
            folder.rmdir()  # only an empty folder; anything recorded stays
        except OSError:
            return
        folder = folder.parent


@contextmanager
def bounded_config_yaml() -> Iterator[None]:
    """While Hydra composes: the YAML loader OmegaConf reads config files with (the package's and any on
    ``hydra.searchpath``) also refuses a document too large once its aliases are expanded.

    OmegaConf copies every alias into its own node, so a 500-byte file of nested anchors would exhaust
    memory during composition, before any check of ours could run (``openworld.yaml_data``).
    """
    import yaml
    from hydra.errors import ConfigCompositionException
    from omegaconf import _utils

    original = _utils.get_yaml_loader

    class HydraBoundedLoader(bounded_loader(original())):  # type: ignore[misc]
        def get_single_data(self) -> Any:
            try:
                return super().get_single_data()
            except yaml.constructor.ConstructorError as err:  # Hydra prints this kind as one line
                raise ConfigCompositionException(str(err)) from None

    _utils.get_yaml_loader = lambda: HydraBoundedLoader  # read by OmegaConf.load at each call
    try:
        yield
    finally:
        _utils.get_yaml_loader = original


def user_error(err: BaseException) -> str | None:
    """The message of an error the user can act on (printed without a traceback), else None."""
    return str(err) if isinstance(err, USER_ERRORS) else None


def override_hint(argv: Sequence[str]) -> str | None:
    """After Hydra refused a ``world.<key>=`` or ``agent.<key>=`` override: the nearest existing key of
    the chosen world or agent (``world=...`` on the command line, else the root config's default)."""
    from hydra.core.config_store import ConfigStore

    repository = ConfigStore.instance().repo
    choices = dict(default_choices())
    for argument in argv:
        key, _, value = argument.partition("=")
        if key in ("world", "agent"):
            choices[key] = value
    for argument in argv:
        if "=" not in argument or argument.startswith(("+", "~", "-")):
            continue
        key = argument.split("=", 1)[0]
        group = key.split(".", 1)[0]
        if group not in ("world", "agent") or "." not in key:
            continue
        entry = repository.get(group, {}).get(f"{choices.get(group)}.yaml")
        if entry is None:
            continue
        node, path = entry.node, key.split(".")[1:]
        if has_path(node, path):
            continue
        parent, known = longest_prefix(node, path)
        close = difflib.get_close_matches(path[len(parent)], known, n=1)
        where = ".".join([group, *parent])
        suggestion = f"Did you mean {where}.{close[0]}? " if close else ""
        keys = f"Keys of {where} ({group}={choices.get(group)}): {', '.join(known)}." if known else \
            f"{where} ({group}={choices.get(group)}) has no keys yet."
        return f"{key}: no such key. {suggestion}{keys} A new key is added with +{argument} (docs/experiments.md)."
    return None


def default_choices() -> dict[str, str]:
    """The root config's default ``world`` and ``agent`` (its defaults list's group choices)."""
    import yaml

    text = resources.files("openworld.experiments").joinpath("conf", "config.yaml").read_text()
    out = {}
    for item in yaml.safe_load(text).get("defaults", []):
        if isinstance(item, dict):
            out.update({str(k): str(v) for k, v in item.items()})
    return out


def has_path(node: Any, path: Sequence[str]) -> bool:
    """Whether ``node`` (mappings and sequences) holds the key path ``path``."""
    for part in path:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, Sequence) and not isinstance(node, str) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def longest_prefix(node: Any, path: Sequence[str]) -> tuple[list[str], list[str]]:
    """The longest existing prefix of ``path`` in ``node``, and the keys found under it."""
    prefix: list[str] = []
    for part in path[:-1]:
        if isinstance(node, Mapping) and part in node and isinstance(node[part], Mapping):
            node, prefix = node[part], [*prefix, part]
        else:
            break
    return prefix, sorted(map(str, node)) if isinstance(node, Mapping) else []
