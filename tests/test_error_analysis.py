"""error_analysis.py on hand-made gold samples and predictions."""
import json

import pytest

from dgcnn_ie.data import Sample, Triple
from dgcnn_ie.error_analysis import analyse, error_kind, to_markdown, write_report

T = Triple


def sample(i, text, triples):
    return Sample(text, list(triples), True, f"dev.json:{i}", {"text": text})


SAMPLES = [
    sample(1, "《围城》的作者是钱钟书", [T("围城", "作者", "钱钟书")]),
    sample(2, "《围城》作者钱钟书|杨绛", [T("围城", "作者", "钱钟书")]),
    sample(3, "周杰伦，中国台湾歌手", [T("周杰伦", "国籍", "中国")]),
    sample(4, "鲁迅自传由江苏文艺出版社出版", [T("鲁迅自传", "出版社", "江苏文艺出版社"), T("鲁迅自传", "作者", "鲁迅")]),
]
PREDICTIONS = [
    set(),                                                     # missed, unmatched
    {T("围城", "作者", "杨绛")},                                # missed + spurious, kind object
    {T("周杰伦", "国籍", "中国"), T("周杰伦", "出生地", "中国台湾")},  # correct + spurious unmatched
    {T("鲁迅自传", "出版社", "江苏文艺出版社"), T("鲁迅自传", "出版社", "鲁迅")},  # spurious, kind predicate
]


def by_name(analysis):
    return {e["predicate"]: e for e in analysis["predicates"]}


def test_error_kinds():
    t = T("a", "p", "b")
    assert error_kind(t, {T("a", "q", "b")}) == ("predicate", [T("a", "q", "b")])
    assert error_kind(t, {T("a", "p", "c"), T("x", "p", "b")}) == ("object", [T("a", "p", "c")])
    assert error_kind(t, {T("x", "p", "b")})[0] == "subject"
    assert error_kind(t, {T("x", "q", "y")}) == ("unmatched", [])


def test_counts_kinds_and_most_frequent_first():
    a = analyse(SAMPLES, PREDICTIONS, top=5, examples=1)
    assert (a["tp"], a["missed"], a["spurious"]) == (2, 3, 3)
    assert a["precision"] == pytest.approx(2 / 5) and a["recall"] == pytest.approx(2 / 5)
    p = by_name(a)
    author = p["作者"]
    assert (author["support"], author["tp"], author["missed"], author["spurious"]) == (3, 0, 3, 1)
    assert author["missed_kinds"] == {"predicate": 1, "object": 1, "unmatched": 1}
    top = author["top_missed"]
    assert [(m["subject"], m["object"], m["count"]) for m in top] == [("围城", "钱钟书", 2), ("鲁迅自传", "鲁迅", 1)]
    assert len(top[0]["examples"]) == 1 and top[0]["examples"][0]["source"] == "dev.json:1"
    spurious = author["top_spurious"][0]
    assert spurious["examples"][0]["kind"] == "object"
    assert spurious["examples"][0]["related"] == [["围城", "作者", "钱钟书"]]
    assert p["出版社"]["spurious_kinds"] == {"predicate": 1}
    assert p["出生地"]["support"] == 0 and p["出生地"]["precision"] == 0.0
    assert p["国籍"]["f1"] == 1.0
    assert [e["predicate"] for e in a["predicates"]][0] == "作者"        # most errors first
    assert a["predicates"][-1]["predicate"] == "国籍"                  # no error last


def test_top_limits_the_list():
    assert len(by_name(analyse(SAMPLES, PREDICTIONS, top=1))["作者"]["top_missed"]) == 1
    with pytest.raises(ValueError):
        analyse(SAMPLES, PREDICTIONS[:2])


def test_markdown_and_json_written(tmp_path):
    a = analyse(SAMPLES, PREDICTIONS)
    md = to_markdown(a)
    assert "| 作者 | 3 | 0.000 | 3 | 1 | predicate 1, object 1, unmatched 1 | object 1 |" in md
    assert "- (围城, 作者, 钱钟书) x2" in md
    assert "《围城》作者钱钟书\\|杨绛 — predicted: (围城, 作者, 杨绛)" in md     # pipes escaped, related shown
    assert "## 国籍" not in md                                            # nothing wrong: no section
    write_report(a, tmp_path / "r" / "errors.md", tmp_path / "r" / "errors.json")
    assert json.loads((tmp_path / "r" / "errors.json").read_text(encoding="utf-8")) == a
    assert (tmp_path / "r" / "errors.md").read_text(encoding="utf-8") == md
