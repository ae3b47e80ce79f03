"""What opening a model or system folder may do: read data inside that folder, never run code.

A folder is something a team copies between machines or receives from others, so every load
path of this package holds to three rules, checked here:

- paths stay inside: a file a folder is read from is named relative to the folder, and the
  path, symlinks resolved, must lie inside it (`inside`); absolute paths and ``..`` are refused;
- no pickle: JSON, ``.npy`` arrays read with ``allow_pickle=False`` and Keras ``.keras`` files,
  whose layer config is checked before Keras sees it (`check_keras_config`: only Keras's own and
  this package's registered classes, no ``Lambda`` layer, which would carry Python bytecode) and
  which Keras then loads with ``safe_mode=True``;
- contents are validated when opened, and every refusal is one `DataError` naming the file and
  the key (``<file>:1: <key>: <reason>``).

tests/test_trust.py plants a pickle payload in every file a load reads and an escaping path in
every path field, and runs a whole exported system under an audit hook that fails on any
unpickling.
"""
from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

from .data import DataError

# the module prefixes a saved model's layers may come from: Keras itself and this package's
# registered layers (`model._register`, package "dgcnn_ie")
ALLOWED_PACKAGES = ("keras", "dgcnn_ie")
OWN_PACKAGE = "dgcnn_ie"
FORBIDDEN_CLASSES = ("Lambda", "TorchModuleWrapper")     # both carry arbitrary Python when deserialised


MAX_KERAS_CONFIG_BYTES = 64 << 20     # a model's layer config is kilobytes; more is a decompression bomb


def inside(root, relative: str | Path, what: str, *, file: bool = False) -> Path:
    """``root / relative``, refused unless ``relative`` is a relative path that, with every symlink
    resolved, stays inside ``root``; with ``file``, it must also be a regular file (a FIFO or device would
    block or never end). ``what`` names the file and key for the error."""
    relative = Path(relative)
    if relative.is_absolute() or ".." in relative.parts:
        raise DataError(f"{what}: {str(relative)!r} is not a path inside {root}")
    root = Path(root)
    path = root / relative
    try:
        real_root, real = root.resolve(), path.resolve()
    except (OSError, RuntimeError) as e:          # Python 3.11 raises RuntimeError on a symlink loop
        raise DataError(f"{what}: {path} cannot be resolved ({' '.join(str(e).split())})") from None
    if real != real_root and real_root not in real.parents:
        raise DataError(f"{what}: {path} leads outside {root} (to {real})")
    if file and not path.is_file():
        raise DataError(f"{path}:1: {'not a regular file' if path.exists() else 'not there'} "
                        f"({root} is incomplete or altered)")
    return path


