"""The pipeline's parameters as one typed, validated config: one frozen dataclass per params.yaml section.

`load_config()` builds it once from params.yaml and refuses the file before any work
when a key is unknown (with the nearest known key), missing, of the wrong type, out of
range or not one of the allowed choices; every message names the file, the line and the
dotted key. params.yaml is the only place defaults live: the classes below declare
types and allowed values, never a default, so a key missing from the file is an error
(nanoGPT's configurator rule), and no code path can quietly use a value the file does
not show.

`Config.view(keys)` is what a stage gets: the same config, but reading a key the stage
does not declare (its `PARAMS`, mirrored by dvc.yaml's `params:`) raises
`UndeclaredParam`, so a stage cannot depend on a parameter DVC does not rerun it for.
This module imports nothing heavy (no TensorFlow).
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode

from .data import FORMATS, NORMALIZE, ON_ERROR, DataError

SEGMENT_BACKENDS = ("jieba", "hanlp")
ARCHS = ("dgcnn", "bilstm", "kg2019_baseline")
SUBJECT_ENCODERS = ("bigru", "concat")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")   # Keras dtype policies for training
ENSEMBLE_MODES = ("single", "average", "union")
TUNE_SOURCES = ("cv_raw", "cv")
TOO_MANY_REMOVED = ("raw_labels", "refuse")
TEST_KBS = ("all", "fold")
PARAMS_FILE = "params.yaml"


FAMILY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")     # a folder name: use fullmatch


class ConfigError(DataError):
    """A params problem. From `load_config` the message starts with "<file>:<line>: <dotted key>: "; a stage
    that finds a value wrong for the data it reads (e.g. a data.source.dir that is no folder) starts it
    with "<dotted key>: "."""


class UndeclaredParam(Exception):
    """A stage read a params key it does not declare (a bug in the stage, not a user error)."""


def _spec(*, choices: tuple | None = None, ge: float | None = None, gt: float | None = None,
          le: float | None = None, lt: float | None = None, nonempty: bool = False, unique: bool = False):
    """Field metadata: allowed values of a key (for a list: of each element)."""
    return field(metadata={"choices": choices, "ge": ge, "gt": gt, "le": le, "lt": lt,
                           "nonempty": nonempty, "unique": unique})


# ---------------------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class SourceConfig:
    dir: str = _spec(nonempty=True)
    schema: str = _spec(nonempty=True)
    train: str = _spec(nonempty=True)
    dev: str
    test: str = _spec(nonempty=True)


@dataclass(frozen=True)
class DataConfig:
    format: str = _spec(choices=FORMATS)
    source: SourceConfig
    dev_fraction: float = _spec(gt=0.0, lt=1.0)
    normalize: str = _spec(choices=NORMALIZE)
    on_error: str = _spec(choices=ON_ERROR)


@dataclass(frozen=True)
class FoldsConfig:
    k: int = _spec(ge=2)


@dataclass(frozen=True)
class SegmentConfig:
    backend: str = _spec(choices=SEGMENT_BACKENDS)
    cache: str


@dataclass(frozen=True)
class Word2VecConfig:
    dim: int = _spec(ge=1)
    window: int = _spec(ge=1)
    min_count: int = _spec(ge=1)
    epochs: int = _spec(ge=1)
    negative: int = _spec(ge=1)
    extra_dir: str = _spec(nonempty=True)
    include_test: bool


@dataclass(frozen=True)
class ModelConfig:
    arch: str = _spec(choices=ARCHS)
    width: int = _spec(ge=2)
    dilations: tuple[int, ...] = _spec(ge=1, nonempty=True)
    kernel_size: int = _spec(ge=1)
    heads: int = _spec(ge=1)
    head_size: int = _spec(ge=1)
    max_len: int = _spec(ge=8)
    dropout: float = _spec(ge=0.0, lt=1.0)
    conv_dropout: float = _spec(ge=0.0, lt=1.0)
    min_char_count: int = _spec(ge=1)
    subject_encoder: str = _spec(choices=SUBJECT_ENCODERS)
    subject_points: int = _spec(ge=1)
    use_word_vectors: bool
    use_attention: bool
    use_gates: bool
    subject_loss_weight: float = _spec(gt=0.0)


@dataclass(frozen=True)
class ThresholdsConfig:
    start_threshold: float = _spec(gt=0.0, lt=1.0)
    end_threshold: float = _spec(gt=0.0, lt=1.0)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = _spec(ge=1)
    batch_size: int = _spec(ge=1)
    lr: float = _spec(gt=0.0)
    warmup_epochs: float = _spec(ge=0.0)
    lr_after_plateau: float = _spec(gt=0.0)
    plateau_patience: int = _spec(ge=1)
    plateau_min_epoch: int = _spec(ge=0)
    plateau_min_f1: float = _spec(ge=0.0, le=1.0)
    plateau_force_epoch: int = _spec(ge=0)
    ema: bool
    ema_decay: float = _spec(ge=0.0, lt=1.0)
    augment: bool
    augment_rate: float = _spec(ge=0.0, le=1.0)
    precision: str = _spec(choices=PRECISIONS)
    selection_thresholds: ThresholdsConfig


@dataclass(frozen=True)
class DecodeConfig:
    start_threshold: float = _spec(gt=0.0, lt=1.0)
    end_threshold: float = _spec(gt=0.0, lt=1.0)
    batch_size: int = _spec(ge=1)


@dataclass(frozen=True)
class CVConfig:
    folds: tuple[int, ...] = _spec(ge=0, nonempty=True, unique=True)
    families: tuple[str, ...] = _spec(nonempty=True, unique=True)
    epochs: int = _spec(ge=1)


@dataclass(frozen=True)
class FamilyConfig:
    """A model family of the CV ensemble: its switches, as data (a new family is a params entry)."""
    prior: bool                      # distant-supervision prior features (candidates from the fold's KB)
    model: dict                      # overrides of the `model` section for this family ({} = none)


@dataclass(frozen=True)
class PriorConfig:
    test_kb: str = _spec(choices=TEST_KBS)


@dataclass(frozen=True)
class CleanConfig:
    enabled: bool
    add_min_votes: int = _spec(ge=1)
    remove_max_votes: int = _spec(ge=-1)
    max_removed_share: float = _spec(ge=0.0, le=1.0)
    too_many_removed: str = _spec(choices=TOO_MANY_REMOVED)


@dataclass(frozen=True)
class LabelRulesConfig:
    """kg-2019 `repair()`, on the training file's labels (`dgcnn_ie.rules.repair_labels`)."""
    title_marks: bool
    album_songs: bool


