"""Submission building and validation: a good file passes; each kind of bad line is named by its line number."""
import copy
import json

import pytest

from dgcnn_ie import submission
from dgcnn_ie.data import DataError, Schema, Triple, load_schema, read_dataset, write_predictions

LIC = Schema("lic2019", {"作者": [("图书作品", "人物")], "出版社": [("书籍", "出版社")]}, {})
DUIE = Schema("duie2", {"饰演": [("娱乐人物", "人物")], "饰演_inWork": [("娱乐人物", "影视作品")],
                        "导演": [("影视作品", "人物")]}, {"饰演": ("inWork",)})

TEST = [{"text": "《鲁迅自传》由江苏文艺出版社出版", "postag": []},
        {"text": "没有关系的句子"},
        {"text": "《野草》作者鲁迅"}]


def good_lic():
    return [
        {"text": TEST[0]["text"], "postag": [], "spo_list": [
            {"subject": "鲁迅自传", "predicate": "出版社", "object": "江苏文艺出版社",
             "subject_type": "书籍", "object_type": "出版社"},
            {"subject": "鲁迅自传", "predicate": "作者", "object": "鲁迅", "subject_type": "", "object_type": ""}]},
        {"text": TEST[1]["text"], "spo_list": []},
        {"text": TEST[2]["text"], "spo_list": [
            {"subject": "野草", "predicate": "作者", "object": "鲁迅",
             "subject_type": "图书作品", "object_type": "人物"}]},
    ]


def test_good_submission_is_valid():
    assert submission.validate(good_lic(), TEST, LIC, "sub.json") == []


def spo(ls, i):
    return ls[i]["spo_list"][0]


# kind -> (how to break the given line (0-based index), line number (1-based), expected message)
BAD = {
    "text changed": (lambda ls, i: ls[i].update(text="别的句子"), 2, "text differs"),
    "no spo_list": (lambda ls, i: ls[i].pop("spo_list"), 2, "'spo_list' is missing or not a list"),
    "spo_list not a list": (lambda ls, i: ls[i].update(spo_list={}), 2, "'spo_list' is missing or not a list"),
    "spo not a dict": (lambda ls, i: ls[i]["spo_list"].append("x"), 2, "spo_list[0]: is a str"),
    "not an object": (lambda ls, i: ls.__setitem__(i, [1]), 2, "not a JSON object"),
    "missing key": (lambda ls, i: spo(ls, i).pop("object_type"), 3, "missing ['object_type']"),
    "extra key": (lambda ls, i: spo(ls, i).update(score=1), 3, "unexpected ['score']"),
    "unknown predicate": (lambda ls, i: spo(ls, i).update(predicate="朋友"), 3, "'朋友' is not in the schema"),
    "subject not in text": (lambda ls, i: spo(ls, i).update(subject="周树人"), 3, "subject '周树人'"),
    "object not in text": (lambda ls, i: spo(ls, i).update(object="许广平"), 3, "object '许广平'"),
    "empty object": (lambda ls, i: spo(ls, i).update(object=""), 3, "object ''"),
    "object not a string": (lambda ls, i: spo(ls, i).update(object={"@value": "鲁迅"}), 3, "object {"),
    "wrong type": (lambda ls, i: spo(ls, i).update(subject_type="人物"), 3, "subject_type '人物'"),
    "type not a string": (lambda ls, i: spo(ls, i).update(object_type=None), 3, "object_type is not a string"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_each_kind_of_bad_line_is_rejected_with_its_line_number(kind):
    fn, line, message = BAD[kind]
    lines = good_lic()
    fn(lines, line - 1)
    errors = submission.validate(lines, TEST, LIC, "sub.json")
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"sub.json:{line}: ") and message in errors[0], errors


def test_line_count_must_match():
    errors = submission.validate(good_lic()[:2], TEST, LIC, "sub.json")
    assert errors == ["sub.json: 2 lines but the test file has 3"]


def test_case_insensitive_spans_are_accepted():
    test = [{"text": "《ABC》作者鲁迅"}]
    line = [{"text": test[0]["text"], "spo_list": [{"subject": "abc", "predicate": "作者", "object": "鲁迅",
                                                    "subject_type": "", "object_type": ""}]}]
    assert submission.validate(line, test, LIC, "s") == []


def duie_line(**changes):
    spo = {"subject": "张三", "predicate": "饰演", "object": {"@value": "李四", "inWork": "某剧"},
           "subject_type": "娱乐人物", "object_type": {"@value": "人物", "inWork": "影视作品"}}
    spo.update(changes)
    return [{"text": "张三在《某剧》中饰演李四", "spo_list": [spo]}]


DUIE_TEST = [{"text": "张三在《某剧》中饰演李四"}]


@pytest.mark.parametrize("changes, message", [
    ({"object": "李四"}, "object is not a dict with '@value'"),
    ({"object": {"inWork": "某剧"}}, "object is not a dict with '@value'"),
    ({"object": {"@value": "李四", "onDate": "某剧"}, "object_type": {"@value": "人物", "onDate": "Date"}},
     "'onDate' is not a slot of '饰演'"),
    ({"object": {"@value": "李四", "inWork": "别剧"}}, "object inWork '别剧'"),
    ({"object_type": "人物"}, "object_type must be a dict"),
    ({"object_type": {"@value": "人物"}}, "object_type must be a dict"),
    ({"object_type": {"@value": "人物", "inWork": "地点"}}, "object_type inWork '地点'"),
    ({"predicate": "饰演_inWork"}, "is not in the schema"),
])
def test_duie_objects(changes, message):
    assert submission.validate(duie_line(), DUIE_TEST, DUIE, "d") == []
    errors = submission.validate(duie_line(**changes), DUIE_TEST, DUIE, "d")
    assert len(errors) == 1 and errors[0].startswith("d:1: spo_list[0]: ") and message in errors[0], errors


def test_fill_types():
    spo = {"subject": "张三", "predicate": "饰演", "object": {"@value": "李四", "inWork": "某剧"},
           "subject_type": "", "object_type": ""}
    assert submission.fill_types(spo, DUIE)["object_type"] == {"@value": "人物", "inWork": "影视作品"}
    flat = {"subject": "野草", "predicate": "作者", "object": "鲁迅"}
    assert submission.fill_types(flat, LIC) == {**flat, "subject_type": "图书作品", "object_type": "人物"}


def _write_lines(path, objs):
    path.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs), encoding="utf-8")


