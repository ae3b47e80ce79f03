"""kg-2019's hand-written rules, each a switch (params `rules.labels.*`, `rules.predictions.*`).

Label rules (kg-2019 `repair()`, applied there to every training and dev sample) are applied here by
the prepare stage to the training file only: the dev file stays as released, so dev scores remain
comparable with any other system. Prediction rules are kg-2019's `extract_items` post-processing
(spouse symmetry, album filter) followed by `post_repair.py`'s, in that order; they are applied to
the final triples of whatever decodes (`evaluate`, each family average and the union in `ensemble`,
the exported `system/`), never during training (model selection and the cv_raw votes see the
model alone; kg-2019's per-epoch dev score included its two `extract_items` rules).

Each rule names the predicates it is about; a rule none of whose predicates is in the schema does
nothing (`RuleSet.inactive` lists them; the stages log it). Apply a rule set once to a system's final
triples: some rules are not idempotent (`climate_prefix`, `ancestral_home_suffix` and `company_suffix`
extend or trim again), as in kg-2019, where post_repair.py ran once on the submission. Where post_repair.py relies on a Python
quirk, the intent is kept and the difference is noted at the rule (docs/deviations.md).
"""
from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from typing import Callable, Iterable, Sequence

from .data import Schema, Triple

TITLE = re.compile(r"《([^《》]*?)》")
ALBUM, SONG_PREDICATES = "所属专辑", ("歌手", "作词", "作曲")
SPOUSES = {"妻子": "丈夫", "丈夫": "妻子"}
COMPANY_SUFFIXES = ("集团", "公司", "有限公司", "电视台", "集团公司", "文化传媒有限公司", "传媒有限公司", "股份有限公司",
                    "有限责任公司", "工作室", "株式会社", "中心", "影视传媒", "传媒股份有限公司", "保险有限公司")
COMPANY_SUBJECT_PREDICATES = ("成立日期", "注册资本", "董事长", "创始人", "总部地点", "占地面积", "简称")
FAMILY_PREDICATES = ("父亲", "母亲", "丈夫", "妻子")
NOT_CJK = re.compile(r"[^\u4e00-\u9fa5]")
OBJECT_SEPARATORS = re.compile(r"[、，]")

# name -> the predicates it is about, in application order
LABEL_RULES = {
    "title_marks": None,                                  # every predicate
    "album_songs": (ALBUM, *SONG_PREDICATES),
}
PREDICTION_RULES = {
    "spouse_symmetry": ("妻子", "丈夫"),
    "album_songs": (ALBUM, *SONG_PREDICATES),
    "taxon_rank": ("目",),
    "nationality_party": ("国籍",),
    "author_organisation": ("作者",),
    "self_relation": FAMILY_PREDICATES,
    "climate_prefix": ("气候",),
    "ancestral_home_suffix": ("祖籍",),
    "publisher_suffix": ("出版社",),
    "company_suffix": (*COMPANY_SUBJECT_PREDICATES, "出品公司"),
    "split_objects": None,
    "merge_objects": None,
    "parents_spouses": ("父亲", "母亲", "丈夫", "妻子"),
}


def _album_songs(items: Iterable, spo: Callable = lambda t: (t.subject, t.predicate, t.object)) -> list:
    """kg-2019: drop 歌手/作词/作曲 triples whose subject is an album (object of 所属专辑) but not a song.
    ``spo(item)``: its (subject, predicate, object), or None for an item the rule leaves alone."""
    items = list(items)
    triples = [spo(item) for item in items]
    albums = {t[2] for t in triples if t is not None and t[1] == ALBUM}
    songs = {t[0] for t in triples if t is not None and t[1] == ALBUM}
    return [item for item, t in zip(items, triples)
            if t is None or not (t[1] in SONG_PREDICATES and t[0] in albums and t[0] not in songs)]


def _raw_spo(spo) -> tuple | None:
    """(subject, predicate, object) of a raw `spo_list` entry (a DuIE object's ``@value``); None if not a dict."""
    if not isinstance(spo, dict):
        return None
    obj = spo.get("object")
    return spo.get("subject"), spo.get("predicate"), obj.get("@value") if isinstance(obj, dict) else obj


# ------------------------------------------------------------------------------------------- labels
def _strip_title(value: str) -> str:
    return value.strip("《》").strip() or value


