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

Prediction (`Predictor`, which the ensemble stage also uses for its dev rows): within a family the fold models'
probabilities are averaged, across families the triple sets are united (`ensemble.predict`, `ensemble.union`);
texts longer than the models' max_len are windowed (`extractor.predict_samples`); the prediction rules apply once,
to the union (some rules are not idempotent: `climate_prefix` would prefix twice). The knowledge bases are passed
to the predictor, never set on the members' encoders. The folder can be copied anywhere.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from . import ensemble
from .config import ENSEMBLE_MODES, FAMILY_NAME
from .data import FORMATS, NORMALIZE, DataError, Sample, Schema, Triple
from .decode import Thresholds
from .files import atomic_dir
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


def load_kb(directory, name: str, schema: Schema) -> KnowledgeBase:
    """A KB for test texts (no sample ids, so no self-exclusion) from `save_kb`'s file ``directory/name``
    (confined to ``directory``): every triple a [subject, predicate index within ``schema``, object] with
    non-empty strings."""
    path = Path(directory) / name
    f = Fields(path, read_json(directory, name, f"{Path(directory) / SYSTEM_FILE}:1: test_kb"))
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


class FoldPrior:
    """A prior member that reads its own knowledge base (`prior.test_kb: fold`): the candidates of each text of a
    batch, from ``kb`` on the text as the member's encoder clips it (`features.Encoder.prior_candidates`), are given
    to the member in the batch (`extractor.TextBatch.candidates`). The KB is passed in, never set on the member's
    encoder, so the members of one family average over one batch with different KBs."""

    def __init__(self, model, kb: KnowledgeBase):
        self.model, self.kb = model, kb
        self._last: tuple | None = None       # (the caller's batch, the member's): one encoding per batch

    @property
    def max_len(self) -> int:
        return self.model.max_len

    def _batch(self, batch):
        if self._last is None or self._last[0] is not batch:
            cands = [self.kb.candidates(text[:self.model.max_len]) for text in batch.texts]
            self._last = (batch, dataclasses.replace(batch, candidates=cands))
        return self._last[1]

    def subject_probs(self, batch):
        return self.model.subject_probs(self._batch(batch))

    def object_probs(self, batch, rows, spans):
        return self.model.object_probs(self._batch(batch), rows, spans)


SubSystem = Mapping[str, Sequence[int]]       # family -> its folds (`ensemble.system_members`)


class Predictor:
    """Predicts any sub-system of loaded member models: each family's fold models averaged (`ensemble.predict`),
    the families united (`ensemble.union`), the prediction rules applied once, to the union. The ensemble stage's
    dev rows (single, average/<family>, union, submitted) and `System.predict` (the test predictions,
    `dgcnn-ie predict --model system`) are this code.

    ``models[family][fold]``: the loaded extractors; ``prior_families``: the families that read prior features.
    Their candidates (`prior.test_kb`): ``all``, one list per text shared by every prior member, the ``candidates``
    given to `predict_systems` (the prior stage's) or else those of ``kb``; ``fold``, ``fold_kbs[f]`` for each
    prior fold-f member (`FoldPrior`)."""

    def __init__(self, models: Mapping[str, Mapping[int, object]], prior_families: Iterable[str], schema: Schema,
                 thresholds: Thresholds, batch_size: int, rules: RuleSet = RuleSet(), *,
                 kb: KnowledgeBase | None = None, fold_kbs: Mapping[int, KnowledgeBase] | None = None):
        self.prior_families = frozenset(prior_families)
        if not self.prior_families <= set(models):
            raise ValueError(f"prior families {sorted(self.prior_families - set(models))} have no models")
        if kb is not None and fold_kbs is not None:
            raise ValueError("one knowledge base for all members (kb) or one per fold (fold_kbs), not both")
        if fold_kbs is not None:
            missing = sorted({f for fam in self.prior_families for f in models[fam]} - set(fold_kbs))
            if missing:
                raise ValueError(f"no knowledge base for fold(s) {missing}")
            models = {fam: {f: FoldPrior(m, fold_kbs[f]) if fam in self.prior_families else m
                            for f, m in by_fold.items()} for fam, by_fold in models.items()}
        self.models = {fam: dict(by_fold) for fam, by_fold in models.items()}
        self.schema, self.thresholds, self.batch_size, self.rules = schema, thresholds, batch_size, rules
        self.kb, self.fold_kbs = kb, fold_kbs

    def reads_prior(self, system: SubSystem) -> bool:
        return any(family in self.prior_families for family in system)

    def predict(self, samples: Sequence[Sample | str], system: SubSystem, *, candidates: Sequence[list] | None = None,
                batch_size: int | None = None) -> list[set[Triple]]:
        """The triples of one sub-system for every sample."""
        return self.predict_systems(samples, {"": system}, candidates=candidates, batch_size=batch_size)[""]

    def predict_systems(self, samples: Sequence[Sample | str], systems: Mapping[str, SubSystem], *,
                        candidates: Sequence[list] | None = None,
                        batch_size: int | None = None) -> dict[str, list[set[Triple]]]:
        """The triples of each named sub-system for every sample; a family's average over the same folds is
        computed once. ``candidates``: the shared prior candidates of each sample (`prior.test_kb: all`)."""
        if candidates is not None and self.fold_kbs is not None:
            raise ValueError("candidates given, but each prior member reads its fold's knowledge base")
        texts = [s if isinstance(s, str) else s.text for s in samples]
        if candidates is None and self.kb is not None and any(map(self.reads_prior, systems.values())):
            candidates = [self.kb.candidates(text) for text in texts]
        averages: dict[tuple, list[set[Triple]]] = {}

        def average(family: str, folds: Sequence[int]) -> list[set[Triple]]:
            key = (family, tuple(folds))
            if key not in averages:
                averages[key] = ensemble.predict(
                    [self.models[family][f] for f in folds], samples, self.schema, self.thresholds,
                    batch_size or self.batch_size, candidates if family in self.prior_families else None)
            return averages[key]

        return {name: self.rules.apply_each(texts, ensemble.union([average(fam, fs) for fam, fs in system.items()]))
                for name, system in systems.items()}