def test_predictions_to_submission_round_trip(tmp_path):
    """Predictions written by `data.write_predictions` (skipped test lines absent) -> a valid submission."""
    test = tmp_path / "test.json"
    test.write_text(json.dumps(TEST[0], ensure_ascii=False) + "\n" + '{"text": ""}\n\n'
                    + json.dumps(TEST[2], ensure_ascii=False) + "\n", encoding="utf-8")
    samples, report = read_dataset(test, LIC)
    assert len(samples) == 2 and report.skipped["empty_text"] == 1
    pred_path = tmp_path / "pred.json"
    write_predictions(pred_path, samples, [{Triple("鲁迅自传", "作者", "鲁迅")}, set()], LIC)
    test_lines = submission.read_test_lines(test)
    predicted = submission.read_json_lines(pred_path)
    spo_lists, missing = submission.align(test_lines, predicted, pred_path)
    assert missing == 1 and [len(s) for s in spo_lists] == [1, 0, 0]
    lines = submission.build(test_lines, spo_lists, LIC)
    out = tmp_path / "sub" / "lic2019_submission.json"
    submission.write(out, lines, test_lines, LIC)
    submission.validate_file(out, test, LIC)
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3

    bad = copy.deepcopy(lines)
    bad[2]["spo_list"] = [{"subject": "不在", "predicate": "作者", "object": "鲁迅",
                           "subject_type": "", "object_type": ""}]
    with pytest.raises(submission.SubmissionError, match=r"lic2019_submission.json:3: spo_list\[0\]: subject"):
        submission.write(out, bad, test_lines, LIC)
    submission.validate_file(out, test, LIC)   # the earlier valid file was not touched

    out.write_text(out.read_text(encoding="utf-8").replace('"spo_list": []', '"spo_list": [', 1), encoding="utf-8")
    with pytest.raises(submission.SubmissionError, match=r":2: not a JSON object"):
        submission.validate_file(out, test, LIC)


