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

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from . import ensemble
from .config import ENSEMBLE_MODES, FAMILY_NAME
from .data import FORMATS, NORMALIZE, DataError, Sample, Schema, Triple, atomic_dir
from .decode import Thresholds
from .prior import NO_SAMPLE_IDS, KnowledgeBase
from .rules import PREDICTION_RULES, RuleSet
from .trust import Fields, inside, read_json, read_versioned

VERSION = 3          # 3: word vectors as vectors.npy + words.json (no pickle), fold_count, validated on load
SYSTEM_FILE, SCHEMA_FILE, KB_FILE = "system.json", "schema.json", "kb.json"
MODELS_DIR, WORD2VEC_DIR = "models", "word2vec"
TEST_KBS = ("all", "fold")
MAX_FOLDS = 1000          # folds a system.json may name (the fold folders' names stay short)


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


def load_kb(path, schema: Schema) -> KnowledgeBase:
    """A KB for test texts (no sample ids, so no self-exclusion) from `save_kb`'s file: every triple a
    [subject, predicate index within ``schema``, object] with non-empty strings."""
    f = Fields(path, read_json(Path(path).parent, Path(path).name))
    triples = f.list("triples")
    f.done()
    support: dict[tuple[str, str], dict[int, frozenset[str]]] = {}
    for i, triple in enumerate(triples):
        if not (isinstance(triple, list) and len(triple) == 3 and isinstance(triple[0], str) and triple[0]
                and isinstance(triple[2], str) and triple[2] and isinstance(triple[1], int)
                and not isinstance(triple[1], bool) and 0 <= triple[1] < len(schema)):
            raise f.error(f"triples[{i}]", f"[subject, predicate index in 0..{len(schema) - 1}, object] "
                                           f"expected, got {str(triple)[:80]}")
        support.setdefault((triple[0], triple[2]), {})[triple[1]] = NO_SAMPLE_IDS
    return KnowledgeBase(support, {})


