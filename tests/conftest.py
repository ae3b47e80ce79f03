"""Shared fixtures: the repository root and the real data folder beside it."""

import copy
import os
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA_ENV = "DGCNN_IE_SHARED_DATA"


def shared_data_dir() -> Path:
    """``$DGCNN_IE_SHARED_DATA`` if set, else ``../shared/data`` beside the repository."""
    override = os.environ.get(SHARED_DATA_ENV)
    return Path(override).expanduser().resolve() if override else REPO_ROOT.parent / "shared" / "data"


def repo_params(overrides: dict | None = None) -> dict:
    """The repository's params.yaml (the only place defaults live) with ``overrides`` merged in."""
    from dgcnn_ie.config import apply_overrides
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
    return apply_overrides(params, overrides or {})


def write_params(path, overrides: dict | None = None) -> Path:
    """Write `repo_params(overrides)` to ``path``; returns the path."""
    path = Path(path)
    path.write_text(yaml.safe_dump(repo_params(overrides), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# The tiny model and schedule the tests train and build (the end-to-end pipeline, tests/test_pipeline.py, states
# what it changes: its models must learn). A test that needs another size states only what differs, e.g. ``tiny_config(model={"dilations": [1]})`` or ``tiny_params(train={"epochs": 3})``.
TINY_MODEL = {"width": 16, "dilations": [1, 2], "heads": 2, "head_size": 8, "subject_encoder": "concat"}
TINY_TRAIN = {"epochs": 1, "batch_size": 32}


def tiny_params(model: dict | None = None, train: dict | None = None, **sections) -> dict:
    """Overrides of params.yaml: `TINY_MODEL` and `TINY_TRAIN` updated by ``model`` and ``train``, plus ``sections``."""
    from dgcnn_ie.config import apply_overrides
    return {"model": apply_overrides(TINY_MODEL, model or {}),
            "train": apply_overrides(TINY_TRAIN, train or {}),
            **copy.deepcopy(sections)}


def tiny_config(model: dict | None = None, train: dict | None = None, **sections):
    """The typed config of the repository's params.yaml with `tiny_params(model, train, **sections)` merged in."""
    from dgcnn_ie.config import config_from_dict
    return config_from_dict(repo_params(tiny_params(model, train, **sections)))


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"{path} absent: real-data tests need the shared data folder beside the repository "
                    f"(../shared/data) or {SHARED_DATA_ENV}=<path to that data folder>")
    return path


class _Payload:
    """Unpickling it runs code: it creates the file ``marker`` (how tests see that a load unpickled)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


def pickle_payload(marker) -> bytes:
    """Pickle bytes that, when loaded, create ``marker``: planted in files a load must never unpickle."""
    import pickle
    return pickle.dumps(_Payload(marker))