def test_align_rejects_foreign_predictions(tmp_path):
    with pytest.raises(DataError, match=r"p.json:1: not a prediction for a line of the test file"):
        submission.align(TEST, [{"text": "别的", "spo_list": []}], "p.json")


def test_unreadable_test_line_raises(tmp_path):
    test = tmp_path / "t.json"
    test.write_text('{"text": "好"}\n[1]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"t.json:2: not a JSON object"):
        submission.read_test_lines(test)
    test.write_text('{"text": "好"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"t.json:2: malformed JSON"):
        submission.read_test_lines(test)


def test_a_test_line_without_text_is_answered_empty():
    test = [{"id": 7}, TEST[2]]
    spo_lists, missing = submission.align(test, [{"text": TEST[2]["text"], "spo_list": []}], "p.json")
    assert (spo_lists, missing) == ([[], []], 1)
    lines = submission.build(test, spo_lists, LIC)
    assert submission.validate(lines, test, LIC, "s") == []
    lines[0]["spo_list"] = good_lic()[2]["spo_list"]
    assert submission.validate(lines, test, LIC, "s") == ["s:1: the line has no text, so its spo_list must be empty"]


# ---------------------------------------------------------------------------------------- the stage
def _submit_project(root, n=30):
    """A source test file of n lines (line 4 has no text), the prepared schema, and a params file."""
    from conftest import write_params
    (root / "in").mkdir()
    schema_line = {"subject_type": "图书作品", "predicate": "作者", "object_type": "人物"}
    (root / "in/schema.json").write_text(json.dumps(schema_line, ensure_ascii=False) + "\n", encoding="utf-8")
    (root / "data/prepared").mkdir(parents=True)
    (root / "data/prepared/schema.json").write_text((root / "in/schema.json").read_text(encoding="utf-8"))
    rows = [{"text": f"《书{i}》的作者是张{i}"} if i != 3 else {"text": ""} for i in range(n)]
    (root / "in/test.json").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    write_params(root / "params.yaml", {"data": {"source": {"dir": "in", "test": "test.json"}}})
    schema = load_schema(root / "in/schema.json", "lic2019")
    samples, _ = read_dataset(root / "in/test.json", schema)
    return samples, schema


@pytest.mark.parametrize("cut, first_missing", [
    (slice(0, -5), 26),                        # the last 5 lines
    (lambda s: s[:10] + s[20:], 12),            # 10 lines from the middle (line 4 has no text: not predicted)
    (slice(0, 0), 1),                           # an empty predictions file
])
def test_submit_refuses_incomplete_predictions(tmp_path, monkeypatch, cut, first_missing):
    from dgcnn_ie.stages.runner import run_stage
    samples, schema = _submit_project(tmp_path)
    kept = cut(samples) if callable(cut) else samples[cut]
    write_predictions(tmp_path / "predictions/ensemble/test.json", kept, [set() for _ in kept], schema)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=rf"no prediction for in/test.json:{first_missing} \(\d+ test line\(s\) "
                                        rf"without one\): the predictions are incomplete"):
        run_stage("submit")
    assert not (tmp_path / "submission").exists()


def test_submit_answers_only_skipped_lines_empty(tmp_path, monkeypatch):
    from dgcnn_ie.stages.runner import run_stage
    samples, schema = _submit_project(tmp_path)
    assert len(samples) == 29                                  # line 4 (no text) is skipped by the reader
    write_predictions(tmp_path / "predictions/ensemble/test.json", samples,
                      [{Triple(f"书{i if i < 3 else i + 1}", "作者", f"张{i if i < 3 else i + 1}")} for i in range(29)],
                      schema)
    monkeypatch.chdir(tmp_path)
    path = run_stage("submit")
    lines = [json.loads(l) for l in (tmp_path / path).read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 30 and lines[3]["spo_list"] == [] and all(len(l["spo_list"]) == 1 for i, l in
                                                                   enumerate(lines) if i != 3)
