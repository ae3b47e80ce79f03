"""A trained model ready to extract triples: models + encoder + schema + thresholds.

:class:`Extractor` is a probability model for :mod:`dgcnn_ie.decode`; its
``inputs`` are :class:`TextBatch` objects (texts and, for models trained with
prior features, their candidates), so extractors with different vocabularies
can be averaged (``AveragedModel``) on the same batches: use
:func:`predict_samples` with any probability model.

A saved extractor is a folder: ``model.keras`` (the train model; the subject and
object models are cut out of it again on load, sharing its weights),
``config.json``, ``char_vocab.json`` and ``schema.json`` (the predicate order).
It names no path outside itself: word vectors are not copied, ``config.json``
records their digest, and whoever loads the folder gives their folder
(``load_extractor(..., word2vec_path=)``, ``dgcnn-ie predict --word2vec``;
a system folder carries one copy for all its members).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from tqdm import tqdm

from .backend import Compiled
from .config import SEGMENT_BACKENDS, ModelConfig, as_dict, model_config_from_dict
from .data import NORMALIZE, DataError, Sample, Schema, Triple
from .decode import ProbabilityModel, Thresholds, extract
from .features import CharVocab, Encoder, NoWordVectors, WordVectors
from .files import atomic_dir, atomic_write
from .model import SUBJECT_INPUTS, SUBJECT_OUTPUTS, Models, load_models
from .segment import get_segmenter
from .trust import Fields, check_keras_config, inside, read_versioned
from .utils import deferred_stop, log, raise_if_stopped

CONFIG_VERSION = 2      # 2: no word2vec path, the vectors' digest and the weights' signature
MODEL_FILE, CONFIG_FILE, VOCAB_FILE, SCHEMA_FILE = "model.keras", "config.json", "char_vocab.json", "schema.json"


def progress(iterable: Iterable, total: int | None = None, desc: str = "") -> Iterable:
    """A tqdm bar on stderr, off when stderr is not a terminal or the ``CI`` variable is set."""
    disable = not sys.stderr.isatty() or bool(os.environ.get("CI"))
    return tqdm(iterable, total=total, desc=desc, disable=disable, leave=False, dynamic_ncols=True)


def input_specs(num_predicates: int, word_dim: int) -> dict:
    """TensorSpecs of the model inputs (what ``Encoder.encode_inputs`` gives; batch and length dims free).
    TensorFlow only (the train step's signature)."""
    import tensorflow as tf
    c, dw = num_predicates, word_dim
    return {"chars": tf.TensorSpec([None, None], tf.int32),
            "words": tf.TensorSpec([None, None, dw], tf.float32),
            "subject_prior": tf.TensorSpec([None, None, 2], tf.float32),
            "object_prior": tf.TensorSpec([None, None, 2 * c], tf.float32),
            "subject_span": tf.TensorSpec([None, 2], tf.int32)}


@dataclass(eq=False)
class TextBatch:
    """The ``inputs`` of an extractor's probability methods: texts (+ prior candidates per text)."""

    texts: list[str]
    candidates: list[list] | None = None


def _text(sample: Sample | str) -> str:
    return sample if isinstance(sample, str) else sample.text


SENTENCE_ENDS = "。！？；!?;\n"


def text_windows(text: str, max_len: int, overlap: int | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` windows of at most ``max_len`` chars covering ``text``: each window ends just after
    sentence punctuation in its second half where there is some, and the next one starts ``overlap``
    (default ``max_len // 4``) chars earlier, so a relation cut by one window boundary lies whole in the next."""
    if len(text) <= max_len:
        return [(0, len(text))]
    overlap = max_len // 4 if overlap is None else overlap
    if not 0 <= overlap < max_len // 2:
        raise ValueError(f"overlap must be in [0, max_len / 2), got {overlap} for max_len {max_len}")
    out, start = [], 0
    while True:
        end = min(start + max_len, len(text))
        if end < len(text):
            cut = max(text.rfind(p, start + max_len // 2, end) for p in SENTENCE_ENDS)
            if cut >= 0:
                end = cut + 1
        out.append((start, end))
        if end >= len(text):
            return out
        start = end - overlap


def _window_candidates(cands: list | None, start: int, end: int) -> list | None:
    """The prior candidates that lie inside ``[start, end)``, in window coordinates."""
    if cands is None:
        return None
    return [((s0 - start, s1 - start), p, (o0 - start, o1 - start)) for (s0, s1), p, (o0, o1) in cands
            if start <= min(s0, o0) and max(s1, o1) < end]


def predict_samples(prob_model: ProbabilityModel, samples: Sequence[Sample | str], schema: Schema, *,
                    thresholds: Thresholds, batch_size: int, candidates: Sequence[list] | None = None,
                    show_progress: bool = True, rules=None) -> list[set[Triple]]:
    """Triples of every sample (in input order), decoded in length-sorted batches.

    A text longer than the model's ``max_len`` (when the model has one) is not clipped: it is split into
    overlapping windows (`text_windows`), each decoded on its own, and its triples are the union of its
    windows' (logged with the number of texts windowed). The original code (kg-2019) decodes a text whole; its
    position table of 512 rows bounds that, so windowing is this project's addition (method.md §4 asks that long
    texts be clipped or windowed, never crash). ``rules`` (a `dgcnn_ie.rules.RuleSet`, not imported here so that
    editing the rules retrains nothing), when given, then apply to each text's triples."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if candidates is not None and len(candidates) != len(samples):
        raise ValueError(f"{len(candidates)} candidate lists for {len(samples)} samples")
    max_len = getattr(prob_model, "max_len", None)
    origin, texts, window_cands = [], [], []
    windowed = 0
    for i, s in enumerate(samples):
        text = _text(s)
        spans = text_windows(text, max_len) if max_len else [(0, len(text))]
        windowed += len(spans) > 1
        for start, end in spans:
            origin.append(i)
            texts.append(text[start:end])
            window_cands.append(None if candidates is None else
                                (candidates[i] if len(spans) == 1 else _window_candidates(candidates[i], start, end)))
    if windowed:
        log(f"predict: {windowed} of {len(samples)} texts longer than {max_len} chars, decoded in "
            f"{len(texts) - len(samples) + windowed} overlapping windows")
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    results: list[set[Triple]] = [set() for _ in samples]
    with deferred_stop():       # a signal stops between batches, never inside TensorFlow
        for idx in (progress(chunks, desc="predict") if show_progress else chunks):
            batch = TextBatch([texts[i] for i in idx], None if candidates is None else [window_cands[i] for i in idx])
            for i, triples in zip(idx, extract(prob_model, batch, batch.texts, schema, thresholds)):
                results[origin[i]] |= triples
            raise_if_stopped()
    return results if rules is None else rules.apply_each([_text(s) for s in samples], results)


class Extractor:
    """Probability model and predictor over one trained model.

    With ``uses_prior``, candidates come from ``TextBatch.candidates`` or, when
    absent, from the encoder's knowledge base; without a KB that is an error.
    Models trained without prior get all-zero prior channels.
    """

    def __init__(self, models: Models, encoder: Encoder, schema: Schema, model_config: ModelConfig,
                 thresholds: Thresholds = Thresholds(), *, uses_prior: bool = False, word2vec_path: str | None = None,
                 segmenter: str = "jieba", normalize: str = "none", batch_size: int = 64, jit_compile: bool = False):
        out_c = models.object.output["object_start"].shape[-1]
        if out_c != len(schema):
            raise ValueError(f"the model has {out_c} predicate outputs but the schema {len(schema)} predicates")
        self.models, self.encoder, self.schema, self.model_config = models, encoder, schema, model_config
        self.thresholds, self.uses_prior, self.batch_size = thresholds, uses_prior, batch_size
        self.word2vec_path, self.segmenter, self.normalize = word2vec_path, segmenter, normalize
        self.rules = None                 # a rules.RuleSet: set by whoever makes final predictions, never saved
        # one encoder pass per sentence (`sentence`), then per batch of decoded subjects only the object heads
        # on those sentences' tensors (`object_head`); see dgcnn_ie.model. Compiled: dgcnn_ie.backend
        variables = models.train.variables
        self._sentence_fn = Compiled(models.sentence, variables, jit_compile=jit_compile)
        self._head_fn = Compiled(models.object_head, variables, jit_compile=jit_compile)
        self._n_subject_outputs = len(SUBJECT_OUTPUTS)
        # the last batch: (batch, its inputs, candidates, its sentence tensors or None until computed)
        self._cache: list | None = None

    # ------------------------------------------------------------------ probability model
    def _encoded(self, batch: TextBatch) -> tuple[dict, list | None]:
        """Model inputs and prior candidates of ``batch`` (the last batch is memoised)."""
        if self._cache is None or self._cache[0] is not batch:
            cands = None
            if self.uses_prior:
                cands = batch.candidates if batch.candidates is not None else self.encoder.prior_candidates(batch.texts)
                if cands is None:
                    raise ValueError("this model was trained with prior features: give candidates "
                                     "(or an Encoder with a knowledge base)")
            self._cache = [batch, self.encoder.encode_inputs(batch.texts, prior_candidates=cands), cands, None]
        return self._cache[1], self._cache[2]

    def _sentence_pass(self, batch: TextBatch) -> list[np.ndarray]:
        """[subject_start, subject_end, *sentence tensors] of ``batch`` (memoised with the batch)."""
        inputs, _ = self._encoded(batch)
        if self._cache[3] is None:
            self._cache[3] = self._sentence_fn([inputs[k] for k in SUBJECT_INPUTS])
        return self._cache[3]

    def subject_probs(self, batch: TextBatch) -> tuple[np.ndarray, np.ndarray]:
        start, end = self._sentence_pass(batch)[:self._n_subject_outputs]
        return start, end

    def object_probs(self, batch: TextBatch, rows, spans) -> tuple[np.ndarray, np.ndarray]:
        sentence = self._sentence_pass(batch)[self._n_subject_outputs:]
        inputs, cands = self._encoded(batch)
        rows = np.asarray(rows, dtype=np.int64)
        spans = np.asarray(spans, dtype=np.int32).reshape(-1, 2)
        length = inputs["chars"].shape[1]
        object_prior = self.encoder.object_prior(cands, rows, spans, length)
        start, end = self._head_fn([t[rows] for t in sentence] + [spans, object_prior])
        return start, end

    @property
    def max_len(self) -> int:
        """The longest text the model reads at once (longer ones are windowed by `predict_samples`)."""
        return self.encoder.max_len

    # ------------------------------------------------------------------ prediction
    def predict(self, samples: Sequence[Sample | str], batch_size: int | None = None,
                candidates: Sequence[list] | None = None, show_progress: bool = True) -> list[set[Triple]]:
        """Triples per sample; a text longer than ``max_len`` is decoded in overlapping windows."""
        return predict_samples(self, samples, self.schema, thresholds=self.thresholds,
                               batch_size=batch_size or self.batch_size, candidates=candidates,
                               show_progress=show_progress, rules=self.rules)

    # ------------------------------------------------------------------ persistence
    def config(self) -> dict:
        """config.json: everything the folder needs to be rebuilt, and nothing that points outside it (the word
        vectors are named by their digest; `load_extractor` takes them from the caller)."""
        words = self.encoder.word_vectors
        return {"version": CONFIG_VERSION, "model": as_dict(self.model_config),
                "thresholds": {"start": self.thresholds.start, "end": self.thresholds.end},
                "max_len": self.encoder.max_len, "word_dim": words.dim,
                "word_vectors": {"count": words.count, "sha256": words.digest} if isinstance(words, WordVectors)
                else None,
                "vocab_size": len(self.encoder.vocab), "num_predicates": len(self.schema),
                "weights": weights_signature(self.models), "segmenter": self.segmenter,
                "uses_prior": self.uses_prior, "normalize": self.normalize, "batch_size": self.batch_size}

    def save(self, directory) -> None:
        """Write the extractor folder; an existing folder is replaced only once the new one is complete."""
        with atomic_dir(directory) as tmp:
            self.models.train.save(tmp / MODEL_FILE)
            with atomic_write(tmp / CONFIG_FILE) as f:
                json.dump(self.config(), f, ensure_ascii=False, indent=1)
                f.write("\n")
            self.encoder.vocab.save(tmp / VOCAB_FILE)
            self.schema.save(tmp / SCHEMA_FILE)


def weights_signature(models: Models) -> str:
    """sha256 of the train model's layers (name, class, weight shapes): the architecture and size a config.json
    describes, so that a model file swapped for another one is refused when the folder is opened. Layers, not
    variable paths: Keras names a nested layer's variables differently once a model is reloaded."""
    layers = [[layer.name, type(layer).__name__, [list(w.shape) for w in layer.weights]]
              for layer in models.train.layers]
    return hashlib.sha256(json.dumps(layers).encode()).hexdigest()


@dataclass(frozen=True)
class SavedConfig:
    """config.json of an extractor folder, validated (`read_config`)."""

    model_config: ModelConfig      # config.json's "model"
    thresholds: Thresholds
    max_len: int
    word_dim: int
    word_vectors: dict | None      # {"count", "sha256"} of the vectors the model was trained with
    vocab_size: int
    num_predicates: int
    weights: str
    segmenter: str
    uses_prior: bool
    normalize: str
    batch_size: int


def read_config(directory: Path) -> SavedConfig:
    """Every key of config.json checked (types, ranges, choices; unknown keys refused), errors naming the key."""
    path = directory / CONFIG_FILE
    f = read_versioned(directory, CONFIG_FILE, CONFIG_VERSION,
                       "re-create it with this version (dvc repro: every model retrains once)")
    try:
        model_config = model_config_from_dict(f.raw("model"), f"{path}:1: model")
    except DataError as e:
        raise DataError(" ".join(str(e).split())) from None
    thresholds = f.object("thresholds")
    words = f.raw("word_vectors")
    if model_config.use_word_vectors:
        w = Fields(path, words, "word_vectors.")
        words = {"count": w.int("count", lo=1), "sha256": w.raw("sha256")}
        if not (isinstance(words["sha256"], str) and len(words["sha256"]) == 64):
            raise w.error("word_vectors.sha256", "a sha256 hex digest expected")
        w.done()
    elif words is not None:
        raise f.error("word_vectors", "null expected: model.use_word_vectors is false")
    saved = SavedConfig(
        model_config=model_config,
        thresholds=Thresholds(thresholds.probability("start"), thresholds.probability("end")),
        max_len=f.int("max_len", lo=1), word_dim=f.int("word_dim", lo=0), word_vectors=words,
        vocab_size=f.int("vocab_size", lo=2), num_predicates=f.int("num_predicates", lo=1),
        weights=f.raw("weights"), segmenter=f.choice("segmenter", SEGMENT_BACKENDS),
        uses_prior=f.bool("uses_prior"), normalize=f.choice("normalize", NORMALIZE),
        batch_size=f.int("batch_size", lo=1))
    thresholds.done()
    f.done()
    if not model_config.use_word_vectors and saved.word_dim != 0:
        raise f.error("word_dim", f"{saved.word_dim} for a model without word vectors (0 expected)")
    return saved


def _model_file_error(path, e: BaseException) -> DataError:
    return DataError(f"{path}:1: corrupt or unreadable model file ({type(e).__name__}: {' '.join(str(e).split())[:300]})")


def load_extractor(directory, word2vec_path=None, prior=None) -> Extractor:
    """Load a saved extractor folder, every file validated (see `dgcnn_ie.trust`: nothing outside the folder is
    read, nothing is unpickled). ``word2vec_path``: the word-vectors folder (``models/word2vec``), needed by
    a model that uses word vectors, and refused unless it is the one the model was trained with; ``prior``
    (a ``prior.KnowledgeBase``) supplies candidates for prior models. Errors are `DataError`s naming the file."""
    directory = Path(directory)
    for name in (MODEL_FILE, CONFIG_FILE, VOCAB_FILE, SCHEMA_FILE):
        if not (directory / name).is_file():
            raise DataError(f"{directory / name}:1: not there: {directory} is not a saved extractor "
                            f"(run the stage that trains it)")
    saved = read_config(directory)
    schema = Schema.load(inside(directory, SCHEMA_FILE, f"{directory / SCHEMA_FILE}:1", file=True))
    if len(schema) != saved.num_predicates:
        raise DataError(f"{directory / CONFIG_FILE}:1: num_predicates: {saved.num_predicates}, but "
                        f"{SCHEMA_FILE} has {len(schema)}")
    vocab_path = directory / VOCAB_FILE
    vocab = CharVocab.load(vocab_path)
    if len(vocab) != saved.vocab_size:
        raise DataError(f"{vocab_path}:1: {len(vocab)} chars, config.json's vocab_size is {saved.vocab_size}")
    words = _word_vectors(directory, saved, word2vec_path)
    model_path = inside(directory, MODEL_FILE, f"{directory / MODEL_FILE}:1", file=True)
    check_keras_config(model_path)
    try:
        models = load_models(model_path)
    except Exception as e:       # Keras reports a truncated zip as "File not found" or a bare ValueError
        raise _model_file_error(model_path, e) from None
    if weights_signature(models) != saved.weights:
        raise DataError(f"{model_path}:1: its layers and weight shapes are not those config.json records "
                        f"(model.arch {saved.model_config.arch}): a model file of another architecture or size")
    encoder = Encoder(vocab, words, schema, saved.max_len, prior=prior)
    return Extractor(models, encoder, schema, saved.model_config, saved.thresholds, uses_prior=saved.uses_prior,
                     word2vec_path=None if word2vec_path is None else str(word2vec_path), segmenter=saved.segmenter,
                     normalize=saved.normalize, batch_size=saved.batch_size)


def _word_vectors(directory: Path, saved: SavedConfig, word2vec_path):
    """The model's word-vector features: zeros without word vectors, else the given folder's vectors,
    which must be those recorded in config.json."""
    if not saved.model_config.use_word_vectors:
        return NoWordVectors(saved.word_dim)
    if word2vec_path is None:
        raise DataError(f"{directory / CONFIG_FILE}:1: model.use_word_vectors: the model reads word vectors; give "
                        f"their folder (--word2vec models/word2vec, or a system folder that carries them)")
    words = WordVectors(word2vec_path, get_segmenter(saved.segmenter))
    if words.digest != saved.word_vectors["sha256"] or words.dim != saved.word_dim:
        raise DataError(f"{word2vec_path}:1: not the word vectors the model {directory} was trained with "
                        f"({words.count} x {words.dim}, sha256 {words.digest[:12]}; config.json records "
                        f"{saved.word_vectors['count']} x {saved.word_dim}, "
                        f"sha256 {saved.word_vectors['sha256'][:12]})")
    return words
