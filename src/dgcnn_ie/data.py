"""Reading, validating and writing LIC2019 / DuIE 2.0 data; the contract every other module builds on.

Bad input never passes silently: with ``on_error="raise"`` the first problem raises
``DataError("path:line: reason")``; with ``on_error="skip"`` it is counted in the
``ReadReport`` by reason, with up to five example locations. A wrong format (DuIE
dict objects in a LIC2019 run, or the reverse) always raises: it is a configuration
error, not a bad line.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence


from .files import atomic_write
from .utils import log

FORMATS = ("lic2019", "duie2")
DUIE_SLOTS = ("inArea", "inWork", "onDate", "period")
ON_ERROR = ("skip", "raise")
NORMALIZE = ("none", "lower")
MAX_EXAMPLES = 5


@dataclass(frozen=True, order=True)
class Triple:
    subject: str
    predicate: str
    object: str


@dataclass
class Sample:
    text: str
    triples: list[Triple]
    labelled: bool
    source: str
    raw: dict


class DataError(ValueError):
    """A data or configuration problem; the message starts with "path:line: "."""


@dataclass
class ReadReport:
    """What `read_dataset` kept, skipped (by reason) and noticed, so nothing is dropped silently."""

    path: str
    lines: int = 0
    samples: int = 0
    skipped: Counter = field(default_factory=Counter)
    triples_skipped: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)
    triples: int = 0
    notes: Counter = field(default_factory=Counter)
    normalize: str = "none"

    def note(self, counter: Counter, reason: str, where: str) -> None:
        counter[reason] += 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < MAX_EXAMPLES:
            ex.append(where)

    def counts(self) -> dict:
        """Numbers only (a DVC metrics file)."""
        return {
            "lines": self.lines,
            "samples": self.samples,
            "triples": self.triples,
            "skipped": dict(sorted(self.skipped.items())),
            "triples_skipped": dict(sorted(self.triples_skipped.items())),
            "notes": dict(sorted(self.notes.items())),
        }

    def summary(self) -> str:
        parts = [f"{self.path}: {self.lines} lines, {self.samples} samples, {self.triples} triples"]
        for title, counter in (("skipped lines", self.skipped), ("skipped triples", self.triples_skipped),
                               ("notes", self.notes)):
            if counter:
                items = ", ".join(f"{r}={n} (e.g. {', '.join(self.examples.get(r, [])[:2])})"
                                  for r, n in sorted(counter.items()))
                parts.append(f"{title}: {items}")
        if self.normalize != "none":
            parts.append(f"normalize={self.normalize}")
        return "; ".join(parts)


class Schema:
    """The predicate set; `predicates` is sorted and is the model's output order (saved with every model)."""

    def __init__(self, fmt: str, types: dict[str, list[tuple[str, str]]], slots: dict[str, tuple[str, ...]]):
        if fmt not in FORMATS:
            raise ValueError(f"unknown data format {fmt!r}; expected one of {FORMATS}")
        if not types:
            raise ValueError("a schema needs at least one predicate")
        self.format = fmt
        self.predicates: tuple[str, ...] = tuple(sorted(types))
        self._types = {p: [tuple(t) for t in types[p]] for p in self.predicates}
        self.slots = {p: tuple(sorted(s)) for p, s in sorted(slots.items())}
        self._index = {p: i for i, p in enumerate(self.predicates)}

    def index(self, p: str) -> int:
        try:
            return self._index[p]
        except KeyError:
            raise KeyError(f"predicate {p!r} is not in the {self.format} schema") from None

    def __len__(self) -> int:
        return len(self.predicates)

    def __contains__(self, p: object) -> bool:
        return p in self._index

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Schema) and self.format == other.format and self._types == other._types
                and self.slots == other.slots)

    def types(self, p: str) -> tuple[str, str]:
        """(subject_type, object_type) for submissions: the first the schema lists (LIC2019 has 成立日期 twice)."""
        return self._types[self.predicates[self.index(p)]][0]

    def all_types(self, p: str) -> list[tuple[str, str]]:
        return list(self._types[self.predicates[self.index(p)]])

    def save(self, path) -> None:
        doc = {"format": self.format, "predicates": list(self.predicates),
               "types": {p: [list(t) for t in self._types[p]] for p in self.predicates},
               "slots": {p: list(s) for p, s in self.slots.items()}}
        with atomic_write(path) as f:
            json.dump(doc, f, ensure_ascii=False, indent=1)
            f.write("\n")

    @classmethod
    def load(cls, path) -> "Schema":
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
            schema = cls(doc["format"], {p: [tuple(t) for t in v] for p, v in doc["types"].items()},
                         {p: tuple(s) for p, s in doc["slots"].items()})
            predicates = doc["predicates"]
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as e:   # JSONDecodeError: ValueError
            raise DataError(f"{path}:1: not a saved schema ({type(e).__name__}: {' '.join(str(e).split())[:200]})") \
                from None
        if list(schema.predicates) != predicates:
            raise DataError(f"{path}:1: predicate order does not match its type table")
        return schema


