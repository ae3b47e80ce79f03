"""Word vectors for the model input: gensim skip-gram with negative sampling (method.md section 3).

The corpus is the segmented texts of the train, dev and test files (texts only,
labels unused) plus optional extra text files with one sentence a line.
Training is reproducible: ``workers=1`` makes gensim process the corpus in one
fixed order (several workers race for batches, so the updates and thus the
vectors would depend on thread timing), and ``seed`` fixes the initial vectors
and the negative and down-sampling draws. The saved file is byte-identical
across runs because gensim's ``lifecycle_events`` (which records the date) are
switched off before saving.
"""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .config import ConfigError
from .layout import VECTORS_FILE
from .data import DataError, atomic_dir, casefold_text, read_dataset
from .segment import Segmenter

if TYPE_CHECKING:                    # gensim is imported where it is used: the model code never needs it
    from gensim.models import KeyedVectors


def read_corpus_texts(paths: Sequence[tuple[str, str | os.PathLike]], schema, data,
                      extra_texts: Iterable[str | os.PathLike] = (),
                      test_texts: str | os.PathLike | None = None) -> tuple[list[str], Counter]:
    """Texts of the data files ``paths`` ((name, path) pairs, e.g. ("train", ...)), of the extra files
    and of ``test_texts`` (one text a line, counted as ``test_texts``).

    Returns the texts and a Counter of what was read and skipped (per file, blank lines).
    Data files are read like every stage reads them (the ``data`` section's ``on_error``
    and ``normalize``); extra texts get the same ``normalize``.
    """
    normalize = data.normalize
    texts: list[str] = []
    counts: Counter = Counter()
    for key, path in paths:
        samples, report = read_dataset(path, schema, on_error=data.on_error, normalize=normalize)
        texts.extend(s.text for s in samples)
        counts[f"{key}_texts"] += len(samples)
        counts["data_lines_skipped"] += sum(report.skipped.values())
    files = [(path, "extra") for path in extra_texts] + ([(test_texts, "test")] if test_texts is not None else [])
    for path, kind in files:
        with open(path, encoding="utf-8-sig") as f:
            for line in f:
                line = line.strip()
                if not line:
                    counts[f"{kind}_blank_lines"] += 1
                    continue
                texts.append(casefold_text(line) if normalize == "lower" else line)
                counts[f"{kind}_texts"] += 1
    return texts, counts


def extra_text_files(folder: str | Path) -> list[Path]:
    """The ``*.txt`` files under ``folder`` (recursively, sorted): the unlabelled extra corpus.

    A folder rather than a list of files so that DVC can track it as one dependency:
    adding a file re-runs the word2vec stage."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"word2vec.extra_dir: {folder} is not a folder (create it, or point the "
                                "parameter at a folder of *.txt files with one sentence a line)")
    return sorted(p for p in folder.rglob("*.txt") if p.is_file())


def segment_corpus(texts: Iterable[str], segmenter: Segmenter) -> list[list[str]]:
    """Word lists for word2vec: whitespace tokens removed, sentences left empty dropped."""
    sentences = []
    for words in segmenter.cut_many(texts):
        words = [w for w in words if not w.isspace()]
        if words:
            sentences.append(words)
    return sentences


def train_vectors(sentences: list[list[str]], *, dim: int, window: int, min_count: int, epochs: int,
                  negative: int, seed: int) -> KeyedVectors:
    """Skip-gram with negative sampling; single worker, so the result depends only on the inputs and seed."""
    if not sentences:
        raise DataError("data/prepared:1: the word2vec corpus is empty: no text to train on")
    if negative < 1:
        raise ValueError(f"word2vec.negative must be >= 1 (negative sampling), got {negative}")
    from gensim.models import Word2Vec
    model = Word2Vec(vector_size=dim, window=window, min_count=min_count, epochs=epochs,
                     sg=1, hs=0, negative=negative, seed=seed, workers=1)
    model.build_vocab(sentences)
    if len(model.wv) == 0:
        raise ConfigError(f"word2vec.min_count: no word occurs {min_count} times; the vocabulary would be empty")
    model.train(sentences, total_examples=model.corpus_count, epochs=model.epochs)
    return model.wv


def save_vectors(kv: KeyedVectors, out_dir: str | os.PathLike) -> Path:
    """Save ``kv`` as ``out_dir/vectors.kv`` (+ gensim's ``.npy`` side files); the folder is replaced atomically."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        kv.lifecycle_events = None           # otherwise the pickle records the date: not reproducible
        kv.save(str(tmp / VECTORS_FILE))
    return out_dir / VECTORS_FILE


def load_vectors(path: str | os.PathLike) -> KeyedVectors:
    """KeyedVectors saved by ``save_vectors`` (the path of ``vectors.kv``)."""
    if not Path(path).is_file():
        raise DataError(f"{path}:1: no word vectors there; run the word2vec stage (dvc repro word2vec)")
    from gensim.models import KeyedVectors
    try:
        return KeyedVectors.load(str(path))
    except Exception as e:      # a truncated pickle / .npy side file: name the file, not gensim's internals
        raise DataError(f"{path}:1: corrupt or unreadable word vectors ({type(e).__name__}: {e})") from None