@dataclass(frozen=True)
class PredictionRulesConfig:
    """kg-2019 `extract_items` and post_repair.py rules, on every final prediction (`dgcnn_ie.rules.RuleSet`)."""
    spouse_symmetry: bool
    album_songs: bool
    taxon_rank: bool
    nationality_party: bool
    author_organisation: bool
    self_relation: bool
    climate_prefix: bool
    ancestral_home_suffix: bool
    publisher_suffix: bool
    company_suffix: bool
    split_objects: bool
    merge_objects: bool
    parents_spouses: bool


@dataclass(frozen=True)
class RulesConfig:
    labels: LabelRulesConfig
    predictions: PredictionRulesConfig


@dataclass(frozen=True)
class EnsembleConfig:
    mode: str = _spec(choices=ENSEMBLE_MODES)


@dataclass(frozen=True)
class ReportConfig:
    tune_thresholds: bool
    tune_on: str = _spec(choices=TUNE_SOURCES)
    start_thresholds: tuple[float, ...] = _spec(gt=0.0, lt=1.0, nonempty=True)
    end_thresholds: tuple[float, ...] = _spec(gt=0.0, lt=1.0, nonempty=True)
    error_top: int = _spec(ge=1)
    error_examples: int = _spec(ge=0)


@dataclass(frozen=True)
class Config:
    seed: int = _spec(ge=0, lt=2 ** 32)
    data: DataConfig
    folds: FoldsConfig
    segment: SegmentConfig
    word2vec: Word2VecConfig
    model: ModelConfig
    train: TrainConfig
    decode: DecodeConfig
    rules: RulesConfig
    cv: CVConfig
    families: dict[str, FamilyConfig]
    prior: PriorConfig
    clean: CleanConfig
    ensemble: EnsembleConfig
    report: ReportConfig

    def view(self, keys: Iterable[str], owner: str = "this stage") -> "Config":
        """This config as ``owner`` may read it: only the dotted ``keys`` (and what is under them)."""
        return typing.cast(Config, _View(self, frozenset(keys), "", owner))


def family_model(model_config: ModelConfig, family: FamilyConfig) -> ModelConfig:
    """The `model` section with a family's overrides applied (validated when the config was loaded)."""
    if not family.model:
        return model_config
    return _Builder(PARAMS_FILE, {}).section(ModelConfig, {**as_dict(model_config), **family.model}, "model.")