def json_lines(path):
    """(line_number, stripped_line) of a UTF-8 JSON-lines file; the line is None where it is not valid UTF-8.

    Decoding line by line (not the whole stream) is what lets an encoding error name its line.
    """
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield number, raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                yield number, None


def load_schema(path, fmt: str) -> Schema:
    """Read the organiser's schema (`all_50_schemas` or `duie_schema.json`); any problem raises with file:line."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown data format {fmt!r}; expected one of {FORMATS}")
    types: dict[str, list[tuple[str, str]]] = defaultdict(list)
    slots: dict[str, set[str]] = defaultdict(set)

    def add(p, st, ot):
        if (st, ot) not in types[p]:
            types[p].append((st, ot))

    for number, line in json_lines(path):
        where = f"{path}:{number}"
        if line is None:
            raise DataError(f"{where}: not valid UTF-8")
        if not line:
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: malformed JSON in schema ({e.msg})") from None
        if not isinstance(entry, dict) or not all(k in entry for k in ("subject_type", "predicate", "object_type")):
            raise DataError(f"{where}: schema entry needs subject_type, predicate and object_type")
        p, st, ot = entry["predicate"], entry["subject_type"], entry["object_type"]
        if not isinstance(p, str) or not p or not isinstance(st, str):
            raise DataError(f"{where}: schema predicate and subject_type must be non-empty strings")
        if fmt == "lic2019":
            if not isinstance(ot, str):
                raise DataError(f"{where}: object_type is {type(ot).__name__}, expected a string for format "
                                f"lic2019 (is this a DuIE 2.0 schema? set data.format=duie2)")
            add(p, st, ot)
            continue
        if not isinstance(ot, dict) or not isinstance(ot.get("@value"), str):
            raise DataError(f"{where}: object_type must be a dict with '@value' for format duie2 "
                            f"(is this a LIC2019 schema? set data.format=lic2019)")
        add(p, st, ot["@value"])
        for slot, slot_type in ot.items():
            if slot == "@value":
                continue
            if slot not in DUIE_SLOTS or not isinstance(slot_type, str):
                raise DataError(f"{where}: unknown object slot {slot!r} (known: {', '.join(DUIE_SLOTS)})")
            slots[p].add(slot)
            add(f"{p}_{slot}", st, slot_type)
    if not types:
        raise DataError(f"{path}:1: schema file has no entries")
    return Schema(fmt, dict(types), {p: tuple(s) for p, s in slots.items()})


def casefold_text(s: str) -> str:
    """Lower-case character by character, keeping length so spans in the folded text index the original."""
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in s)


def _occurrences(text: str, sub: str) -> list[tuple[int, int]]:
    spans, i = [], text.find(sub)
    while i >= 0:
        spans.append((i, i + len(sub) - 1))
        i = text.find(sub, i + 1)
    return spans


def _find(text: str, span_text: str) -> tuple[list[tuple[int, int]], bool]:
    """(spans, exact): exact matches, else case-insensitive ones."""
    if not span_text:
        return [], True
    spans = _occurrences(text, span_text)
    if spans:
        return spans, True
    return _occurrences(casefold_text(text), casefold_text(span_text)), False


def find_spans(text: str, span_text: str) -> list[tuple[int, int]]:
    """All (start, end-inclusive) occurrences, overlapping ones too; case-insensitive only if no exact match."""
    return _find(text, span_text)[0]


def _flatten_object(obj: dict, predicate: str) -> list[tuple[str, object]]:
    """DuIE complex object -> [(flat predicate, value)], the base value first."""
    out = [(predicate, obj.get("@value"))]
    out += [(f"{predicate}_{k}", v) for k, v in sorted(obj.items()) if k != "@value"]
    return out


def read_dataset(path, schema: Schema, *, on_error: str = "skip", normalize: str = "none",
                 require_labels: bool = False, keep_raw: bool = True):
    """Read a data file into samples (flattened, de-duplicated triples) and a report of everything dropped.
    ``require_labels``: a line without `spo_list` is bad (a training or dev line must be labelled).
    ``keep_raw=False``: `Sample.raw` keeps only the line's `text` (a predictions file read for its triples:
    a LIC2019 line's `postag` alone is twice its text and triples, and a run reads many such files)."""
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {NORMALIZE}, got {normalize!r}")
    report = ReadReport(path=str(path), normalize=normalize)
    samples: list[Sample] = []

    def bad(counter, reason, where, detail):
        if on_error == "raise":
            raise DataError(f"{where}: {reason}: {detail}")
        report.note(counter, reason, where)

    for number, line in json_lines(path):
        report.lines = number
        where = f"{path}:{number}"
        if line is None:
            bad(report.skipped, "bad_encoding", where, "the line is not valid UTF-8")
            continue
        if not line:
            report.note(report.skipped, "blank_line", where)
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            bad(report.skipped, "malformed_json", where, e.msg)
            continue
        if not isinstance(obj, dict):
            bad(report.skipped, "not_an_object", where, f"the line is a JSON {type(obj).__name__}")
            continue
        text = obj.get("text")
        if not isinstance(text, str):
            bad(report.skipped, "missing_text", where, "no 'text' string")
            continue
        if not text.strip():
            bad(report.skipped, "empty_text", where, "'text' is empty")
            continue
        labelled = "spo_list" in obj
        if require_labels and not labelled:
            bad(report.skipped, "missing_spo_list", where, "no 'spo_list': a training or dev line must be labelled")
            continue
        spo_list = obj.get("spo_list", [])
        if not isinstance(spo_list, list):
            bad(report.skipped, "bad_spo_list", where, f"'spo_list' is {type(spo_list).__name__}, not a list")
            continue
        if normalize == "lower":
            text = casefold_text(text)
        triples = _read_triples(spo_list, text, schema, normalize, where, report, bad)
        samples.append(Sample(text=text, triples=triples, labelled=labelled, source=where,
                              raw=obj if keep_raw else {"text": obj["text"]}))
        report.samples += 1
        report.triples += len(triples)
    return samples, report


