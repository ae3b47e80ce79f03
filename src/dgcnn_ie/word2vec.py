"""Word vectors for the model input: gensim skip-gram with negative sampling (method.md section 3).

The corpus is the segmented texts of the train, dev and test files (texts only,
labels unused) plus optional extra text files with one sentence a line.
Training is reproducible: ``workers=1`` makes gensim process the corpus in one
fixed order (several workers race for batches, so the updates and thus the
vectors would depend on thread timing), and ``seed`` fixes the initial vectors
and the negative and down-sampling draws. The saved files are plain data
(`save_vectors`: a ``.npy`` array and a JSON word list, no pickle) and byte-identical
across runs.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .config import ConfigError
from .layout import OLD_VECTORS_FILE, VECTORS_FILE, WORDS_FILE
from .data import DataError, casefold_text, read_dataset
from .files import atomic_dir
from .segment import Segmenter

if TYPE_CHECKING:                    # gensim is imported where it is used: the model code never needs it
    from gensim.models import KeyedVectors

WORDS_VERSION = 1


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
    """Save ``kv`` as ``out_dir/vectors.npy`` (float32 rows) + ``out_dir/words.json`` (the word of each row):
    plain data, loadable without unpickling (gensim's own format pickles). Returns ``out_dir``; the folder
    is replaced atomically, and the bytes depend only on the vectors (reproducible)."""
    out_dir = Path(out_dir)
    vectors = np.ascontiguousarray(kv.vectors, dtype=np.float32)
    words = [str(w) for w in kv.index_to_key]
    with atomic_dir(out_dir) as tmp:
        with open(tmp / VECTORS_FILE, "wb") as f:
            np.save(f, vectors, allow_pickle=False)
        doc = {"version": WORDS_VERSION, "dim": int(vectors.shape[1]), "words": words}
        (tmp / WORDS_FILE).write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")
    return out_dir


@dataclass(frozen=True)
class WordTable:
    """Word vectors as loaded: ``vectors[i]`` is the vector of ``words[i]``; ``digest`` identifies the
    saved files (a model records it, so that it is never run with other vectors)."""

    words: tuple[str, ...]
    vectors: np.ndarray
    digest: str

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def load_vectors(folder: str | os.PathLike) -> WordTable:
    """The word vectors ``save_vectors`` wrote to ``folder``, validated; no pickle is read (the array is parsed
    from its ``.npy`` header as float32, the words as JSON). A folder of gensim's pickled format is refused."""
    folder = Path(folder)
    if folder.name == OLD_VECTORS_FILE or (folder / OLD_VECTORS_FILE).exists():
        raise DataError(f"{folder}:1: word vectors in gensim's pickled format ({OLD_VECTORS_FILE}), which is never "
                        f"loaded (unpickling runs code): re-create them with this version (dvc repro: the word2vec "
                        f"stage writes {VECTORS_FILE} + {WORDS_FILE}; every model retrains once, then re-export)")
    from .trust import inside, parse_json
    if not (folder / VECTORS_FILE).exists():
        raise DataError(f"{folder / VECTORS_FILE}:1: no word vectors there; run the word2vec stage "
                        f"(dvc repro word2vec)")
    array_path = inside(folder, VECTORS_FILE, f"{folder / VECTORS_FILE}:1", file=True)
    words_path = inside(folder, WORDS_FILE, f"{folder / WORDS_FILE}:1", file=True)
    array_bytes, vectors = _read(array_path, _float32_matrix)
    words_bytes, doc = _read(words_path, parse_json)
    words = _checked_words(words_path, doc, vectors)
    digest = hashlib.sha256(hashlib.sha256(array_bytes).digest() + hashlib.sha256(words_bytes).digest()).hexdigest()
    return WordTable(words, vectors, digest)


def _read(path: Path, parse):
    """(the bytes of ``path``, ``parse(bytes)``); a truncated, foreign or pickled file is a `DataError` naming it."""
    try:
        data = path.read_bytes()
        return data, parse(data)
    except (OSError, ValueError, EOFError, UnicodeDecodeError) as e:
        raise DataError(f"{path}:1: corrupt or unreadable word vectors ({type(e).__name__}: "
                        f"{' '.join(str(e).split())[:200]})") from None


def _float32_matrix(data: bytes) -> np.ndarray:
    """The C-ordered little-endian float32 matrix of a ``.npy`` file's bytes; its header is checked against the
    bytes that follow before anything is allocated (a header may declare any shape), and no pickle is read."""
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in read_header:
        raise ValueError(f".npy format version {version} is not one this package writes")
    shape, fortran_order, dtype = read_header[version](stream)
    if dtype != np.dtype("<f4") or fortran_order or len(shape) != 2:
        raise ValueError(f"a C-ordered float32 matrix expected, got {dtype} of shape {shape}")
    body = memoryview(data)[stream.tell():]
    if shape[0] * shape[1] * 4 != len(body):
        raise ValueError(f"the header declares {shape[0]} x {shape[1]} floats, the file holds {len(body)} bytes")
    return np.frombuffer(body, dtype="<f4").reshape(shape).astype(np.float32)


def _checked_words(path: Path, doc, vectors: np.ndarray) -> tuple[str, ...]:
    """The word list of ``words.json``, checked against the array: one distinct non-empty word per row."""
    if vectors.dtype != np.float32 or vectors.ndim != 2 or not np.isfinite(vectors).all():
        raise DataError(f"{path.with_name(VECTORS_FILE)}:1: a finite float32 matrix expected, got "
                        f"{vectors.dtype} of shape {vectors.shape}")
    if not isinstance(doc, dict) or doc.get("version") != WORDS_VERSION or set(doc) != {"version", "dim", "words"}:
        raise DataError(f"{path}:1: version: a word list of version {WORDS_VERSION} expected "
                        f"(keys version, dim, words)")
    words = doc["words"]
    if doc["dim"] != vectors.shape[1] or not isinstance(words, list) or len(words) != len(vectors):
        raise DataError(f"{path}:1: words: {len(words) if isinstance(words, list) else '?'} words of dim "
                        f"{doc['dim']!r} for {vectors.shape[0]} vectors of dim {vectors.shape[1]}")
    if not all(isinstance(w, str) and w for w in words) or len(set(words)) != len(words):
        raise DataError(f"{path}:1: words: every word must be a distinct non-empty string")
    return tuple(words)