def repair_labels(raw: dict, text: str, enabled: Iterable[str], fmt: str) -> tuple[dict, dict[str, int]]:
    """kg-2019 `repair()` on one raw training line: (the line with its `spo_list` repaired, changes per rule).

    ``title_marks``: 《》 stripped from subject and object (a DuIE object's ``@value``); a subject that is
    part of a 《...》 title of the text and occurs once in it becomes the whole title. ``album_songs``: see
    `_album_songs`. The text is not changed (lowercasing is `data.normalize`); the line is copied, not
    modified, and returned as is when nothing changed."""
    enabled = set(enabled)
    spos = raw.get("spo_list")
    counts = {name: 0 for name in LABEL_RULES if name in enabled}
    if not enabled or not isinstance(spos, list):
        return raw, counts
    spos = [dict(spo) if isinstance(spo, dict) else spo for spo in spos]
    if "title_marks" in enabled:
        titles = [t.strip() for t in TITLE.findall(text)]
        for spo in spos:
            if not isinstance(spo, dict) or not isinstance(spo.get("subject"), str):
                continue
            before = (spo["subject"], spo.get("object"))
            s = _strip_title(spo["subject"])
            for title in titles:
                if s in title and text.count(s) == 1:
                    s = title
            spo["subject"] = s
            obj = spo.get("object")
            if isinstance(obj, str):
                spo["object"] = _strip_title(obj)
            elif fmt == "duie2" and isinstance(obj, dict) and isinstance(obj.get("@value"), str):
                spo["object"] = {**obj, "@value": _strip_title(obj["@value"])}
            counts["title_marks"] += (spo["subject"], spo.get("object")) != before
    if "album_songs" in enabled:
        kept = _album_songs(spos, _raw_spo)
        counts["album_songs"] = len(spos) - len(kept)
        spos = kept
    if not any(counts.values()):
        return raw, counts
    return {**raw, "spo_list": spos}, counts


# -------------------------------------------------------------------------------------- predictions
def _spouse_symmetry(text: str, triples: list[Triple]) -> list[Triple]:
    return triples + [Triple(t.object, SPOUSES[t.predicate], t.subject) for t in triples if t.predicate in SPOUSES]


def _per_triple(text: str, triples: list[Triple], enabled: set[str]) -> list[Triple]:
    """post_repair.py's first pass: for each triple the first enabled rule that matches it, in its order. A rule
    switched off is a branch taken out of post_repair.py's if/elif chain: a triple it would have taken goes on
    to the later rules (with `company_suffix` off, `split_objects` may split a company predicate's object)."""
    out = []
    for t in triples:
        s, p, o = t.subject, t.predicate, t.object
        if "taxon_rank" in enabled and p == "目" and s[-1:] in ("科", "属"):
            continue
        if "nationality_party" in enabled and p == "国籍" and o == "中国" and "中国共产党" in text \
                and text.count("中国") == 1:
            continue
        if "author_organisation" in enabled and p == "作者" and (o[-2:] in ("公司", "学会") or o[-3:] in ("出版社", "委员会")):
            continue
        if "self_relation" in enabled and s == o and p in FAMILY_PREDICATES:
            continue
        if "climate_prefix" in enabled and p == "气候" and len(o) >= 2 and text.find(o) > 0 \
                and text[text.find(o) - 1] in "南北亚中":
            # post_repair.py indexes text[find(o) - 1] also when o is at 0 or absent (then a char from the end)
            out.append(Triple(s, p, text[text.find(o) - 1] + o))
            continue
        if "ancestral_home_suffix" in enabled and p == "祖籍" and o[-1:] == "人" and len(o) > 1:
            out.append(Triple(s, p, o[:-1]))
            continue
        if "publisher_suffix" in enabled and p == "出版社" and o[-3:] != "出版社" and o + "出版社" in text:
            out.append(Triple(s, p, o + "出版社"))
            continue
        if "company_suffix" in enabled and p in COMPANY_SUBJECT_PREDICATES:
            for suffix in COMPANY_SUFFIXES:          # cumulative, as post_repair.py's in-place update
                if not s.endswith(suffix) and s + suffix in text:
                    s += suffix
            out.append(Triple(s, p, o))
            continue
        if "company_suffix" in enabled and p == "出品公司":
            for suffix in COMPANY_SUFFIXES:
                if not o.endswith(suffix) and o + suffix in text:
                    o += suffix
            out.append(Triple(s, p, o))
            continue
        if "split_objects" in enabled and OBJECT_SEPARATORS.search(o):
            out += [Triple(s, p, part) for part in OBJECT_SEPARATORS.split(o) if part]
            continue
        out.append(t)
    if "taxon_rank" in enabled and not out:     # nothing left: keep one 目 triple (a 属 first, else a 科)
        for ending in ("属", "科"):
            kept = [t for t in triples if t.predicate == "目" and t.subject[-1:] == ending]
            if kept:
                return kept[:1]
    return out


def _contained(a: str, b: str) -> bool:
    """post_repair.py: the shorter ``a`` occurs in ``b`` not right after or before 和 / 的."""
    i = b.find(a)
    if i < 0 or (i > 0 and b[i - 1] in "和的"):
        return False
    return len(b) == i + len(a) or b[i + len(a)] not in "和的"


