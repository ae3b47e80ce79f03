"""The `dgcnn-ie` console command: ``dgcnn-ie stage <name> ...`` runs a pipeline stage (as
``python -m dgcnn_ie.stages <name>`` does), ``dgcnn-ie predict ...`` applies a saved model,
``dgcnn-ie show ...`` prints the experiments table narrowed to what tells experiments apart,
``dgcnn-ie preset NAME ...`` gives (or runs with) a committed set of params overrides.

Exit statuses, the same for every command: 0 done; 2 an expected error (bad arguments, params or
data, a missing or damaged input or model file, an OS failure such as a read-only or full disk),
reported as one line ``error: <file:line, path or params key>: <reason>`` on stderr with nothing
half-written; 128 + the signal number when SIGINT (130) or SIGTERM (143) stopped it. Any other
status with a traceback is a bug. ``show`` and ``preset --run`` return DVC's own status.

TensorFlow's C++ log lines are off (``TF_CPP_MIN_LOG_LEVEL=3`` unless the variable is set):
``TF_CPP_MIN_LOG_LEVEL=0 dgcnn-ie predict ...`` shows them. The dispatch imports only the chosen
command, and no command imports TensorFlow before its arguments are checked, so ``--help`` is instant.
"""
from __future__ import annotations

import sys

USAGE = ("usage: dgcnn-ie stage <name> [--params FILE] [options]   run a pipeline stage (dgcnn-ie stage --help)\n"
         "       dgcnn-ie predict --model DIR --input FILE --output FILE ...   (dgcnn-ie predict --help)\n"
         "       dgcnn-ie show [dvc exp show options]   the experiments table, headline columns (dgcnn-ie show --help)\n"
         "       dgcnn-ie preset NAME [--run [dvc exp run options]]   presets/NAME.yaml as -S options (--help)\n"
         "exit status: 0 done, 2 an expected error (one line 'error: ...' on stderr), 128 + signal when stopped\n"
         "TensorFlow's C++ log lines are off unless TF_CPP_MIN_LOG_LEVEL is set (0: all of them)\n")


def main(argv: list[str] | None = None) -> int:
    from ..utils import quiet_tensorflow
    quiet_tensorflow()                   # before any command imports TensorFlow; the user's value wins
    argv = list(sys.argv[1:] if argv is None else argv)
    command, rest = (argv[0], argv[1:]) if argv else (None, [])
    if command == "stage":
        from ..stages.runner import main as stage_main
        return stage_main(rest)
    if command == "predict":
        from .predict import cli
        return cli(rest)
    if command == "preset":
        from .preset import cli as preset_cli
        return preset_cli(rest)
    if command == "show":
        from .show import cli as show_cli
        return show_cli(rest)
    if command in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    if command is None:
        sys.stderr.write(USAGE)
        return 2
    sys.stderr.write(f"error: {command}: unknown command (stage, predict, show, preset; dgcnn-ie --help)\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
