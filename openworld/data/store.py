"""Where prior datasets live and how they are named, opened, listed and checked: Minari's dataset root
(``MINARI_DATASETS_PATH``, else ``~/.minari/datasets``), ids ``openworld/<world>/<name>-v0``.

A dataset is written into a hidden staging folder beside its final place and moved there only once it is
complete (:class:`StagedDataset`), so a collection that fails or is interrupted leaves no half dataset under
the id, and an ``overwrite=true`` collection replaces the old dataset only when the new one is whole.

Example:
    >>> dataset_id("Meadow", "smoke")
    'openworld/meadow/smoke-v0'
    >>> dataset_id("Commons", "forager", body=2)
    'openworld/commons/forager-body2-v0'
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from openworld.errors import DatasetError, brief

NAMESPACE = "openworld"
CARD_KEY = "openworld_card"  # the dataset card's key in Minari's metadata.json
DATA_FORMAT = "parquet"  # Minari's Arrow storage, compressed on disk (needs only pyarrow, no jax)
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_-]*")
ID_PATTERN = re.compile(r"openworld/[a-z0-9_.-]+/[a-z][a-z0-9_-]*-v\d+")


def check_dataset_name(name: str) -> str:
    """``name`` if it can be the name part of a dataset id, else a :class:`DatasetError` saying what can."""
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None or re.search(r"-v\d+$", name):
        raise DatasetError(f"dataset={brief(name)} is not a valid dataset name: use lower-case letters, digits, '_' "
                           "and '-', starting with a letter and not ending in -v<N> (the version is added: "
                           "dataset=smoke makes openworld/<world>/smoke-v0)")
    return name


def dataset_id(world_name: str, name: str, body: int | None = None) -> str:
    """The Minari id of dataset ``name`` collected in world ``world_name`` (one per body with several)."""
    suffix = f"-body{body}" if body is not None else ""
    return f"{NAMESPACE}/{world_name.lower()}/{check_dataset_name(name)}{suffix}-v0"


def datasets_root() -> Path:
    """Minari's local dataset root (``MINARI_DATASETS_PATH``, else ``~/.minari/datasets``)."""
    configured = os.environ.get("MINARI_DATASETS_PATH")
    return Path(configured) if configured else Path.home() / ".minari" / "datasets"


def dataset_path(dataset: str) -> Path:
    """The folder of a dataset id under :func:`datasets_root` (it may not exist)."""
    return datasets_root() / dataset


def local_dataset_ids() -> list[str]:
    """The openworld datasets under Minari's root, sorted (folders holding ``data/metadata.json``)."""
    namespace = datasets_root() / NAMESPACE
    if not namespace.is_dir():
        return []
    found = (path.parent.parent.relative_to(datasets_root()).as_posix()
             for path in namespace.glob("*/*/data/metadata.json"))
    return sorted(dataset for dataset in found if not any(part.startswith(".") for part in dataset.split("/")))


def check_dataset_exists(dataset: str) -> Path:
    """The data folder of ``dataset``, or a :class:`DatasetError` listing the local datasets."""
    data = dataset_path(dataset) / "data"
    if ID_PATTERN.fullmatch(str(dataset)) is None or not (data / "metadata.json").is_file():
        known = local_dataset_ids()
        listing = ", ".join(known) if known else "none (openworld collect makes one)"
        raise DatasetError(f"no dataset {brief(dataset)} under {datasets_root()}; local openworld datasets: {listing}")
    return data


def read_metadata(dataset: str) -> dict[str, Any]:
    """Minari's ``metadata.json`` of a local dataset, checked to be JSON with a card.

    Raises:
        DatasetError: an unknown id (listing the local ones), or a metadata file that is not JSON.
    """
    import json

    path = check_dataset_exists(dataset) / "metadata.json"
    try:
        metadata: Any = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(f"{path}: not a readable dataset metadata file ({err}); collect the dataset again "
                           "with overwrite=true") from None
    if not isinstance(metadata, dict) or not isinstance(metadata.get(CARD_KEY), dict):
        raise DatasetError(f"{path}: no {CARD_KEY} in the metadata: not a dataset openworld collect wrote")
    return metadata


def dataset_card(dataset: str) -> dict[str, Any]:
    """The card of a local dataset (:func:`read_metadata`) with Minari's episode and step totals."""
    metadata = read_metadata(dataset)
    card: dict[str, Any] = dict(metadata[CARD_KEY])
    card.update(id=dataset, episodes=metadata.get("total_episodes"), stored_steps=metadata.get("total_steps"))
    return card


