"""Label cleaning: votes, thresholds, the cleaned file and the report, on hand-made data."""
import json

import pytest

from dgcnn_ie import cleaning
from dgcnn_ie.data import Schema, Triple, read_dataset

LIC = Schema("lic2019", {"作者": [("图书作品", "人物")], "出版社": [("书籍", "出版社")],
                         "成立日期": [("机构", "Date"), ("企业", "Date")]}, {})
DUIE = Schema("duie2", {"饰演": [("娱乐人物", "人物")], "饰演_inWork": [("娱乐人物", "影视作品")],
                        "导演": [("影视作品", "人物")]}, {"饰演": ("inWork",)})

A = Triple("鲁迅自传", "作者", "鲁迅")
B = Triple("鲁迅自传", "出版社", "江苏文艺出版社")
C = Triple("江苏文艺出版社", "成立日期", "1953年")


def test_vote_adds_unanimous_and_removes_unsupported():
    gold = [{A}, {B}, None]
    preds = [[{A, B}, set(), {C}], [{A, B}, {B}, {C}], [{A, B}, set(), {C}]]
    changes = cleaning.vote(gold, preds, add_min_votes=3, remove_max_votes=0)
    assert changes[0].added == [B] and changes[0].removed == [] and changes[0].votes == {B: 3}
    assert changes[1].added == [] and changes[1].removed == []   # B has 1 vote > 0: kept
    assert changes[2] is None                                     # unlabelled: untouched


def test_vote_thresholds():
    gold = [{A, C}]
    preds = [[{B}], [{B, C}], [{A}]]   # B: 2 votes, A: 1, C: 1
    two = cleaning.vote(gold, preds, add_min_votes=2, remove_max_votes=1)[0]
    assert two.added == [B] and two.removed == sorted([A, C])
    strict = cleaning.vote(gold, preds, add_min_votes=3, remove_max_votes=-1)[0]
    assert strict.added == [] and strict.removed == []


def test_add_threshold_is_capped_at_the_number_of_models():
    assert cleaning.effective_add_votes(8, 2) == 2
    changes = cleaning.vote([set()], [[{A}], [{A}]], add_min_votes=8, remove_max_votes=0)
    assert changes[0].added == [A]
    assert cleaning.vote([set()], [[{A}], [set()]], add_min_votes=8, remove_max_votes=0)[0].added == []


@pytest.mark.parametrize("add, remove, n", [(0, 0, 2), (2, 2, 2), (2, -2, 2), (1, 0, 0), (1.5, 0, 2)])
def test_bad_thresholds_raise(add, remove, n):
    with pytest.raises(ValueError):
        cleaning.check_thresholds(add, remove, n)


def test_prediction_count_mismatch_raises():
    with pytest.raises(ValueError, match="model 1 has 1 prediction sets for 2 sentences"):
        cleaning.vote([set(), set()], [[set(), set()], [set()]], 1, 0)


def _write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")


def test_cleaned_file_keeps_lines_and_original_spo_dicts(tmp_path):
    text0 = "《鲁迅自传》由江苏文艺出版社出版"
    raw = [
        {"text": text0, "postag": [{"word": "x", "pos": "n"}],
         "spo_list": [{"subject": "鲁迅自传", "predicate": "作者", "object": "鲁迅",
                       "subject_type": "书籍", "object_type": "人物"},            # a non-schema type: kept as is
                      {"subject": "鲁迅自传", "predicate": "出版社", "object": "江苏文艺出版社",
                       "subject_type": "书籍", "object_type": "出版社"}]},
        {"text": "江苏文艺出版社成立于1953年", "spo_list": []},
        {"text": "没有标注的句子"},
    ]
    src = tmp_path / "train.json"
    _write(src, raw)
    samples, _ = read_dataset(src, LIC, on_error="raise")
    gold = [set(s.triples) if s.labelled else None for s in samples]
    preds = [[set(), {C}, {A}], [{A}, {C}, set()]]   # B unpredicted -> removed; C unanimous -> added
    changes = cleaning.vote(gold, preds, add_min_votes=8, remove_max_votes=0)
    labels = [cleaning.apply(g, c, LIC.format) if c else None for g, c in zip(gold, changes)]
    out = tmp_path / "cleaned.json"
    cleaning.write_cleaned(out, src, samples, labels, changes, LIC)

    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 3
    assert lines[0]["postag"] == raw[0]["postag"]
    assert lines[0]["spo_list"] == raw[0]["spo_list"][:1]                 # A kept verbatim, B removed
    assert lines[1]["spo_list"] == [{"subject": "江苏文艺出版社", "predicate": "成立日期", "object": "1953年",
                                     "subject_type": "机构", "object_type": "Date"}]
    assert lines[2] == raw[2]                                             # unlabelled: unchanged
    again, _ = read_dataset(out, LIC, on_error="raise")
    assert [set(s.triples) for s in again] == [{A}, {C}, set()]

    rep = cleaning.report(samples, changes, n_models=2, add_min_votes=8, remove_max_votes=0)
    assert (rep["added"], rep["removed"], rep["add_min_votes"]) == (1, 1, 2)
    assert (rep["labelled"], rep["unlabelled"], rep["sentences_changed"]) == (2, 1, 2)
    assert (rep["triples_before"], rep["triples_after"]) == (2, 2)
    assert rep["per_predicate"]["成立日期"]["added"] == 1 and rep["per_predicate"]["出版社"]["removed"] == 1
    assert rep["examples"]["added"][0]["text"] == "江苏文艺出版社成立于1953年"
    assert rep["examples"]["removed"][0] == {"source": f"{src}:1", "text": text0,
                                             "triple": ["鲁迅自传", "出版社", "江苏文艺出版社"], "votes": 0}
    assert rep["warnings"] == []
    md = cleaning.summary_markdown(rep)
    assert "| 成立日期 | 1 | 0 |" in md and text0 in md and "Warning" not in md


