"""The `dgcnn-ie` console command: ``dgcnn-ie stage <name> ...`` runs a pipeline stage (as
``python -m dgcnn_ie.stages <name>`` does), ``dgcnn-ie predict ...`` applies a saved model,
``dgcnn-ie show ...`` prints the experiments table narrowed to what tells experiments apart,
``dgcnn-ie preset NAME ...`` gives (or runs with) a committed set of params overrides."""
from __future__ import annotations

import sys

USAGE = ("usage: dgcnn-ie stage <name> [--params FILE] [options]   run a pipeline stage (dgcnn-ie stage --help)\n"
         "       dgcnn-ie predict --model DIR --input FILE --output FILE ...   (dgcnn-ie predict --help)\n"
         "       dgcnn-ie show [dvc exp show options]   the experiments table, headline columns (dgcnn-ie show --help)\n"
         "       dgcnn-ie preset NAME [--run [dvc exp run options]]   presets/NAME.yaml as -S options (--help)\n")


def main(argv: list[str] | None = None) -> int:
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
    sys.stdout.write(USAGE) if command in ("-h", "--help") else sys.stderr.write(USAGE)
    return 0 if command in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