# ---------------------------------------------------------------------------------------- building
class _Builder:
    """Builds a dataclass tree from a parsed YAML mapping, raising ConfigError with file:line: key."""

    def __init__(self, source: str, lines: dict[str, int]):
        self.source, self.lines = source, lines

    def error(self, key: str, reason: str) -> ConfigError:
        line = self.lines.get(key)
        while line is None and "." in key:          # a missing key: point at its section
            key_parent = key.rsplit(".", 1)[0]
            line, key = self.lines.get(key_parent), key_parent
        return ConfigError(f"{self.source}:{line or 1}: {reason}")

    def section(self, cls, value: Any, prefix: str):
        name = prefix.rstrip(".") or "params"
        if not isinstance(value, dict):
            raise self.error(prefix.rstrip("."), f"{name}: must be a mapping of keys, got {_kind(value)}")
        hints = typing.get_type_hints(cls)
        known = [f.name for f in dataclasses.fields(cls)]
        for key in value:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean {prefix}{close[0]}?)" if close else f" (known: {', '.join(known)})"
                raise self.error(f"{prefix}{key}", f"{prefix}{key}: unknown key{hint}")
        missing = [k for k in known if k not in value]
        if missing:
            raise self.error(prefix.rstrip("."), f"{prefix}{missing[0]}: missing key (params.yaml holds every "
                                                 f"default; copy it from the repository's params.yaml)")
        out = {f.name: self.value(hints[f.name], value[f.name], f"{prefix}{f.name}", f.metadata)
               for f in dataclasses.fields(cls)}
        return cls(**out)

    def value(self, tp, value: Any, key: str, meta) -> Any:
        origin = typing.get_origin(tp)
        if dataclasses.is_dataclass(tp):
            return self.section(tp, value, key + ".")
        if tp is dict:
            if not isinstance(value, dict):
                raise self.error(key, f"{key}: must be a mapping, got {_kind(value)}")
            return dict(value)
        if origin is dict:
            _, item_type = typing.get_args(tp)
            if not isinstance(value, dict) or not value:
                raise self.error(key, f"{key}: must be a non-empty mapping of names, got {_kind(value)}")
            return {str(k): self.value(item_type, v, f"{key}.{k}", {}) for k, v in value.items()}
        if origin is tuple:
            item_type = typing.get_args(tp)[0]
            if not isinstance(value, list):
                raise self.error(key, f"{key}: must be a list of {item_type.__name__}, got {_kind(value)}")
            items = tuple(self.scalar(item_type, v, f"{key}[{i}]", meta) for i, v in enumerate(value))
            if meta.get("nonempty") and not items:
                raise self.error(key, f"{key}: must not be empty")
            if meta.get("unique") and len(set(items)) != len(items):
                raise self.error(key, f"{key}: has repeated values {list(items)}")
            return items
        return self.scalar(tp, value, key, meta)

    def scalar(self, tp, value: Any, key: str, meta) -> Any:
        line_key = key.split("[")[0]
        ok = {bool: isinstance(value, bool),
              int: isinstance(value, int) and not isinstance(value, bool),
              float: isinstance(value, (int, float)) and not isinstance(value, bool),
              str: isinstance(value, str)}[tp]
        if not ok:
            shown = "" if value is None else f" {value!r}"
            raise self.error(line_key, f"{key}: must be {_TYPE_WORDS[tp]}, got {_kind(value)}{shown}")
        value = float(value) if tp is float else value
        if tp is float and not math.isfinite(value):
            raise self.error(line_key, f"{key}: must be a finite number, got {value!r}")
        choices = meta.get("choices")
        if choices is not None and value not in choices:
            raise self.error(line_key, f"{key}: must be one of {', '.join(choices)}, got {value!r}")
        if tp is str and meta.get("nonempty") and not value:
            raise self.error(line_key, f"{key}: must not be empty")
        for bound, test, word in (("ge", lambda v, b: v >= b, ">="), ("gt", lambda v, b: v > b, ">"),
                                  ("le", lambda v, b: v <= b, "<="), ("lt", lambda v, b: v < b, "<")):
            b = meta.get(bound)
            if b is not None and tp in (int, float) and not test(value, b):
                raise self.error(line_key, f"{key}: must be {word} {b:g}, got {value!r}")
        return value


_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _kind(value: Any) -> str:
    if isinstance(value, dict) and not value:
        return "an empty mapping"
    return {dict: "a mapping", list: "a list", type(None): "nothing", bool: "a boolean", int: "an integer",
            float: "a number", str: "a string"}.get(type(value), type(value).__name__)


