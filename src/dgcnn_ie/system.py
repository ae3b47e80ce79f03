"""The submitted system as one self-contained folder, and the predictor that applies it outside the pipeline.

The ensemble stage exports the exact system its test predictions (and so the submission) come
from, then predicts the test file WITH that folder, so the pipeline and `dgcnn-ie predict --model
system/` are one code path:

    system/system.json      version, data format, normalisation, ensemble mode, decode thresholds and
                            batch size, the prediction rules in force (`rules.RuleSet`), and the members:
                            [{family, prior, folds}] (`ensemble.system_members`)
    system/schema.json      the predicate order (`data.Schema.save`)
    system/models/<family>/fold<f>/   every member's extractor folder, copied
    system/word2vec/        the word vectors the members use (if any), copied: nothing points outside
    system/kb.json          the knowledge base of the families with prior features: the training triples
                            (cleaned labels) the test-time candidates come from (`test_kb: all`), or
    system/kb_fold<f>.json  each fold model's own: the training triples outside fold f (`test_kb: fold`)

Prediction: within a family the fold models' probabilities are averaged, across families the
triple sets are united (`ensemble.predict`, `ensemble.union`); texts longer than the models'
max_len are windowed (`extractor.predict_samples`); the prediction rules apply once, to the union (some
rules are not idempotent: `climate_prefix` would prefix twice). The folder can be copied anywhere.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from . import ensemble
from .data import DataError, Sample, Schema, Triple, atomic_dir
from .decode import Thresholds
from .prior import NO_SAMPLE_IDS, KnowledgeBase
from .rules import PREDICTION_RULES, RuleSet

VERSION = 2          # 2: rules and test_kb (kb_fold<f>.json); a version-1 folder (no rules, one kb.json) loads too
READABLE_VERSIONS = (1, 2)
SYSTEM_FILE, SCHEMA_FILE, KB_FILE = "system.json", "schema.json", "kb.json"
MODELS_DIR, WORD2VEC_DIR = "models", "word2vec"


@dataclass(frozen=True)
class Member:
    """One family of the system: its fold models are averaged."""

    family: str
    prior: bool
    folds: tuple[int, ...]


def save_kb(kb: KnowledgeBase, path) -> None:
    """The KB's triples ``[subject, p_index, object]`` (sorted); enough for test-time candidates."""
    triples = sorted([s, p, o] for (s, o), preds in kb.support.items() for p in preds)
    Path(path).write_text(json.dumps({"triples": triples}, ensure_ascii=False) + "\n", encoding="utf-8")


def load_kb(path) -> KnowledgeBase:
    """A KB for test texts (no sample ids, so no self-exclusion) from `save_kb`'s file."""
    try:
        triples = json.loads(Path(path).read_text(encoding="utf-8"))["triples"]
        support: dict[tuple[str, str], dict[int, frozenset[str]]] = {}
        for s, p, o in triples:
            support.setdefault((s, o), {})[int(p)] = NO_SAMPLE_IDS
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path}:1: not a knowledge base file ({type(e).__name__}: {e})") from None
    return KnowledgeBase(support, {})


def export_system(directory, *, fmt: str, normalize: str, mode: str, members: Sequence[Member], model_dirs: dict,
                  schema: Schema, thresholds: Thresholds, batch_size: int, word2vec_dir, kb: KnowledgeBase | None,
                  rules: RuleSet = RuleSet(), fold_kbs: dict[int, KnowledgeBase] | None = None) -> None:
    """Write the system folder atomically. ``model_dirs[(family, fold)]``: each member model's extractor folder;
    ``word2vec_dir``: the word vectors' folder (copied when a member uses word vectors); ``kb``: the one
    knowledge base of the prior families, or ``fold_kbs[f]``: fold f's own (`prior.test_kb: fold`)."""
    with atomic_dir(directory) as tmp:
        uses_words = False
        for m in members:
            for fold in m.folds:
                src = Path(model_dirs[(m.family, fold)])
                shutil.copytree(src, tmp / MODELS_DIR / m.family / f"fold{fold}")
                config = json.loads((src / "config.json").read_text(encoding="utf-8"))
                uses_words |= bool(config["model"]["use_word_vectors"])
        if uses_words:
            shutil.copytree(word2vec_dir, tmp / WORD2VEC_DIR)
        schema.save(tmp / SCHEMA_FILE)
        prior_folds = sorted({f for m in members if m.prior for f in m.folds})
        if prior_folds and fold_kbs is not None:
            missing = [f for f in prior_folds if f not in fold_kbs]
            if missing:
                raise ValueError(f"no knowledge base for fold(s) {missing}")
            for f in prior_folds:
                save_kb(fold_kbs[f], tmp / fold_kb_file(f))
        elif prior_folds:
            if kb is None:
                raise ValueError("a family with prior features needs the knowledge base")
            save_kb(kb, tmp / KB_FILE)
        doc = {"version": VERSION, "format": fmt, "normalize": normalize, "mode": mode,
               "thresholds": {"start": thresholds.start, "end": thresholds.end}, "batch_size": batch_size,
               "members": [{"family": m.family, "prior": m.prior, "folds": list(m.folds)} for m in members],
               "word_vectors": uses_words, "rules": list(rules.enabled + rules.inactive),
               "test_kb": "fold" if fold_kbs is not None else "all"}
        (tmp / SYSTEM_FILE).write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def fold_kb_file(fold: int) -> str:
    return f"kb_fold{fold}.json"