def export_system(directory, *, fmt: str, normalize: str, mode: str, fold_count: int, members: Sequence[Member],
                  model_dirs: dict,
                  schema: Schema, thresholds: Thresholds, batch_size: int, word2vec_dir, kb: KnowledgeBase | None,
                  rules: RuleSet = RuleSet(), fold_kbs: dict[int, KnowledgeBase] | None = None) -> None:
    """Write the system folder atomically. ``fold_count``: the cv folds the members' folds lie below;
    ``model_dirs[(family, fold)]``: each member model's extractor folder;
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
        doc = {"version": VERSION, "format": fmt, "normalize": normalize, "mode": mode, "fold_count": fold_count,
               "thresholds": {"start": thresholds.start, "end": thresholds.end}, "batch_size": batch_size,
               "members": [{"family": m.family, "prior": m.prior, "folds": list(m.folds)} for m in members],
               "word_vectors": uses_words, "rules": list(rules.enabled + rules.inactive),
               "test_kb": "fold" if fold_kbs is not None else "all"}
        (tmp / SYSTEM_FILE).write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def fold_kb_file(fold: int) -> str:
    return f"kb_fold{fold}.json"


@dataclass(frozen=True)
class SystemDoc:
    """system.json, validated (`read_system_doc`)."""

    format: str
    normalize: str
    mode: str
    fold_count: int
    thresholds: Thresholds
    batch_size: int
    members: tuple[Member, ...]
    word_vectors: bool
    rules: tuple[str, ...]
    test_kb: str


def read_system_doc(directory: Path) -> SystemDoc:
    """Every key of system.json checked: known version and choices, finite thresholds in (0, 1), members
    consistent with the mode (single: one family, one fold; average: one family), family names as params'
    (a folder name), distinct folds below ``fold_count``; errors name the key and the member."""
    path = directory / SYSTEM_FILE
    f = read_versioned(directory, SYSTEM_FILE, VERSION, "re-export it with this version (dvc repro ensemble; the "
                                                        "word vectors' new format retrains every model once)")
    thresholds = f.object("thresholds")
    system = SystemDoc(
        format=f.choice("format", FORMATS), normalize=f.choice("normalize", NORMALIZE),
        mode=f.choice("mode", ENSEMBLE_MODES), fold_count=f.int("fold_count", lo=1, hi=MAX_FOLDS),
        thresholds=Thresholds(thresholds.probability("start"), thresholds.probability("end")),
        batch_size=f.int("batch_size", lo=1), members=(), word_vectors=f.bool("word_vectors"),
        rules=tuple(f.list("rules")), test_kb=f.choice("test_kb", TEST_KBS))
    thresholds.done()
    unknown_rules = [r for r in system.rules if not isinstance(r, str) or r not in PREDICTION_RULES]
    if unknown_rules or len(set(system.rules)) != len(system.rules):
        raise f.error("rules", f"{unknown_rules or system.rules}: distinct names of {', '.join(PREDICTION_RULES)} "
                               f"expected")
    members = tuple(_member(path, i, m, system.fold_count) for i, m in enumerate(f.list("members")))
    f.done()
    families = [m.family for m in members]
    if not members or len(set(families)) != len(families):
        raise f.error("members", f"families {families}: at least one, each once")
    if system.mode != "union" and len(members) != 1:
        raise f.error("members", f"mode {system.mode} submits one family, got {len(members)}")
    if system.mode == "single" and len(members[0].folds) != 1:
        raise f.error("members[0].folds", f"mode single submits one fold model, got {len(members[0].folds)}")
    return dataclasses.replace(system, members=members)


def _member(path: Path, i: int, doc, fold_count: int) -> Member:
    m = Fields(path, doc, f"members[{i}].")
    family, prior, folds = m.raw("family"), m.bool("prior"), m.list("folds")
    m.done()
    if not isinstance(family, str) or not FAMILY_NAME.fullmatch(family):
        raise m.error(f"members[{i}].family", f"{family!r} is not a family name (a letter, then letters, digits, "
                                               f"_ or -)")
    if not folds or any(isinstance(x, bool) or not isinstance(x, int) or not 0 <= x < fold_count for x in folds) \
            or len(set(folds)) != len(folds):
        raise m.error(f"members[{i}].folds", f"family {family}: {folds} are not distinct folds in "
                                             f"0..{fold_count - 1} (fold_count {fold_count})")
    return Member(family, prior, tuple(folds))


def is_system(directory) -> bool:
    return (Path(directory) / SYSTEM_FILE).is_file()


class System:
    """A loaded system folder: ``predict(samples)`` gives the triples the submission is made of."""

    def __init__(self, directory, doc: SystemDoc, schema: Schema, models: dict[str, list], kb: KnowledgeBase | None):
        self.directory, self.doc, self.schema, self.models, self.kb = Path(directory), doc, schema, models, kb
        self.members = list(doc.members)
        self.thresholds, self.batch_size = doc.thresholds, doc.batch_size
        self.normalize, self.format = doc.normalize, doc.format
        self.rules = RuleSet.build(list(doc.rules), schema)

    @classmethod
    def load(cls, directory) -> "System":
        """Open a system folder: system.json, the schema, the knowledge bases and every member validated, every
        file read from inside the folder (`dgcnn_ie.trust`); an error names the file, the key and the member."""
        from .extractor import load_extractor
        directory = Path(directory)
        doc = read_system_doc(directory)
        schema = Schema.load(inside(directory, SCHEMA_FILE, f"{directory / SYSTEM_FILE}:1: {SCHEMA_FILE}", file=True))
        if schema.format != doc.format:
            raise DataError(f"{directory / SCHEMA_FILE}:1: format: {schema.format}, system.json says {doc.format}")
        vectors = inside(directory, WORD2VEC_DIR, f"{directory / SYSTEM_FILE}:1: word_vectors") \
            if doc.word_vectors else None
        prior_folds = sorted({f for m in doc.members if m.prior for f in m.folds})
        fold_kbs = {f: load_kb(inside(directory, fold_kb_file(f), f"{directory / SYSTEM_FILE}:1: test_kb"), schema)
                    for f in prior_folds} if doc.test_kb == "fold" else {}
        models = {}
        for m in doc.members:
            models[m.family] = []
            for f in m.folds:
                folder = inside(directory, Path(MODELS_DIR, m.family, f"fold{f}"),
                                f"{directory / SYSTEM_FILE}:1: members: family {m.family} fold {f}")
                extractor = load_extractor(folder, word2vec_path=vectors, prior=fold_kbs.get(f) if m.prior else None)
                if extractor.schema != schema:
                    raise DataError(f"{folder}:1: family {m.family} fold {f}: a model of another schema than "
                                    f"{directory / SCHEMA_FILE}")
                if extractor.uses_prior != m.prior or extractor.normalize != doc.normalize:
                    raise DataError(f"{folder}:1: family {m.family} fold {f}: uses_prior {extractor.uses_prior}, "
                                    f"normalize {extractor.normalize}; system.json says prior {m.prior}, "
                                    f"normalize {doc.normalize}")
                models[m.family].append(extractor)
        # with test_kb fold, each prior member reads its own KB through its encoder: no shared candidates
        kb = load_kb(inside(directory, KB_FILE, f"{directory / SYSTEM_FILE}:1: test_kb"), schema) \
            if doc.test_kb == "all" and prior_folds else None
        return cls(directory, doc, schema, models, kb)

    def predict(self, samples: Sequence[Sample], batch_size: int | None = None) -> list[set[Triple]]:
        """The system's triples for every sample: each family averaged, the families united."""
        cands = [self.kb.candidates(s.text) for s in samples] if self.kb is not None else None
        per_family = [ensemble.predict(self.models[m.family], samples, self.schema, self.thresholds,
                                       batch_size or self.batch_size, cands if m.prior else None)
                      for m in self.members]
        return self.rules.apply_each([s.text for s in samples], ensemble.union(per_family))