def _read_triples(spo_list, text, schema, normalize, where, report, bad) -> list[Triple]:
    """Flat, de-duplicated triples of one line.

    A bad subject or base object drops its whole spo (counted once); a bad DuIE slot
    drops only that slot's triple.
    """
    triples: list[Triple] = []
    seen: set[Triple] = set()
    for k, spo in enumerate(spo_list):
        at = f"spo_list[{k}]"
        if not isinstance(spo, dict) or not all(key in spo for key in ("subject", "predicate", "object")):
            bad(report.triples_skipped, "missing_field", where, f"{at} needs subject, predicate and object")
            continue
        s, p, o = spo["subject"], spo["predicate"], spo["object"]
        if schema.format == "lic2019" and isinstance(o, dict):
            raise DataError(f"{where}: {at}: object is a dict (DuIE 2.0 format) but data.format is lic2019")
        if schema.format == "duie2" and not isinstance(o, dict):
            raise DataError(f"{where}: {at}: object is {type(o).__name__}, not a DuIE 2.0 dict with '@value'; "
                            f"is this LIC2019 data? set data.format=lic2019")
        if schema.format == "duie2" and "@value" not in o:
            bad(report.triples_skipped, "missing_field", where, f"{at} object has no '@value'")
            continue
        flat = _flatten_object(o, p) if schema.format == "duie2" else [(p, o)]
        if not isinstance(s, str) or not isinstance(p, str) or not all(isinstance(v, str) for _, v in flat):
            bad(report.triples_skipped, "bad_field_type", where, f"{at} subject, predicate and objects must be strings")
            continue
        if normalize == "lower":
            s = casefold_text(s)
            flat = [(fp, casefold_text(v)) for fp, v in flat]
        if not s or not all(v for _, v in flat):
            bad(report.triples_skipped, "empty_span", where, f"{at} has an empty subject or object")
            continue
        s_spans, s_exact = _find(text, s)
        if not s_spans:
            bad(report.triples_skipped, "subject_not_found", where, f"{at} subject {s!r} is not in the text")
            continue
        if not s_exact:
            report.note(report.notes, "case_insensitive_match", where)
        for n, (fp, v) in enumerate(flat):
            if fp not in schema:
                if n == 0:  # no base predicate: its slots cannot stand alone
                    bad(report.triples_skipped, "predicate_not_in_schema", where, f"{at} predicate {fp!r}")
                    break
                bad(report.triples_skipped, "predicate_not_in_schema", where, f"{at} object slot {fp!r}")
                continue
            v_spans, v_exact = _find(text, v)
            if not v_spans:
                bad(report.triples_skipped, "object_not_found", where, f"{at} object {v!r} ({fp}) is not in the text")
                if n == 0:
                    break
                continue
            if not v_exact:
                report.note(report.notes, "case_insensitive_match", where)
            t = Triple(s, fp, v)
            if t in seen:
                report.note(report.notes, "duplicate_triple", where)
                continue
            seen.add(t)
            triples.append(t)
    return triples


def read_samples(path, schema: Schema, data, *, keep_raw: bool = True) -> list[Sample]:
    """Samples of ``path`` read as every stage reads its inputs (the ``data`` config section's
    ``on_error`` and ``normalize``), with the read report's summary logged (``keep_raw``: `read_dataset`)."""
    samples, report = read_dataset(path, schema, on_error=data.on_error, normalize=data.normalize,
                                   keep_raw=keep_raw)
    log(report.summary())
    return samples


