"""DVC stage `word2vec`: train word vectors on the segmented corpus.

Reads `seed`, `data`, `segment` and `word2vec` from params.yaml; writes
`models/word2vec/vectors.kv` (gensim KeyedVectors, with `.npy` side files
when the vocabulary is large) and the metric `reports/word2vec/stats.json`.
"""
from __future__ import annotations

import argparse
import json

from ..data import atomic_write, load_params
from ..segment import segmenter_from_params
from ..utils import log
from ..word2vec import extra_text_files, read_corpus_texts, save_vectors, segment_corpus, train_vectors

OUT_DIR = "models/word2vec"
STATS = "reports/word2vec/stats.json"


def main(params_path: str = "params.yaml") -> dict:
    """Run the stage with the parameters at ``params_path``; returns the stats written."""
    params = load_params(params_path)
    cfg = params["word2vec"]
    texts, counts = read_corpus_texts(params["data"], extra_text_files(cfg["extra_dir"]))
    with segmenter_from_params(params) as segmenter:
        sentences = segment_corpus(texts, segmenter)
    kv = train_vectors(sentences, dim=int(cfg["dim"]), window=int(cfg["window"]),
                       min_count=int(cfg["min_count"]), epochs=int(cfg["epochs"]),
                       negative=int(cfg["negative"]), seed=int(params["seed"]))
    path = save_vectors(kv, OUT_DIR)
    stats = {"sentences": len(sentences), "tokens": sum(len(s) for s in sentences),
             "vocab_size": len(kv), "dim": int(kv.vector_size), **dict(sorted(counts.items()))}
    with atomic_write(STATS) as f:
        json.dump(stats, f, indent=2)
        f.write("\n")
    log(f"word2vec: {stats['sentences']} sentences, {stats['tokens']} tokens, "
        f"vocabulary {stats['vocab_size']} x {stats['dim']} -> {path}")
    return stats


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default="params.yaml", help="parameters file (default params.yaml)")
    main(parser.parse_args().params)