def _unique_keys(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
    return dict(pairs)


def parse_json(data: bytes) -> Any:
    """JSON from UTF-8 bytes, refusing duplicate keys (which one would win is not the writer's intent);
    ValueError for anything that is not such a document, a too deeply nested one included."""
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def read_json(root, relative: str | Path, what: str | None = None) -> Any:
    """The JSON document at ``root/relative`` (a regular file confined by `inside`); a missing, unreadable or
    non-JSON file is a `DataError` naming it."""
    path = inside(root, relative, what or f"{Path(root) / relative}:1", file=True)
    try:
        return parse_json(path.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"{path}:1: not a JSON file ({type(e).__name__}: {' '.join(str(e).split())[:200]})") from None


def read_versioned(root, relative: str, version: int, remedy: str) -> "Fields":
    """`Fields` of the JSON object at ``root/relative``, whose "version" must be ``version``: a file of
    another version (e.g. one whose word vectors are gensim pickles, which are never loaded) is refused,
    saying ``remedy``."""
    path = Path(root) / relative
    doc = read_json(root, relative)
    if isinstance(doc, dict) and doc.get("version") != version:
        raise DataError(f"{path}:1: version: {doc.get('version')!r}, expected {version}: a folder of an earlier "
                        f"version (its word vectors were gensim pickles, never loaded now): {remedy}")
    fields = Fields(path, doc)
    fields.int("version")
    return fields


class Fields:
    """Typed reads of one JSON object, each error naming the file and the key.

    ``Fields(path, doc, prefix)`` refuses a document that is not an object; ``done()`` refuses the
    keys no read asked for (a typo'd or foreign key is an error, as in params.yaml)."""

    def __init__(self, path, doc: Any, prefix: str = ""):
        self.path, self.prefix = Path(path), prefix
        if not isinstance(doc, dict):
            raise self.error(prefix.rstrip(".") or "(document)", f"a JSON object expected, got {type(doc).__name__}")
        self.doc, self._read = doc, set()

    def error(self, key: str, reason: str) -> DataError:
        return DataError(f"{self.path}:1: {key}: {reason}")

    def _get(self, key: str, default: Any = ...) -> Any:
        self._read.add(key)
        if key not in self.doc:
            if default is ...:
                raise self.error(self.prefix + key, "missing")
            return default
        return self.doc[key]

    def int(self, key: str, lo: int | None = None, hi: int | None = None, default: Any = ...) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(self.prefix + key, f"an integer expected, got {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.error(self.prefix + key, f"{value} is outside [{lo}, {hi if hi is not None else 'inf'}]")
        return value

    def probability(self, key: str) -> float:
        """A finite number strictly between 0 and 1 (a decode threshold)."""
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0.0 < value < 1.0:
            raise self.error(self.prefix + key, f"a number in (0, 1) expected, got {value!r}")
        return float(value)

    def bool(self, key: str, default: Any = ...) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.error(self.prefix + key, f"true or false expected, got {value!r}")
        return value

    def choice(self, key: str, choices, default: Any = ...) -> str:
        value = self._get(key, default)
        if value not in tuple(choices):
            raise self.error(self.prefix + key, f"{value!r} is not one of {', '.join(map(str, choices))}")
        return value

    def list(self, key: str, default: Any = ...) -> list:
        value = self._get(key, default)
        if not isinstance(value, list):
            raise self.error(self.prefix + key, f"a list expected, got {type(value).__name__}")
        return value

    def object(self, key: str) -> "Fields":
        return Fields(self.path, self._get(key), f"{self.prefix}{key}.")

    def raw(self, key: str, default: Any = ...) -> Any:
        return self._get(key, default)

    def done(self) -> None:
        unknown = sorted(set(self.doc) - self._read)
        if unknown:
            raise self.error(self.prefix + unknown[0], "unknown key (a file of another version or tool?)")


def check_keras_config(path) -> None:
    """Refuse a ``.keras`` file whose layer config names a class from outside Keras and this package or
    a ``Lambda`` layer, before Keras deserialises anything (Keras's ``safe_mode`` refuses Lambda's
    bytecode too; this check names the file and the layer in one line)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            size = archive.getinfo("config.json").file_size
            if size > MAX_KERAS_CONFIG_BYTES:
                raise ValueError(f"config.json of {size} bytes, more than a model's layer config can be")
            config = parse_json(archive.read("config.json"))      # zipfile stops at the declared size
    except (OSError, KeyError, UnicodeDecodeError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}:1: corrupt or unreadable model file ({type(e).__name__}: "
                        f"{' '.join(str(e).split())[:200]})") from None

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            module, name = node.get("module"), node.get("class_name")
            if isinstance(name, str) and name in FORBIDDEN_CLASSES:
                raise DataError(f"{path}:1: {where}: a {name} layer (it would run code when loaded); refused")
            if isinstance(module, str) and module.split(".", 1)[0] not in ALLOWED_PACKAGES:
                raise DataError(f"{path}:1: {where}: class {name!r} of module {module!r}, neither Keras's nor "
                                f"{OWN_PACKAGE}'s; refused")
            registered = node.get("registered_name")
            if isinstance(registered, str) and ">" in registered and not registered.startswith(OWN_PACKAGE + ">"):
                raise DataError(f"{path}:1: {where}: registered class {registered!r} is not {OWN_PACKAGE}'s; refused")
            inner = f"{where}/{node['name']}" if isinstance(node.get("name"), str) else where
            for value in node.values():
                walk(value, inner)
        elif isinstance(node, list):
            for value in node:
                walk(value, where)

    try:
        walk(config, "layer model")
    except RecursionError:
        raise DataError(f"{path}:1: the layer config is nested too deeply to be a model's") from None