class System:
    """A loaded system folder: ``predict(samples)`` gives the triples the submission is made of (its `Predictor`,
    built from the folder, on the submitted members)."""

    def __init__(self, directory, doc: SystemDoc, schema: Schema, models: dict[str, list], kb: KnowledgeBase | None,
                 fold_kbs: dict[int, KnowledgeBase] | None = None):
        self.directory, self.doc, self.schema, self.models, self.kb = Path(directory), doc, schema, models, kb
        self.members = list(doc.members)
        self.batch_size = doc.batch_size
        self.normalize, self.format = doc.normalize, doc.format
        self.rules = RuleSet.build(list(doc.rules), schema)
        self.predictor = Predictor({m.family: dict(zip(m.folds, models[m.family])) for m in self.members},
                                   [m.family for m in self.members if m.prior], schema, doc.thresholds,
                                   doc.batch_size, self.rules, kb=kb, fold_kbs=fold_kbs)

    @property
    def thresholds(self) -> Thresholds:
        return self.predictor.thresholds

    @thresholds.setter
    def thresholds(self, value: Thresholds) -> None:      # `dgcnn-ie predict --start-threshold`
        self.predictor.thresholds = value

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
        fold_kbs = {f: load_kb(directory, fold_kb_file(f), schema)
                    for f in prior_folds} if doc.test_kb == "fold" else None
        models = {}
        for m in doc.members:
            models[m.family] = []
            for f in m.folds:
                folder = inside(directory, Path(MODELS_DIR, m.family, f"fold{f}"),
                                f"{directory / SYSTEM_FILE}:1: members: family {m.family} fold {f}")
                extractor = load_extractor(folder, word2vec_path=vectors)
                if extractor.schema != schema:
                    raise DataError(f"{folder}:1: family {m.family} fold {f}: a model of another schema than "
                                    f"{directory / SCHEMA_FILE}")
                if extractor.uses_prior != m.prior or extractor.normalize != doc.normalize:
                    raise DataError(f"{folder}:1: family {m.family} fold {f}: uses_prior {extractor.uses_prior}, "
                                    f"normalize {extractor.normalize}; system.json says prior {m.prior}, "
                                    f"normalize {doc.normalize}")
                models[m.family].append(extractor)
        kb = load_kb(directory, KB_FILE, schema) \
            if doc.test_kb == "all" and prior_folds else None
        return cls(directory, doc, schema, models, kb, fold_kbs)

    def predict(self, samples: Sequence[Sample], batch_size: int | None = None) -> list[set[Triple]]:
        """The system's triples for every sample: each family averaged, the families united, the rules once."""
        return self.predictor.predict(samples, {m.family: m.folds for m in self.members}, batch_size=batch_size)