def card_sha256(dataset: str) -> str:
    """The SHA-256 (hex) of a local dataset's card, as canonical JSON: what a prior trained on the dataset records,
    so that a dataset collected again under the same id (``overwrite=true``) is told apart.

    Raises:
        DatasetError: an unknown id, or metadata that cannot be read.
    """
    import hashlib
    import json

    card = read_metadata(dataset)[CARD_KEY]
    return hashlib.sha256(json.dumps(card, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class StagedDataset:
    """A dataset being written: a Minari storage in a hidden folder beside the final one, moved into place by
    :meth:`commit`, or removed by :meth:`discard`.

    Args:
        dataset: the final id (recorded in the metadata).
        observation_space, action_space: the spaces of every step.
        env_spec: Gymnasium's spec of the env that rebuilds the world (``recover_environment``).
        overwrite: whether :meth:`commit` may replace an existing dataset.

    Raises:
        DatasetError: the id exists and ``overwrite`` is false (nothing is written).
    """

    def __init__(self, dataset: str, observation_space: Any, action_space: Any, env_spec: Any,
                 overwrite: bool) -> None:
        from minari.dataset.minari_storage import MinariStorage

        self.dataset, self.overwrite = dataset, overwrite
        self.final = dataset_path(dataset)
        check_free(dataset, overwrite)
        self.staging = self.final.parent / f".{self.final.name}.writing-{os.getpid()}"
        shutil.rmtree(self.staging, ignore_errors=True)  # left by a killed collection of this process id
        self.staging.mkdir(parents=True)
        self.storage = MinariStorage.new(self.staging / "data", observation_space=observation_space,
                                         action_space=action_space, env_spec=env_spec, data_format=DATA_FORMAT,
                                         jpeg_encoding=False)  # exact views: JPEG is lossy
        self.storage.update_metadata({"dataset_id": dataset})
        # Minari walks every file of the dataset to update its size after each episode written (quadratic in
        # episodes: 90% of a 256-world collection's time). The size is measured once, at commit.
        setattr(self.storage, "get_size", lambda: 0.0)  # noqa: B010 (an instance attribute over the method)

    def commit(self, metadata: Mapping[str, Any]) -> None:
        """Write the metadata and move the complete dataset to its id (replacing an old one if allowed)."""
        size = type(self.storage).get_size(self.storage)
        self.storage.update_metadata({**metadata, "dataset_size": size})
        ensure_namespace()
        if self.final.exists():
            check_free(self.dataset, self.overwrite)
            old = self.final.parent / f".{self.final.name}.replaced-{os.getpid()}"
            os.replace(self.final, old)
            os.replace(self.staging, self.final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.staging, self.final)

    def discard(self) -> None:
        """Remove the staging folder (a failed or interrupted collection leaves nothing)."""
        shutil.rmtree(self.staging, ignore_errors=True)


def check_free(dataset: str, overwrite: bool) -> None:
    """Refuse an existing dataset id unless ``overwrite``."""
    if not overwrite and dataset_path(dataset).exists():
        raise DatasetError(f"dataset {dataset} already exists in {datasets_root()}; nothing was written. Choose "
                           "another dataset= name, or give overwrite=true to replace it")


def ensure_namespace() -> None:
    """Minari's namespace metadata for ``openworld/`` (what ``minari`` lists namespaces by)."""
    from minari.namespace import create_namespace, list_local_namespaces

    if NAMESPACE not in list_local_namespaces():
        create_namespace(NAMESPACE, description="Datasets written by openworld collect (docs/data.md).")


def iterate_episodes(dataset: str) -> Iterator[dict[str, Any]]:
    """The stored episodes of a local dataset as Minari decodes them (dicts of arrays), naming the file of a
    corrupt or truncated one.

    Raises:
        DatasetError: an unknown id, or a data file that cannot be read.
    """
    from minari.dataset.minari_storage import MinariStorage

    data = check_dataset_exists(dataset)
    try:
        storage = MinariStorage.read(data)
        count = storage.total_episodes
    except Exception as err:  # Minari raises ValueError, AssertionError, KeyError... on a broken metadata file
        raise DatasetError(f"{data / 'metadata.json'}: cannot open the dataset ({type(err).__name__}: "
                           f"{brief(str(err))}); collect it again with overwrite=true") from None
    for index in range(count):
        try:
            yield next(iter(storage.get_episodes([index])))
        except Exception as err:  # pyarrow's ArrowInvalid, OSError, ...: a truncated or altered file
            raise DatasetError(f"{data / str(index)}: episode {index} of {dataset} cannot be read "
                               f"({type(err).__name__}: {brief(str(err))}); the file is truncated or corrupt: "
                               "collect the dataset again with overwrite=true") from None
