"""The stage runner shared by every stage: arguments, the validated config, logging, one-line errors.

    python -m dgcnn_ie.stages <stage> [--params params.yaml] [stage options]

It validates the whole params file before the stage does any work (a typo'd key, a wrong
type or an unknown choice stops every stage, not only the one that reads it), hands the
stage the config limited to its declared ``PARAMS``, and turns expected errors (data and
params problems, `DataError`) into one line ``error: <file:line>: <reason>`` and exit
status 2; any other exception is a bug and keeps its traceback. Only the chosen stage's
module is imported, so ``--help`` of a stage that does not train never loads TensorFlow.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from types import ModuleType

from ..config import PARAMS_FILE, check_keys, load_config
from ..data import DataError
from ..utils import log

STAGES = ("prepare", "folds", "word2vec", "train", "evaluate", "cv_raw", "clean", "prior", "cv", "ensemble",
          "submit", "report")
EXIT_ERROR = 2


def stage_module(name: str) -> ModuleType:
    """The module of stage ``name``, with its PARAMS checked against the config schema."""
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    module = importlib.import_module(f"{__package__}.{name}")
    check_keys(module.PARAMS)
    return module


def run_stage(name: str, params_path: str = PARAMS_FILE, **options):
    """Run stage ``name`` with the params at ``params_path`` (what the command line does, minus error
    handling); returns what the stage returns."""
    module = stage_module(name)
    config = load_config(params_path)
    return module.run(config.view(module.PARAMS, f"stage {name}"), **options)


def _usage() -> str:
    return (f"usage: python -m {__package__} <stage> [--params FILE] [options]\n"
            f"stages: {', '.join(STAGES)} (each: --help)\n")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(_usage())
        return 0 if argv else EXIT_ERROR
    name = argv[0]
    if name not in STAGES:
        sys.stderr.write(f"error: unknown stage {name!r}\n" + _usage())
        return EXIT_ERROR
    module = stage_module(name)
    parser = argparse.ArgumentParser(prog=f"python -m {__package__} {name}",
                                     description=(module.__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--params", default=PARAMS_FILE, help=f"parameters file (default {PARAMS_FILE})")
    if hasattr(module, "add_arguments"):
        module.add_arguments(parser)
    options = vars(parser.parse_args(argv[1:]))
    params_path = options.pop("params")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    try:
        run_stage(name, params_path, **options)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    log(f"stage {name}: done in {time.perf_counter() - started:.1f}s")
    return 0
