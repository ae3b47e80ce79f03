"""`dgcnn-ie show`: `dvc exp show` narrowed to what tells experiments apart.

A plain `dvc exp show` has a column for every params key (the typed config of `params.yaml`),
every metrics key and every dependency path (each stage depends on exactly the source files it
imports; the counts: README, "The experiment table"). No DVC setting narrows the default table, so this command
runs it with:

- ``--only-changed``: params and metrics columns whose value is the same in every row shown go;
- ``--keep HEADLINE``: except the headline columns, always shown: the dev F1 of the single model
  (`reports/evaluate/metrics.json`), and, from `reports/ensemble/metrics.json`, the dev F1 of
  the ensemble's single fold model, of each family average and of the union;
- ``--drop DEPENDENCIES``: no dependency-hash columns (`dvc exp show` without this command shows them).

Every other argument goes to `dvc exp show` as given (``--csv``, ``-A``, ``--no-pager``, ``--sort-by``...).
Exit status: DVC's (128 + signal when a signal stopped it); 2 with one line ``error: ...`` when DVC
cannot be started.
"""
from __future__ import annotations

import sys

from ..utils import error_exit, os_error_message, run_child

# (metrics file prefix, shown only when two files share a key) + dotted key; family names are identifiers
HEADLINE = (r"(reports/evaluate/metrics\.json:)?f1$",
            r"(reports/ensemble/metrics\.json:)?dev\.(single|union|average/\w+)\.f1$")
# a dependency column is a path (no ":", which metrics and params columns from a named file have) under the
# folders stages read from
DEPENDENCIES = r"(src|data|models|features|predictions|reports|system|checkpoints)/[^:]*$"


def command(args: list[str]) -> list[str]:
    """The `dvc exp show` command line that ``dgcnn-ie show ARGS`` runs."""
    keep = [arg for pattern in HEADLINE for arg in ("--keep", pattern)]
    return [sys.executable, "-m", "dvc", "exp", "show", "--only-changed", *keep, "--drop", DEPENDENCIES, *args]


def cli(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"]):
        sys.stdout.write(__doc__ + "\nRuns: " + " ".join(command(["ARGS..."])[1:]) + "\n")
        return 0
    try:
        return run_child(command(args))
    except OSError as e:
        return error_exit(os_error_message(e, "dvc exp show"))


if __name__ == "__main__":
    sys.exit(cli())
