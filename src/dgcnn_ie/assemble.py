"""One model's pieces built from the config, in one place for every stage that trains (train, cv).

The char vocabulary, the word vectors of the word2vec stage with their segmenter, the
`Encoder`, and the `Extractor` that is saved: the same arguments for the single model and
for every fold model of every family.
"""
from __future__ import annotations

import contextlib
from typing import Iterable, Iterator

from . import layout
from .config import ModelConfig, SegmentConfig
from .data import Schema
from .decode import Thresholds
from .extractor import Extractor
from .features import CharVocab, Encoder, NoWordVectors, WordVectors
from .model import Models
from .segment import segmenter_from_config


def build_encoder(model_config: ModelConfig, schema: Schema, vocab_texts: Iterable[str], words, *,
                  kb=None) -> Encoder:
    """An Encoder over the char vocabulary of ``vocab_texts`` (``model_config.min_char_count``) with the word
    features ``words`` (`WordVectors`, `NoWordVectors` or any object with their interface) and the
    knowledge base ``kb`` of a prior-family model."""
    vocab = CharVocab.build(list(vocab_texts), model_config.min_char_count)
    return Encoder(vocab, words, schema, model_config.max_len, prior=kb)


@contextlib.contextmanager
def model_encoder(model_config: ModelConfig, segment: SegmentConfig, schema: Schema, vocab_texts: Iterable[str],
                  *, kb=None) -> Iterator[Encoder]:
    """An Encoder over the char vocabulary of ``vocab_texts`` (``model_config.min_char_count``), the word2vec
    stage's vectors when ``model_config.use_word_vectors`` (their segmenter is closed on exit) and the
    knowledge base ``kb`` of a prior-family model."""
    with contextlib.ExitStack() as stack:
        if model_config.use_word_vectors:
            words = WordVectors(layout.WORD2VEC_DIR, stack.enter_context(segmenter_from_config(segment)))
        else:
            words = NoWordVectors(0)
        yield build_encoder(model_config, schema, vocab_texts, words, kb=kb)


def make_extractor(models: Models, encoder: Encoder, schema: Schema, model_config: ModelConfig,
                   thresholds: Thresholds, *, uses_prior: bool, segment: SegmentConfig, normalize: str,
                   batch_size: int) -> Extractor:
    """The extractor a training stage saves: it records the word-vector path, segmenter, normalisation,
    selection thresholds and decode batch size the model was trained with."""
    return Extractor(models, encoder, schema, model_config, thresholds, uses_prior=uses_prior,
                     word2vec_path=str(layout.WORD2VEC_DIR) if model_config.use_word_vectors else None,
                     segmenter=segment.backend, normalize=normalize, batch_size=batch_size)