def test_kept_raw_labels_are_warned(tmp_path):
    src = tmp_path / "t.json"
    _write(src, [{"text": "《鲁迅自传》由江苏文艺出版社出版", "spo_list": [
        {"subject": "鲁迅自传", "predicate": "出版社", "object": "江苏文艺出版社"}]}])
    samples, _ = read_dataset(src, LIC, on_error="raise")
    changes = cleaning.vote([{B}], [[set()], [set()]], 8, 0)
    assert cleaning.removal_count([{B}], changes) == (1, 1)
    rep = cleaning.report(samples, [cleaning.Change()], n_models=2, add_min_votes=8, remove_max_votes=0,
                          kept_raw_because="the votes would remove 1 of 1")
    assert rep["removed"] == 0 and rep["kept_raw_labels"] and "kept the raw labels: the votes" in rep["warnings"][0]
    assert "**Warning**: kept the raw labels" in cleaning.summary_markdown(rep)


def test_cleaned_file_is_the_raw_file_line_for_line(tmp_path):
    src = tmp_path / "raw.json"
    good = json.dumps({"text": "《野草》作者鲁迅", "spo_list": []}, ensure_ascii=False)
    raw = "not json\r\n\n" + good + "\r\n" + '{"text": "x", "spo_list": []}\n'
    src.write_bytes(raw.encode("utf-8"))
    samples, report = read_dataset(src, LIC)
    assert len(samples) == 2 and report.skipped["malformed_json"] == 1
    gold = [set(s.triples) for s in samples]
    unchanged = cleaning.vote(gold, [[set(), set()]], 1, 0)
    out = tmp_path / "same.json"
    cleaning.write_cleaned(out, src, samples, gold, unchanged, LIC)
    assert out.read_bytes() == src.read_bytes()

    changes = cleaning.vote(gold, [[{Triple("野草", "作者", "鲁迅")}, set()]], 1, 0)
    labels = [cleaning.apply(g, c, "lic2019") for g, c in zip(gold, changes)]
    cleaning.write_cleaned(out, src, samples, labels, changes, LIC)
    lines = out.read_bytes().decode("utf-8").splitlines(keepends=True)
    assert lines[:2] == ["not json\r\n", "\n"] and lines[3] == '{"text": "x", "spo_list": []}\n'
    again, _ = read_dataset(out, LIC)
    assert [s.source.rsplit(":")[1] for s in again] == ["3", "4"]
    assert again[0].triples == [Triple("野草", "作者", "鲁迅")]


def test_examples_are_capped(tmp_path):
    src = tmp_path / "t.json"
    _write(src, [{"text": f"鲁迅自传{i}由江苏文艺出版社出版", "spo_list": []} for i in range(7)])
    samples, _ = read_dataset(src, LIC, on_error="raise")
    changes = cleaning.vote([set()] * 7, [[{B}] * 7], 1, 0)
    for c in changes:
        cleaning.apply(set(), c, "lic2019")
    rep = cleaning.report(samples, changes, n_models=1, add_min_votes=1, remove_max_votes=0)
    assert rep["added"] == 7
    assert len(rep["examples"]["added"]) == 5 and len(rep["per_predicate"]["出版社"]["examples"]["added"]) == 5


