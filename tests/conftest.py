"""Shared fixtures: the repository root and the real data folder beside it."""

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def shared_data() -> Path:
    path = REPO_ROOT.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"{path} absent: real-data tests need the shared data folder beside the repo (/work/shared/data)")
    return path