def _merge_pair(values: list[str], text: str, alphabetic: bool) -> list[str]:
    """Two values of one (key, predicate): one merged value when post_repair.py would merge them."""
    if len(values) != 2:
        return values
    a, b = sorted(values)
    if alphabetic and a.isascii() and b.isascii() and a.isalpha() and b.isalpha():
        lowered = text.lower()
        for first, second in ((a, b), (b, a)):
            if f"{first} {second}" in lowered:
                return [f"{first} {second}"]
        return values
    if not NOT_CJK.search(a) and not NOT_CJK.search(b):
        short, long_ = (a, b) if len(a) <= len(b) else (b, a)
        if short in long_ and _contained(short, long_):
            return [long_]
    return values


def _merge(text: str, triples: list[Triple]) -> list[Triple]:
    by_sp: dict[tuple, list[str]] = defaultdict(list)
    for t in dict.fromkeys(triples):
        by_sp[(t.subject, t.predicate)].append(t.object)
    merged = [Triple(s, p, o) for (s, p), objs in by_sp.items() for o in _merge_pair(objs, text, alphabetic=True)]
    by_op: dict[tuple, list[str]] = defaultdict(list)
    for t in dict.fromkeys(merged):
        by_op[(t.object, t.predicate)].append(t.subject)
    return [Triple(s, p, o) for (o, p), subs in by_op.items() for s in _merge_pair(subs, text, alphabetic=False)]


def _parents_spouses(text: str, triples: list[Triple]) -> list[Triple]:
    """post_repair.py: a person's 父亲 a and 母亲 b are spouses; a 父亲's 妻子 is the 母亲 (and the reverse)."""
    of: dict[str, dict[str, str]] = defaultdict(dict)
    for t in triples:
        of[t.subject][t.predicate] = t.object
    out = list(triples)
    for person, rel in list(of.items()):
        if set(rel) == {"父亲", "母亲"}:
            father, mother = rel["父亲"], rel["母亲"]
            out += [Triple(father, "妻子", mother), Triple(mother, "丈夫", father)]
        if "父亲" in rel and "母亲" not in rel:
            wife = of.get(rel["父亲"], {}).get("妻子")
            if wife is not None and wife != person:
                out.append(Triple(person, "母亲", wife))
        elif "母亲" in rel and "父亲" not in rel:
            husband = of.get(rel["母亲"], {}).get("丈夫")
            if husband is not None and husband != person:
                out.append(Triple(person, "父亲", husband))
    return out


@dataclasses.dataclass(frozen=True)
class RuleSet:
    """The prediction rules in force: ``apply(text, triples)`` -> the triples after them."""

    enabled: tuple[str, ...] = ()
    inactive: tuple[str, ...] = ()            # enabled, but about predicates the schema lacks: no-ops
    predicates: frozenset | None = None       # the schema's: a triple a rule makes with another predicate is
                                              # dropped (spouse_symmetry with 妻子 but no 丈夫 in the schema)

    @classmethod
    def build(cls, enabled: Iterable[str], schema: Schema | None = None) -> "RuleSet":
        names = [n for n in PREDICTION_RULES if n in set(enabled)]
        unknown = set(enabled) - set(PREDICTION_RULES)
        if unknown:
            raise ValueError(f"unknown prediction rules: {sorted(unknown)}")
        inactive = [n for n in names if schema is not None and PREDICTION_RULES[n] is not None
                    and not any(p in schema for p in PREDICTION_RULES[n])]
        return cls(tuple(n for n in names if n not in inactive), tuple(inactive),
                   frozenset(schema.predicates) if schema is not None else None)

    @classmethod
    def from_config(cls, cfg, schema: Schema | None = None) -> "RuleSet":
        """From the `rules.predictions` section (its true switches)."""
        return cls.build([f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name)], schema)

    def describe(self) -> str:
        text = ", ".join(self.enabled) or "none"
        return text + (f" (no-ops, predicates not in the schema: {', '.join(self.inactive)})" if self.inactive else "")

    def apply_each(self, texts: Sequence[str], predictions: list[set[Triple]]) -> list[set[Triple]]:
        """``apply`` on every text's triples (the same list when no rule is on)."""
        if not self.enabled:
            return predictions
        return [self.apply(text, p) for text, p in zip(texts, predictions, strict=True)]

    def apply(self, text: str, triples: Iterable[Triple]) -> set[Triple]:
        if not self.enabled:
            return set(triples)
        enabled = set(self.enabled)
        out = sorted(set(triples), key=lambda t: (t.subject, t.predicate, t.object))
        steps: list[Callable[[str, list[Triple]], list[Triple]]] = []
        if "spouse_symmetry" in enabled:
            steps.append(_spouse_symmetry)
        if "album_songs" in enabled:
            steps.append(lambda _, ts: _album_songs(ts))
        steps.append(lambda tx, ts: _per_triple(tx, ts, enabled))
        if "merge_objects" in enabled:
            steps.append(_merge)
        if "parents_spouses" in enabled:
            steps.append(_parents_spouses)
        for step in steps:
            out = step(text, out)
        return {t for t in out if t.subject and t.object and (self.predicates is None or t.predicate in self.predicates)}
