"""The stage runner shared by every stage: arguments, the validated config, logging, one-line errors.

    python -m dgcnn_ie.stages <stage> [--params params.yaml] [stage options]

It validates the whole params file before the stage does any work (a typo'd key, a wrong
type or an unknown choice stops every stage, not only the one that reads it), removes what
killed processes left behind (`files.remove_stale_temps`), hands the stage the config
limited to its declared ``PARAMS``, and turns expected errors into one line ``error: <file:line
or key or path>: <reason>`` and exit status 2: data, params and model-file problems (`DataError`), a
missing input file, and any other OS failure (a read-only target, a folder where a file is expected,
a full disk, no permission: ``error: submission/x.json: Read-only file system (EROFS)``); an atomic
write leaves the old output as it was and no temp file. Any other exception is a bug and keeps its
traceback. SIGTERM and SIGINT stop the stage cleanly: temp files are removed on the way out, and a
training resumes from its last epoch checkpoint on the next run (exit status 128 + signal).
Only the chosen stage's module is imported, so ``--help`` of a stage that does not train
never loads TensorFlow; TensorFlow's C++ log lines are off unless ``TF_CPP_MIN_LOG_LEVEL`` is set
(`utils.quiet_tensorflow`).
"""
from __future__ import annotations

import importlib
import signal
import sys
import time
from types import ModuleType

from .. import layout
from ..config import PARAMS_FILE, Config, check_keys, load_config
from ..data import DataError
from ..files import remove_stale_temps
from ..utils import (EXIT_ERROR, OneLineParser, Stopped, error_exit, log, os_error_message, quiet_native_logs,
                     quiet_tensorflow, stop_on_signals)

STAGES = ("prepare", "folds", "word2vec", "train", "evaluate", "cv_raw", "clean", "prior", "cv", "ensemble",
          "submit", "report")


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
    config = load_config(params_path)          # before the stage's imports (TensorFlow): errors come first
    return _run(stage_module(name), config, **options)


def _run(module: ModuleType, config: Config, **options):
    """Sweep killed runs' temp files, then run the stage on its view of ``config``.

    A stage's optional ``position(config, **options) -> (k, N)`` gets the whole config: it only says
    which of the N models of its kind this run trains, for the progress lines (the one read that is
    not limited to the stage's PARAMS, as it cannot change any output)."""
    for path in remove_stale_temps(layout.OUTPUT_ROOTS):
        log(f"removed {path}: left behind by a killed run")
    if hasattr(module, "position"):
        options["position"] = module.position(config, **options)
    name = module.__name__.rpartition(".")[2]
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
        return error_exit(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    quiet_tensorflow()
    config = None
    if not {"-h", "--help"} & set(argv[1:]):      # a params error is reported before TensorFlow loads
        pre = OneLineParser(add_help=False)
        pre.add_argument("--params", default=PARAMS_FILE)
        try:
            config = load_config(pre.parse_known_args(argv[1:])[0].params)
        except DataError as e:
            return error_exit(str(e))
    with quiet_native_logs():
        module = stage_module(name)
    parser = OneLineParser(prog=f"python -m {__package__} {name}",
                                     description=(module.__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--params", default=PARAMS_FILE, help=f"parameters file (default {PARAMS_FILE})")
    if hasattr(module, "add_arguments"):
        module.add_arguments(parser)
    options = vars(parser.parse_args(argv[1:]))        # --help exits here, before any config is needed
    del options["params"]                              # read above, into config
    started = time.perf_counter()
    try:
        with stop_on_signals():
            _run(module, config, **options)
    except DataError as e:
        return error_exit(str(e))
    except FileNotFoundError as e:
        return error_exit(f"{e.filename or e}: no such file or folder (run the stages before {name}: dvc repro)")
    except OSError as e:
        return error_exit(os_error_message(e, f"stage {name}"))
    except Stopped as e:
        error_exit(f"stage {name} stopped by {signal.Signals(e.signum).name} after "
                   f"{time.perf_counter() - started:.0f}s; its outputs are as they were "
                   f"(a training resumes at its next epoch on the next run)")
        return 128 + e.signum
    log(f"stage {name}: done in {time.perf_counter() - started:.1f}s")
    return 0
