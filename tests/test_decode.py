"""decode.py on hand-made probability arrays (numpy only)."""
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import repo_params

from dgcnn_ie.config import config_from_dict
from dgcnn_ie.data import Triple
from dgcnn_ie.decode import AveragedModel, Thresholds, decode_spans, extract

SCHEMA = SimpleNamespace(predicates=("作者", "出版社", "国籍"))
C = len(SCHEMA.predicates)


def probs(length, marks):
    """A probability vector of ``length`` zeros with ``{position: value}`` set."""
    p = np.zeros(length, dtype=np.float32)
    for i, v in marks.items():
        p[i] = v
    return p


class FakeModel:
    """Subject probabilities per sentence; object probabilities keyed by (row, span)."""

    def __init__(self, s_start, s_end, objects=None):
        self.s_start, self.s_end = np.asarray(s_start), np.asarray(s_end)
        self.objects = objects or {}
        self.object_calls = []

    def subject_probs(self, inputs):
        return self.s_start, self.s_end

    def object_probs(self, inputs, rows, spans):
        self.object_calls.append((list(rows), [tuple(s) for s in spans]))
        length = self.s_start.shape[1]
        start = np.zeros((len(rows), length, C), np.float32)
        end = np.zeros((len(rows), length, C), np.float32)
        for n, (row, span) in enumerate(zip(rows, spans)):
            for c, (st, en) in self.objects.get((int(row), tuple(int(x) for x in span)), {}).items():
                start[n, :, c], end[n, :, c] = st, en
        return start, end


def test_nearest_end_at_or_after_start():
    start = probs(8, {1: 0.9, 4: 0.7})
    end = probs(8, {0: 0.9, 2: 0.5, 3: 0.9, 6: 0.45})
    assert decode_spans(start, end) == [(1, 2), (4, 6)]


def test_single_character_span_and_start_without_end():
    start = probs(5, {2: 0.8, 4: 0.8})
    end = probs(5, {2: 0.8})
    assert decode_spans(start, end) == [(2, 2)]


def test_thresholds_are_inclusive_and_configurable():
    start = probs(4, {0: 0.5, 2: 0.49})
    end = probs(4, {1: 0.4, 3: 0.39})
    assert decode_spans(start, end, 0.5, 0.4) == [(0, 1)]
    assert decode_spans(start, end, 0.45, 0.35) == [(0, 1), (2, 3)]
    assert decode_spans(start, end, 0.6, 0.4) == []


def test_overlapping_spans_share_an_end():
    start = probs(6, {0: 0.9, 1: 0.9})
    end = probs(6, {4: 0.9})
    assert decode_spans(start, end) == [(0, 4), (1, 4)]


def test_empty_inputs():
    assert decode_spans(np.zeros(0), np.zeros(0)) == []
    assert decode_spans(np.zeros(5), np.ones(5)) == []


def test_thresholds_from_config():
    config = config_from_dict(repo_params({
        "decode": {"start_threshold": 0.6, "end_threshold": 0.3},
        "train": {"selection_thresholds": {"start_threshold": 0.45, "end_threshold": 0.35}}}))
    assert Thresholds.from_config(config.decode) == Thresholds(0.6, 0.3)
    assert Thresholds.from_config(config.train.selection_thresholds) == Thresholds(0.45, 0.35)
    section = SimpleNamespace(start_threshold=0.7, end_threshold=0.2)    # any object with the two attributes
    assert Thresholds.from_config(section) == Thresholds(0.7, 0.2)


def test_extract_several_subjects_predicates_and_one_object_pass():
    text0 = "鲁迅自传由江苏文艺出版社出版"
    text1 = "张三是中国人"
    length = len(text0)
    s_start = np.stack([probs(length, {0: 0.9}), probs(length, {0: 0.9, 3: 0.6})])
    s_end = np.stack([probs(length, {3: 0.9}), probs(length, {1: 0.9, 4: 0.9})])
    objects = {
        # 鲁迅自传 -> (作者, 鲁迅) and (出版社, 江苏文艺出版社): overlapping s and o
        (0, (0, 3)): {0: (probs(length, {0: 0.9}), probs(length, {1: 0.9})),
                      1: (probs(length, {5: 0.8}), probs(length, {11: 0.5}))},
        # 张三 -> (国籍, 中国); the second "subject" 中国 has no objects
        (1, (0, 1)): {2: (probs(length, {3: 0.9}), probs(length, {4: 0.9}))},
    }
    model = FakeModel(s_start, s_end, objects)
    result = extract(model, None, [text0, text1], SCHEMA, Thresholds())
    assert result == [
        {Triple("鲁迅自传", "作者", "鲁迅"), Triple("鲁迅自传", "出版社", "江苏文艺出版社")},
        {Triple("张三", "国籍", "中国")},
    ]
    assert model.object_calls == [([0, 1, 1], [(0, 3), (0, 1), (3, 4)])]