class _Refused(YAMLError):
    """A YAML construct a params file may not use, at a 1-based line."""

    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line}: {reason}")
        self.line, self.reason = line, reason


class _StrictComposer(Composer):
    """Refuses aliases and anchors (a shared value edited in one place would change another key unseen) and a
    ``%YAML`` directive other than 1.2 (``%YAML 1.1`` would make ``yes`` a boolean and ``0777`` octal)."""

    def compose_document(self) -> Any:
        event = self.parser.peek_event()
        if getattr(event, "version", None) not in (None, (1, 2)):
            raise _Refused(event.start_mark.line + 1, f"a %YAML {'.'.join(map(str, event.version))} directive: "
                                                      f"a params file is YAML 1.2, as DVC writes it")
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            raise _Refused(event.start_mark.line + 1, "aliases (*name) are not supported in a params file")
        if getattr(event, "anchor", None):
            raise _Refused(event.start_mark.line + 1, "anchors (&name) are not supported in a params file")
        return super().compose_node(parent, index)


class _StrictConstructor(SafeConstructor):
    """Refuses a repeated key in a mapping (YAML would silently keep the last one) and merge keys (``<<``)."""

    def flatten_mapping(self, node: Any) -> Any:
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused(key_node.start_mark.line + 1, "merge keys (<<) are not supported in a params file")
        return super().flatten_mapping(node)

    def check_mapping_key(self, node: Any, key_node: Any, mapping: Any, key: Any, value: Any) -> bool:
        if key in mapping:
            raise _Refused(key_node.start_mark.line + 1, f"key {key!r} appears twice in its section")
        return True


def _yaml() -> YAML:
    """The parser of params files: YAML 1.2 as DVC reads and writes params.yaml (``1e-05`` is a float, only
    ``true`` / ``false`` are booleans, ``yes`` / ``on`` are strings), plain dicts and lists, stricter than DVC
    about repeated keys and aliases / anchors. A new one per document: a YAML object keeps parser state."""
    parser = YAML(typ="safe", pure=True)
    parser.version = (1, 2)
    parser.Composer, parser.Constructor = _StrictComposer, _StrictConstructor
    return parser


def yaml_value(text: str) -> Any:
    """A value written as DVC's ``-S key=value`` writes it (YAML 1.2: ``1e-05`` is a float)."""
    return _yaml().load(text)


class OverrideError(ConfigError):
    """An override that does not fit the params it is applied to (`apply_overrides`): ``part`` is the section
    of the dotted ``key`` that is not a mapping (or, when new keys are refused, is missing); None when the
    key itself is missing."""

    def __init__(self, key: str, part: str | None):
        super().__init__(f"{key}: {part} is not a section of params.yaml" if part is not None
                         else f"{key}: params.yaml has no such key")
        self.key, self.part = key, part


