"""`dgcnn-ie preset NAME`: a committed set of params overrides (`presets/NAME.yaml`) as `dvc exp run` options.

    dgcnn-ie preset competition                 # prints the -S options, e.g. -S train.epochs=120 ...
    dgcnn-ie preset competition --run [OPTIONS] # runs: dvc exp run -n competition -S ... [OPTIONS]

NAME is a file under `presets/` of the current directory (or a path to a YAML file). A preset holds
only overrides, in the layout of params.yaml; before printing or running, the overrides are applied
to `params.yaml` and the result is validated like any params file (an unknown key or a bad value is a
one-line error naming the preset file and the key; a params.yaml that is not a mapping of sections,
e.g. empty or a list, is one naming params.yaml). Options after `--run` go to `dvc exp run` as
given and come after the preset's, so a `-S` there wins (e.g. the data source).

Exit status: 0 done; 2 an expected error (one line ``error: <file:line or key>: <reason>``);
with ``--run``, DVC's own status (128 + signal when a signal stopped it).
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from ..config import (PARAMS_FILE, Config, ConfigError, apply_overrides, config_from_dict, flatten_params,
                      read_params)
from ..utils import error_exit, os_error_message, run_child

PRESETS_DIR = Path("presets")


def preset_path(name: str) -> Path:
    """``presets/<name>.yaml``, or ``name`` itself when it is a path to a file."""
    path = Path(name)
    return path if path.suffix in (".yaml", ".yml") else PRESETS_DIR / f"{name}.yaml"


_KINDS = {list: "a list", str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def read_base(path: str | Path = PARAMS_FILE) -> dict:
    """The params file the preset applies to, checked to be a mapping first: merging into a list, a scalar
    or nothing would fail with no file named (an AttributeError); its values are checked after the merge."""
    doc, _ = read_params(path)
    if not isinstance(doc, dict) or not doc:
        kind = "nothing" if doc is None or doc == {} else _KINDS.get(type(doc), f"a {type(doc).__name__}")
        raise ConfigError(f"{path}:1: a params file is a mapping of sections (seed, data, model...), "
                          f"this one holds {kind}")
    return doc


def read_preset(path: Path) -> dict:
    """The overrides of a preset file (a mapping in the layout of params.yaml)."""
    doc, _ = read_params(path)          # the same YAML rules and file:line errors as params.yaml
    if not isinstance(doc, dict) or not doc:
        raise ConfigError(f"{path}:1: a preset is a non-empty mapping of params.yaml keys")
    return doc


def checked_config(path: Path, params_file: str | Path = PARAMS_FILE) -> Config:
    """The Config that params.yaml with the preset applied gives; errors name the preset file."""
    return _checked(read_base(params_file), read_preset(path), path, params_file)


def _checked(params: dict, overrides: dict, path: Path, params_file) -> Config:
    try:
        return config_from_dict(apply_overrides(params, overrides), source=str(path))
    except ConfigError as e:
        raise ConfigError(f"{e} (with the preset {path} applied to {params_file})") from None


HYDRA_SPECIAL = set(" ,[]{}()'\"=:\\$*?~")


def _present(params: dict, key: str) -> bool:
    node = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def set_options(overrides: dict, params: dict | None = None) -> list[str]:
    """``["-S", "key=value", ...]`` for `dvc exp run`, which applies them with Hydra: values in flow form,
    a string with a character Hydra's grammar reserves double-quoted, and ``+key=value`` for a key that
    ``params`` (params.yaml) does not have yet (Hydra refuses to add a key without the ``+``)."""
    options = []
    for key, value in flatten_params(overrides):
        if isinstance(value, str):
            text = json.dumps(value, ensure_ascii=False) if not value or set(value) & HYDRA_SPECIAL else value
        else:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        add = "" if params is None or _present(params, key) else "+"
        options += ["-S", f"{add}{key}={text}"]
    return options


def cli(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        (sys.stdout if args else sys.stderr).write(__doc__)
        return 0 if args else 2
    name, rest = args[0], args[1:]
    path = preset_path(name)
    try:
        params, overrides = read_base(PARAMS_FILE), read_preset(path)
        _checked(params, overrides, path, PARAMS_FILE)
        options = set_options(overrides, params)
    except ConfigError as e:
        return error_exit(str(e))
    if not rest:
        sys.stdout.write(shlex.join(options) + "\n")
        return 0
    if rest[0] != "--run":
        return error_exit(f"unknown option {rest[0]!r} (dgcnn-ie preset NAME [--run [dvc exp run options]])")
    try:
        return run_child(run_command(name, options, rest[1:]))
    except OSError as e:
        return error_exit(os_error_message(e, "dvc exp run"))


def run_command(name: str, options: list[str], extra: list[str]) -> list[str]:
    """`dvc exp run -n <preset name> <the preset's -S options> <extra>` (later -S options win in DVC)."""
    return [sys.executable, "-m", "dvc", "exp", "run", "-n", Path(name).stem, *options, *extra]


if __name__ == "__main__":
    sys.exit(cli())