def test_one_subject_pair_with_several_predicates():
    text = "甲乙丙丁"
    s_start, s_end = probs(4, {0: 0.9})[None], probs(4, {0: 0.9})[None]
    both = (probs(4, {2: 0.9}), probs(4, {3: 0.9}))
    model = FakeModel(s_start, s_end, {(0, (0, 0)): {0: both, 2: both}})
    assert extract(model, None, [text], SCHEMA) == [{Triple("甲", "作者", "丙丁"), Triple("甲", "国籍", "丙丁")}]


def test_extract_chunks_object_pass():
    length = 6
    s_start = np.tile(probs(length, {0: 0.9, 2: 0.9, 4: 0.9}), (2, 1))
    s_end = np.tile(probs(length, {1: 0.9, 3: 0.9, 5: 0.9}), (2, 1))
    model = FakeModel(s_start, s_end)
    assert extract(model, None, ["abcdef", "ghijkl"], SCHEMA, object_batch_size=4) == [set(), set()]
    assert [len(rows) for rows, _ in model.object_calls] == [4, 2]


def test_extract_ignores_padding_and_clips_long_texts():
    # text 1 is shorter than the batch (padding at 3..5 must not decode);
    # text 0 is longer than the model length (clipped to 6 characters)
    s_start = np.stack([probs(6, {4: 0.9}), probs(6, {1: 0.9, 4: 0.9})])
    s_end = np.stack([probs(6, {5: 0.9}), probs(6, {5: 0.9})])
    model = FakeModel(s_start, s_end)
    extract(model, None, ["abcdefghij", "xyz"], SCHEMA)
    assert model.object_calls == [([0], [(4, 5)])]


def test_extract_no_subjects_makes_no_object_pass():
    model = FakeModel(np.zeros((2, 3)), np.zeros((2, 3)))
    assert extract(model, None, ["abc", "de"], SCHEMA) == [set(), set()]
    assert model.object_calls == []


def test_extract_rejects_row_count_mismatch():
    with pytest.raises(ValueError, match="2 rows for 1 texts"):
        extract(FakeModel(np.zeros((2, 3)), np.zeros((2, 3))), None, ["abc"], SCHEMA)


def test_averaged_model_means_probabilities():
    a = FakeModel(probs(4, {0: 1.0})[None], probs(4, {1: 1.0})[None])
    b = FakeModel(probs(4, {0: 0.2})[None], probs(4, {1: 0.0})[None])
    avg = AveragedModel([a, b])
    start, end = avg.subject_probs(None)
    np.testing.assert_allclose(start[0], [0.6, 0, 0, 0])
    np.testing.assert_allclose(end[0], [0, 0.5, 0, 0])
    # averaged: start 0.6 >= 0.5 and end 0.5 >= 0.4 -> one subject; b alone finds none
    assert extract(b, None, ["abcd"], SCHEMA) == [set()]
    assert extract(avg, None, ["abcd"], SCHEMA) == [set()]
    assert a.object_calls[-1] == ([0], [(0, 1)]) and b.object_calls[-1] == ([0], [(0, 1)])


def test_averaged_model_object_probs_and_length_crop():
    a = FakeModel(np.zeros((1, 5)), np.zeros((1, 5)), {(0, (0, 1)): {1: (probs(5, {2: 1.0}), probs(5, {3: 1.0}))}})
    b = FakeModel(np.zeros((1, 4)), np.zeros((1, 4)))
    start, end = AveragedModel([a, b]).object_probs(None, np.array([0]), np.array([[0, 1]]))
    assert start.shape == (1, 4, C)
    assert start[0, 2, 1] == 0.5 and end[0, 3, 1] == 0.5
    with pytest.raises(ValueError):
        AveragedModel([])