def test_duie_reassembly_drops_orphan_slots(tmp_path):
    text = "张三在《某剧》中饰演李四，导演王五"
    raw = [{"text": text, "spo_list": [
        {"subject": "张三", "predicate": "饰演", "object": {"@value": "李四", "inWork": "某剧"},
         "subject_type": "娱乐人物", "object_type": {"@value": "人物", "inWork": "影视作品"}}]}]
    src = tmp_path / "duie.json"
    _write(src, raw)
    samples, _ = read_dataset(src, DUIE, on_error="raise")
    gold = [set(samples[0].triples)]
    base, slot = Triple("张三", "饰演", "李四"), Triple("张三", "饰演_inWork", "某剧")
    orphan, new = Triple("王五", "饰演_inWork", "某剧"), Triple("某剧", "导演", "王五")
    preds = [[{base, orphan, new}]]            # the slot of the gold spo lost its votes
    changes = cleaning.vote(gold, preds, add_min_votes=1, remove_max_votes=0)
    labels = cleaning.apply(gold[0], changes[0], "duie2")
    assert labels == {base, new}
    assert changes[0].added == [new] and changes[0].removed == [slot]   # orphan never reaches the file
    out = tmp_path / "out.json"
    cleaning.write_cleaned(out, src, samples, [labels], changes, DUIE)
    line = json.loads(out.read_text(encoding="utf-8"))
    assert sorted(line["spo_list"], key=lambda d: d["predicate"]) == [
        {"subject": "某剧", "predicate": "导演", "object": {"@value": "王五"},
         "subject_type": "影视作品", "object_type": {"@value": "人物"}},
        {"subject": "张三", "predicate": "饰演", "object": {"@value": "李四"},
         "subject_type": "娱乐人物", "object_type": {"@value": "人物"}}]


def test_normalized_labels_keep_original_spelling(tmp_path):
    schema = Schema("lic2019", {"作者": [("图书作品", "人物")]}, {})
    src = tmp_path / "t.json"
    _write(src, [{"text": "《ABC》作者Lu Xun", "spo_list": [
        {"subject": "ABC", "predicate": "作者", "object": "Lu", "subject_type": "图书作品", "object_type": "人物"}]}])
    samples, _ = read_dataset(src, schema, on_error="raise", normalize="lower")
    gold = [set(samples[0].triples)]
    preds = [[{Triple("abc", "作者", "lu"), Triple("abc", "作者", "lu xun")}]]
    changes = cleaning.vote(gold, preds, 1, 0)
    labels = [cleaning.apply(gold[0], changes[0], "lic2019")]
    out = tmp_path / "o.json"
    cleaning.write_cleaned(out, src, samples, labels, changes, schema)
    spo = json.loads(out.read_text(encoding="utf-8"))["spo_list"]
    assert [(d["subject"], d["object"]) for d in spo] == [("ABC", "Lu"), ("ABC", "Lu Xun")]


# ---------------------------------------------------------------------------------------- the stage
def _clean_project(root, too_many_removed):
    """Prepared files where both cv_raw voters predicted nothing: their votes would remove every label."""
    from conftest import write_params
    schema = [{"subject_type": "书籍", "predicate": "出版社", "object_type": "出版社"}]
    _write(root / "data/prepared/schema.json", schema)
    rows = [{"text": f"《书{i}》由江苏文艺出版社出版", "spo_list": [
        {"subject": f"书{i}", "predicate": "出版社", "object": "江苏文艺出版社"}]} for i in range(4)]
    _write(root / "data/prepared/train.json", rows)
    for fold in (0, 1):
        _write(root / f"predictions/cv_raw/fold{fold}/train.json", [{**r, "spo_list": []} for r in rows])
    write_params(root / "params.yaml", {"cv": {"folds": [0, 1]},
                                        "clean": {"too_many_removed": too_many_removed, "max_removed_share": 0.2}})
    return rows


def test_stage_keeps_the_raw_labels_when_weak_voters_would_remove_too_many(tmp_path, monkeypatch):
    from dgcnn_ie.stages.runner import run_stage
    _clean_project(tmp_path, "raw_labels")
    monkeypatch.chdir(tmp_path)
    rep = run_stage("clean")
    assert rep["kept_raw_labels"] and rep["removed"] == 0 and rep["triples_after"] == 4
    assert "would remove 4 of 4 labelled triples (100%, more than clean.max_removed_share 0.2)" in rep["warnings"][0]
    assert (tmp_path / "data/cleaned/train.json").read_bytes() == (tmp_path / "data/prepared/train.json").read_bytes()
    assert json.loads((tmp_path / "reports/clean/report.json").read_text())["kept_raw_labels"] is True


def test_stage_refuses_when_asked(tmp_path, monkeypatch):
    from dgcnn_ie.config import ConfigError
    from dgcnn_ie.stages.runner import run_stage
    _clean_project(tmp_path, "refuse")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^clean.max_removed_share: the votes of 2 cv_raw models would remove 4 of 4"):
        run_stage("clean")
    assert not (tmp_path / "data/cleaned").exists()
