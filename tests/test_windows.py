"""Long texts are decoded in overlapping windows, not clipped: a relation after 600 characters is found."""
import numpy as np
import pytest

from dgcnn_ie.data import Schema, Triple
from dgcnn_ie.decode import AveragedModel, Thresholds
from dgcnn_ie.extractor import predict_samples, text_windows

SCHEMA = Schema("lic2019", {"作者": [("图书作品", "人物")], "出版社": [("书籍", "出版社")]}, {})
SUBJECT, OBJECT = "鲁迅自传", "江苏文艺出版社"
SENTENCE = f"《{SUBJECT}》由{OBJECT}出版。"
FILLER = "今天天气很好，我们一起去公园散步。" * 40          # 680 characters without a relation


class StringModel:
    """Reads at most ``reads`` chars like the real encoder, and marks SUBJECT and OBJECT (出版社) where it sees
    them; it says how much it reads (``max_len``, which `predict_samples` windows by) unless ``tells`` is False."""

    def __init__(self, reads, tells=True):
        self.reads = reads
        if tells:
            self.max_len = reads

    def _marks(self, texts, needle):
        length = min(max(map(len, texts)), self.reads)
        start, end = np.zeros((len(texts), length)), np.zeros((len(texts), length))
        for i, text in enumerate(texts):
            at = text[:self.reads].find(needle)
            if at >= 0:
                start[i, at], end[i, at + len(needle) - 1] = 1.0, 1.0
        return start, end

    def subject_probs(self, batch):
        return self._marks(batch.texts, SUBJECT)

    def object_probs(self, batch, rows, spans):
        start, end = self._marks([batch.texts[r] for r in rows], OBJECT)
        c = SCHEMA.predicates.index("出版社")
        o_start, o_end = np.zeros(start.shape + (len(SCHEMA),)), np.zeros(end.shape + (len(SCHEMA),))
        o_start[..., c], o_end[..., c] = start, end
        return o_start, o_end


def test_windows_cover_the_text_within_max_len_and_overlap():
    text = FILLER + SENTENCE
    spans = text_windows(text, 128)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(0 < e - s <= 128 for s, e in spans)
    assert all(b[0] < a[1] for a, b in zip(spans, spans[1:]))                 # consecutive windows overlap
    assert all(text[e - 1] in "。！？；!?;\n" for _, e in spans[:-1])          # cut after sentence punctuation here
    assert text_windows("短句", 128) == [(0, 2)]
    no_punctuation = "字" * 300
    assert text_windows(no_punctuation, 100) == [(0, 100), (75, 175), (150, 250), (225, 300)]
    with pytest.raises(ValueError, match="overlap"):
        text_windows(no_punctuation, 100, overlap=60)


def test_a_relation_after_600_characters_is_extracted(capsys):
    text = FILLER + SENTENCE
    assert text.find(SUBJECT) > 600
    expected = {Triple(SUBJECT, "出版社", OBJECT)}
    model = StringModel(128)
    assert predict_samples(model, [text, SENTENCE], SCHEMA, thresholds=Thresholds(), batch_size=4,
                           show_progress=False) == [expected, expected]
    assert "predict: 1 of 2 texts longer than 128 chars" in capsys.readouterr().err
    clipped = StringModel(128, tells=False)              # no max_len known: one window, which the model clips
    assert predict_samples(clipped, [text], SCHEMA, thresholds=Thresholds(), batch_size=4,
                           show_progress=False) == [set()]
    # an averaged family windows at its members' shortest max_len
    assert AveragedModel([StringModel(128), StringModel(200)]).max_len == 128
    assert predict_samples(AveragedModel([model, StringModel(256)]), [text], SCHEMA, thresholds=Thresholds(),
                           batch_size=4, show_progress=False) == [expected]


def test_prior_candidates_follow_their_window():
    text = FILLER + SENTENCE
    s0 = text.find(SUBJECT)
    o0 = text.find(OBJECT)
    cands = [((s0, s0 + len(SUBJECT) - 1), 1, (o0, o0 + len(OBJECT) - 1)), ((0, 1), 0, (2, 3))]
    seen = []

    class Recording(StringModel):
        def subject_probs(self, batch):
            seen.extend(zip(batch.texts, batch.candidates))
            return super().subject_probs(batch)

    predict_samples(Recording(128), [text], SCHEMA, thresholds=Thresholds(), batch_size=8, candidates=[cands],
                    show_progress=False)
    for window, window_cands in seen:
        for (a, b), p, (c, d) in window_cands:      # shifted into the window, inside it, pointing at the same text
            assert 0 <= a <= b < len(window) and 0 <= c <= d < len(window)
            assert (window[a:b + 1], window[c:d + 1]) in {(SUBJECT, OBJECT), (text[0:2], text[2:4])}
    assert sum(len(c) for _, c in seen) >= 2