def is_system(directory) -> bool:
    return (Path(directory) / SYSTEM_FILE).is_file()


class System:
    """A loaded system folder: ``predict(samples)`` gives the triples the submission is made of."""

    def __init__(self, directory, doc: dict, schema: Schema, models: dict[str, list], kb: KnowledgeBase | None):
        self.directory, self.doc, self.schema, self.models, self.kb = Path(directory), doc, schema, models, kb
        self.members = [Member(m["family"], bool(m["prior"]), tuple(m["folds"])) for m in doc["members"]]
        self.thresholds = Thresholds(float(doc["thresholds"]["start"]), float(doc["thresholds"]["end"]))
        self.batch_size, self.normalize, self.format = int(doc["batch_size"]), doc["normalize"], doc["format"]
        self.rules = RuleSet.build(doc.get("rules", []), schema)     # a folder exported before rules: none

    @classmethod
    def load(cls, directory) -> "System":
        from .extractor import load_extractor
        directory = Path(directory)
        path = directory / SYSTEM_FILE
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("version") not in READABLE_VERSIONS:
                raise ValueError(f"version {doc.get('version')!r}, expected one of {READABLE_VERSIONS}")
            members = [(m["family"], bool(m["prior"]), [int(f) for f in m["folds"]]) for m in doc["members"]]
            rules = doc.get("rules", [])
            if not isinstance(rules, list) or set(rules) - set(PREDICTION_RULES):
                raise ValueError(f"rules {rules!r}: expected a list of {sorted(PREDICTION_RULES)}")
            test_kb = doc.get("test_kb", "all")             # a folder exported before the option: all
            if test_kb not in ("all", "fold"):
                raise ValueError(f"test_kb {test_kb!r}: expected 'all' or 'fold'")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DataError(f"{path}:1: not a system file ({type(e).__name__}: {e})") from None
        schema = Schema.load(directory / SCHEMA_FILE)
        vectors = str(directory / WORD2VEC_DIR / "vectors.kv") if doc.get("word_vectors") else None
        fold_kbs = {f: load_kb(directory / fold_kb_file(f)) for _, prior, folds in members if prior for f in folds} \
            if test_kb == "fold" else {}
        models = {family: [load_extractor(directory / MODELS_DIR / family / f"fold{f}", word2vec_path=vectors,
                                          prior=fold_kbs.get(f) if prior else None)
                           for f in folds] for family, prior, folds in members}
        for family, extractors in models.items():
            for ex in extractors:
                if ex.schema != schema:
                    raise DataError(f"{directory / MODELS_DIR / family}:1: a model of another schema than "
                                    f"{directory / SCHEMA_FILE}")
        # with test_kb fold, each prior member reads its own KB through its encoder: no shared candidates
        kb = load_kb(directory / KB_FILE) if test_kb == "all" and any(prior for _, prior, _ in members) else None
        return cls(directory, doc, schema, models, kb)

    def predict(self, samples: Sequence[Sample], batch_size: int | None = None) -> list[set[Triple]]:
        """The system's triples for every sample: each family averaged, the families united."""
        cands = [self.kb.candidates(s.text) for s in samples] if self.kb is not None else None
        per_family = [ensemble.predict(self.models[m.family], samples, self.schema, self.thresholds,
                                       batch_size or self.batch_size, cands if m.prior else None)
                      for m in self.members]
        return self.rules.apply_each([s.text for s in samples], ensemble.union(per_family))
