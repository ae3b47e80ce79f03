"""Chinese word segmentation for the word-vector input (method.md section 3).

``get_segmenter("jieba")`` is the default: offline (jieba ships its dictionary)
and deterministic. ``get_segmenter("hanlp")`` needs the optional ``hanlp``
package and a tokenizer model already on disk (never downloaded at run time).
Every result is checked to concatenate back to the input text exactly.

Results are memoised in memory and, with ``cache_path``, in a SQLite file keyed
by the SHA-256 of (backend, backend version, text), so that stages run one after
another do not segment the same texts again. The cache is a pure speed-up: a
missing or deleted cache file changes no result.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path

from .data import DataError

HANLP_MODEL_ENV = "DGCNN_IE_HANLP_MODEL"
_FLUSH_EVERY = 2000


class SegmentError(DataError):
    """A backend is unavailable or produced words that do not rebuild the text."""


class Segmenter:
    """``cut(text) -> list[str]`` with an in-memory and an optional on-disk cache."""

    def __init__(self, name: str, version: str, tokenize: Callable[[list[str]], list[list[str]]],
                 cache_path: str | os.PathLike | None = None):
        self.name = name
        self.version = version
        self._tokenize = tokenize          # batch of texts -> batch of word lists
        self._memory: dict[str, list[str]] = {}
        self._pending: list[tuple[str, str]] = []
        self.hits = 0                      # texts answered from a cache (memory or disk)
        self.misses = 0                    # texts actually segmented
        self._db = None
        if cache_path:
            Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(cache_path), timeout=60)
            self._db.execute("CREATE TABLE IF NOT EXISTS words (key TEXT PRIMARY KEY, words TEXT NOT NULL)")
            self._db.commit()

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.name}\0{self.version}\0{text}".encode("utf-8")).hexdigest()

    def _from_disk(self, text: str) -> list[str] | None:
        if self._db is None:
            return None
        row = self._db.execute("SELECT words FROM words WHERE key = ?", (self._key(text),)).fetchone()
        if row is None:
            return None
        words = json.loads(row[0])
        return words if "".join(words) == text else None   # ignore a corrupt entry

    def cut(self, text: str, remember: bool = True) -> list[str]:
        """Words of ``text`` (they concatenate to ``text``); ``remember=False`` bypasses the caches' growth."""
        return self.cut_many([text], remember=remember)[0]

    def cut_many(self, texts: Iterable[str], remember: bool = True) -> list[list[str]]:
        """``cut`` for many texts; the backend is called once for all cache misses."""
        texts = list(texts)
        out: list[list[str] | None] = [None] * len(texts)
        todo: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"segmenter expects str, got {type(text).__name__}")
            words = self._memory.get(text)
            if words is None and text not in todo:
                words = self._from_disk(text)
                if words is not None and remember:
                    self._memory[text] = words
            if words is None:
                todo.setdefault(text, []).append(i)
            else:
                self.hits += 1
                out[i] = words
        if todo:
            missing = list(todo)
            for text, words in zip(missing, self._tokenize(missing)):
                words = [w for w in words if w]
                if "".join(words) != text:
                    raise SegmentError(f"{self.name} words do not rebuild the text: {text[:60]!r} -> {words[:10]!r}")
                self.misses += 1
                for i in todo[text]:
                    out[i] = words
                if remember:
                    self._memory[text] = words
                    if self._db is not None:
                        self._pending.append((self._key(text), json.dumps(words, ensure_ascii=False)))
            if len(self._pending) >= _FLUSH_EVERY or (self._pending and len(missing) > 1):
                self.flush()
        return out  # type: ignore[return-value]

    def flush(self) -> None:
        """Write pending cache entries to the cache file (one transaction)."""
        if self._db is not None and self._pending:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO words (key, words) VALUES (?, ?)", self._pending)
            self._pending.clear()

    def close(self) -> None:
        """Flush and close the cache file."""
        self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Segmenter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the cache is only a speed-up
            pass


@functools.lru_cache(maxsize=1)
def _jieba() -> tuple[str, Callable[[list[str]], list[list[str]]]]:
    """Loaded once per process (about a second); the private tokenizer is never modified."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()      # private instance: add_word elsewhere cannot change our results
    tokenizer.initialize()
    return jieba.__version__, lambda texts: [list(tokenizer.cut(t, HMM=True)) for t in texts]


def align_words(text: str, words: list[str]) -> list[str]:
    """Re-attach whitespace a tokenizer dropped: ``words`` must match ``text`` in order, gaps only whitespace."""
    out, pos = [], 0
    for word in words:
        gap = pos
        while pos < len(text) and text[pos].isspace() and not text.startswith(word, pos):
            pos += 1
        if pos > gap:
            out.append(text[gap:pos])
        if not text.startswith(word, pos):
            raise SegmentError(f"token {word!r} does not match the text at offset {pos}: {text[:60]!r}")
        out.append(word)
        pos += len(word)
    if text[pos:].strip():
        raise SegmentError(f"tokens do not cover the text after offset {pos}: {text[:60]!r}")
    if pos < len(text):
        out.append(text[pos:])
    return out


def _hanlp() -> tuple[str, Callable[[list[str]], list[list[str]]]]:
    how = ("install it with `pip install -e '.[hanlp]'`, download a HanLP tokenizer model once on a "
           f"machine with network, and point {HANLP_MODEL_ENV} at its local directory "
           "(models are never downloaded at run time); or use segment.backend=jieba")
    try:
        import hanlp
    except ImportError as e:
        raise SegmentError(f"segment backend 'hanlp' needs the hanlp package: {how}") from e
    model_dir = os.environ.get(HANLP_MODEL_ENV, "")
    if not model_dir or not Path(model_dir).is_dir():
        raise SegmentError(f"segment backend 'hanlp' needs {HANLP_MODEL_ENV} set to a local model "
                           f"directory (got {model_dir!r}): {how}")
    tok = hanlp.load(model_dir)
    version = f"{hanlp.__version__}:{Path(model_dir).resolve()}"
    return version, lambda texts: [align_words(t, list(ws)) for t, ws in zip(texts, tok(texts))]


_BACKENDS = {"jieba": _jieba, "hanlp": _hanlp}


def get_segmenter(backend: str = "jieba", cache_path: str | os.PathLike | None = None) -> Segmenter:
    """A ``Segmenter`` for ``backend`` ("jieba" | "hanlp"), cached on disk at ``cache_path`` if given."""
    if backend not in _BACKENDS:
        raise ValueError(f"unknown segment backend {backend!r}; choose one of {sorted(_BACKENDS)}")
    version, tokenize = _BACKENDS[backend]()
    return Segmenter(backend, version, tokenize, cache_path)


def segmenter_from_config(segment) -> Segmenter:
    """The segmenter the ``segment`` config section describes (``backend``, ``cache`` file or "" for none)."""
    return get_segmenter(segment.backend, segment.cache or None)