def flatten_params(params: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """``[(dotted key, value)]`` of a mapping in the layout of params.yaml (or of overrides of it), down to
    the leaves; a list or an empty mapping is one value."""
    items = []
    for key, value in params.items():
        if isinstance(value, dict) and value:
            items += flatten_params(value, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", value))
    return items


def apply_overrides(params: dict, overrides: dict | Iterable[tuple[str, Any]], *, new_keys: bool = True) -> dict:
    """A copy of ``params`` with ``overrides`` set leaf by leaf, in order; the inputs are not modified.

    ``overrides`` is a mapping in the layout of params.yaml (flattened by `flatten_params`: a list or an
    empty mapping replaces the value whole) or ``(dotted key, value)`` pairs. A missing key or section is
    added, unless ``new_keys`` is False; then it is an `OverrideError`, as is a section that is not a mapping.
    """
    merged = copy.deepcopy(params)
    for key, value in flatten_params(overrides) if isinstance(overrides, dict) else overrides:
        node = merged
        *parents, leaf = key.split(".")
        for part in parents:
            if not new_keys and part not in node:
                raise OverrideError(key, part)
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise OverrideError(key, part)
        if not new_keys and leaf not in node:
            raise OverrideError(key, None)
        node[leaf] = copy.deepcopy(value)
    return merged


def read_params(path: str | Path = PARAMS_FILE) -> tuple[Any, str]:
    """(the parsed params file, its text), or a one-line ConfigError naming the file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}:1: no such parameters file") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}:1: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"{path}:1: cannot read the parameters file ({e.strerror})") from None
    try:
        return _yaml().load(text), text
    except _Refused as e:
        raise ConfigError(f"{path}:{e.line}: {e.reason}") from None
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(f"{path}:{mark.line + 1 if mark else 1}: invalid YAML "
                          f"({getattr(e, 'problem', None) or e})") from None


def _key_lines(text: str) -> dict[str, int]:
    """Dotted key -> 1-based line of the key in the YAML text (mappings only)."""
    lines: dict[str, int] = {}

    def walk(node, prefix):
        if isinstance(node, MappingNode):
            for k, v in node.value:
                key = f"{prefix}{k.value}"
                lines.setdefault(key, k.start_mark.line + 1)
                walk(v, key + ".")

    try:
        walk(_yaml().compose(text), "")
    except YAMLError:
        pass
    return lines


def _check_cross(cfg: Config, b: _Builder) -> None:
    """Rules that tie two sections together."""
    bad = [f for f in cfg.cv.folds if f >= cfg.folds.k]
    if bad:
        raise b.error("cv.folds", f"cv.folds: fold {bad[0]} does not exist with folds.k {cfg.folds.k} "
                                  f"(folds are 0..{cfg.folds.k - 1})")
    for name in cfg.families:
        if not FAMILY_NAME.fullmatch(name):
            raise b.error(f"families.{name}", f"families.{name}: a family name is a folder and a command-line "
                                              f"argument: letters, digits, _ and - only, starting with a letter, "
                                              f"at most 64")
    unknown = [f for f in cfg.cv.families if f not in cfg.families]
    if unknown:
        raise b.error("cv.families", f"cv.families: {unknown[0]!r} is not a family declared under families "
                                     f"({', '.join(cfg.families)})")
    for name, family in cfg.families.items():
        if not family.model:
            continue
        merged = {**as_dict(cfg.model), **family.model}
        for key in family.model:                    # name the family's key, not model's, in errors
            b.lines.setdefault(f"families.{name}.model.{key}", b.lines.get(f"families.{name}.model", 1))
        b.section(ModelConfig, merged, f"families.{name}.model.")


def config_from_dict(params: Any, source: str = PARAMS_FILE, text: str | None = None) -> Config:
    """The validated Config of a parsed params mapping (``text``: the YAML it came from, for line numbers)."""
    builder = _Builder(source, _key_lines(text) if text is not None else {})
    cfg = builder.section(Config, params, "")
    _check_cross(cfg, builder)
    return cfg


def model_config_from_dict(model: Any, source: str) -> ModelConfig:
    """A saved model's `model` section (e.g. an extractor's config.json), validated like params.yaml's."""
    return _Builder(source, {}).section(ModelConfig, model, "model.")


def load_config(path: str | Path = PARAMS_FILE) -> Config:
    """params.yaml, read and validated as a whole (see the module docstring)."""
    params, text = read_params(path)
    return config_from_dict(params, str(path), text)


def as_dict(section: Any) -> dict:
    """A section as plain JSON-ready data (tuples as lists), e.g. to save a model's config with it."""
    def plain(v):
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(dataclasses.asdict(section))


# ---------------------------------------------------------------------------------------- views
class _View:
    """Attribute access to a config object limited to declared dotted keys."""

    __slots__ = ("_target", "_allowed", "_prefix", "_owner")

    def __init__(self, target, allowed: frozenset[str], prefix: str, owner: str):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_allowed", allowed)
        object.__setattr__(self, "_prefix", prefix)
        object.__setattr__(self, "_owner", owner)

    def __getattr__(self, name: str):
        key = f"{self._prefix}{name}"
        if name == "view":
            raise UndeclaredParam(f"{self._owner}: a view cannot be widened")
        value = getattr(self._target, name)
        if any(key == a or key.startswith(a + ".") for a in self._allowed):
            return value
        if dataclasses.is_dataclass(value) and any(a.startswith(key + ".") for a in self._allowed):
            return _View(value, self._allowed, key + ".", self._owner)
        raise UndeclaredParam(f"{self._owner} reads params key {key!r} but does not declare it "
                              f"(its PARAMS and dvc.yaml `params:` must list it, or DVC will not rerun it "
                              f"when {key} changes)")

    def __setattr__(self, name, value):
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __repr__(self) -> str:
        return f"<{type(self._target).__name__} as {self._owner} reads it: {sorted(self._allowed)}>"


def check_keys(keys: Iterable[str]) -> None:
    """Raise ValueError for a dotted key that names no field of `Config` (a stage's PARAMS typo)."""
    for key in keys:
        cls: Any = Config
        for part in key.split("."):
            hints = typing.get_type_hints(cls) if dataclasses.is_dataclass(cls) else {}
            if part not in hints:
                raise ValueError(f"params key {key!r} does not exist")
            cls = hints[part]
