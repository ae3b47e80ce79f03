"""DVC stage `word2vec`: train word vectors on the segmented corpus.

Reads the prepared train and dev texts (labels unused), the `word2vec.extra_dir` text files
and `data/prepared/test_texts.txt` (the test texts when `word2vec.include_test`, written by
prepare; empty otherwise, so a new test file does not retrain the vectors). Writes `models/word2vec/` (`vectors.npy`
+ `words.json`: plain data, no pickle; `word2vec.save_vectors`) and the metric
`reports/word2vec/stats.json`.
"""
from __future__ import annotations

import json

from .. import layout
from ..config import Config
from ..data import load_schema
from ..files import atomic_write
from ..segment import segmenter_from_config
from ..utils import log
from ..word2vec import extra_text_files, read_corpus_texts, save_vectors, segment_corpus, train_vectors

PARAMS = ("seed", "data.format", "data.normalize", "data.on_error", "segment", "word2vec")


def run(config: Config) -> dict:
    """Train and save the vectors; returns the stats written."""
    cfg = config.word2vec
    schema = load_schema(layout.PREPARED_SCHEMA, config.data.format)
    corpus = [("train", layout.PREPARED_TRAIN), ("dev", layout.PREPARED_DEV)]
    texts, counts = read_corpus_texts(corpus, schema, config.data, extra_text_files(cfg.extra_dir),
                                      test_texts=layout.PREPARED_TEST_TEXTS)
    with segmenter_from_config(config.segment) as segmenter:
        sentences = segment_corpus(texts, segmenter)
    kv = train_vectors(sentences, dim=cfg.dim, window=cfg.window, min_count=cfg.min_count, epochs=cfg.epochs,
                       negative=cfg.negative, seed=config.seed)
    path = save_vectors(kv, layout.WORD2VEC_DIR)
    stats = {"sentences": len(sentences), "tokens": sum(len(s) for s in sentences),
             "vocab_size": len(kv), "dim": int(kv.vector_size), **dict(sorted(counts.items()))}
    with atomic_write(layout.WORD2VEC_STATS) as f:
        json.dump(stats, f, indent=2)
        f.write("\n")
    log(f"word2vec: {stats['sentences']} sentences, {stats['tokens']} tokens, "
        f"vocabulary {stats['vocab_size']} x {stats['dim']} -> {path}")
    return stats
