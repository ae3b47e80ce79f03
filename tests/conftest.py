"""Shared fixtures: the repository root and the real data folder beside it."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA_ENV = "DGCNN_IE_SHARED_DATA"


def shared_data_dir() -> Path:
    """``$DGCNN_IE_SHARED_DATA`` if set, else ``../shared/data`` beside the repository."""
    override = os.environ.get(SHARED_DATA_ENV)
    return Path(override).expanduser().resolve() if override else REPO_ROOT.parent / "shared" / "data"


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