def assemble_duie(triples) -> list[dict]:
    """Flat DuIE triples -> complex spo dicts ``{subject, predicate, object: {"@value", slot...}}``.

    Rule: every slot value of (s, p) is attached to every base object of (s, p); a
    slot with several values gives one spo per value (cartesian product over slots).
    This is exact when each (s, p) has one base object with at most one value per
    slot, and over-generates only where the flat form is ambiguous. Slot triples
    with no base triple for their (s, p) cannot form an spo and are left out.
    """
    bases: dict[tuple[str, str], set[str]] = defaultdict(set)
    slot_values: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for t in triples:
        base, _, slot = t.predicate.rpartition("_")
        if base and slot in DUIE_SLOTS:
            slot_values[(t.subject, base)][slot].add(t.object)
        else:
            bases[(t.subject, t.predicate)].add(t.object)
    out = []
    for (s, p), objects in sorted(bases.items()):
        slots = sorted(slot_values.get((s, p), {}).items())
        names = [name for name, _ in slots]
        for value in sorted(objects):
            for combo in itertools.product(*(sorted(v) for _, v in slots)):
                out.append({"subject": s, "predicate": p, "object": {"@value": value, **dict(zip(names, combo, strict=True))}})
    return out


def restore_case(s: str, sample: Sample) -> str:
    """Map a string predicted on the normalised text back to the original text's spelling."""
    original = sample.raw.get("text", "")
    if s in original or len(original) != len(sample.text):
        return s
    spans = _occurrences(sample.text, s)
    return original[spans[0][0]:spans[0][1] + 1] if spans else s


def typed_spo(subject: str, predicate: str, obj, schema: Schema) -> dict:
    """A competition spo dict ``{subject, predicate, object, subject_type, object_type}`` with the schema's types.

    ``obj`` is the object string (LIC2019) or, for a DuIE 2.0 schema, the complex
    object dict ``{"@value": ..., slot: ...}``, whose ``object_type`` is then a dict
    with the same keys (slot types from the flat ``<predicate>_<slot>`` entries).
    The schema's format decides which; types are `Schema.types` (the first listed).
    """
    s_type, o_type = schema.types(predicate)
    if schema.format == "duie2":
        o_type = {k: schema.types(predicate if k == "@value" else f"{predicate}_{k}")[1] for k in obj}
    return {"subject": subject, "predicate": predicate, "object": obj, "subject_type": s_type, "object_type": o_type}


def read_predictions(path, samples: Sequence[Sample], schema: Schema, normalize: str) -> list[set[Triple]]:
    """A predictions file written by `data.write_predictions` over ``samples`` -> one triple set per sample."""
    predicted, _ = read_dataset(path, schema, on_error="raise", normalize=normalize, keep_raw=False)
    if len(predicted) != len(samples):
        raise DataError(f"{path}:1: {len(predicted)} predicted lines for {len(samples)} samples; "
                        f"re-run the stage that wrote it")
    for p, s in zip(predicted, samples):
        if p.raw.get("text") != s.raw.get("text"):
            raise DataError(f"{p.source}: text differs from {s.source}: predictions are for another file")
    return [set(p.triples) for p in predicted]



def prediction_lines(samples: Sequence[Sample], predictions: Sequence[set[Triple]], schema: Schema) -> Iterator[dict]:
    """The competition format: each input line with its `spo_list` replaced by the predictions."""
    if len(samples) != len(predictions):
        raise ValueError(f"{len(samples)} samples but {len(predictions)} prediction sets")
    for sample, pred in zip(samples, predictions, strict=True):
        for t in pred:
            if t.predicate not in schema:
                raise ValueError(f"{sample.source}: predicted predicate {t.predicate!r} is not in the schema")
        pred = {Triple(restore_case(t.subject, sample), t.predicate, restore_case(t.object, sample))
                for t in pred}
        if schema.format == "lic2019":
            spo_list = [typed_spo(t.subject, t.predicate, t.object, schema) for t in sorted(pred)]
        else:
            spo_list = [typed_spo(spo["subject"], spo["predicate"], spo["object"], schema)
                        for spo in assemble_duie(pred)]
        out = dict(sample.raw)
        out["spo_list"] = spo_list
        yield out


def write_predictions(path, samples: list[Sample], predictions: list[set[Triple]], schema: Schema) -> None:
    """Write `prediction_lines` as JSON lines, atomically."""
    write_json_lines(path, prediction_lines(samples, predictions, schema))


def write_json_lines(path, lines: Iterable[dict]) -> None:
    """One JSON object a line (UTF-8, not ASCII-escaped) to ``path`` atomically, or to stdout for ``-``."""
    if str(path) == "-":
        for line in lines:
            sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
        return
    with atomic_write(path) as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
