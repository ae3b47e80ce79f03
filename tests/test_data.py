"""data.py: schema, reading with every bad-input case in both modes, spans, DuIE flattening, writing, real files."""

import json
import os
from collections import Counter
from types import SimpleNamespace

import pytest

from dgcnn_ie.data import (DataError, Schema, Triple, assemble_duie, find_spans, load_schema, read_dataset,
                           read_samples, typed_spo, write_predictions)
from dgcnn_ie.files import atomic_dir, atomic_write

LIC_SCHEMA = [
    {"subject_type": "图书作品", "predicate": "作者", "object_type": "人物"},
    {"subject_type": "书籍", "predicate": "出版社", "object_type": "出版社"},
    {"subject_type": "机构", "predicate": "成立日期", "object_type": "Date"},
    {"subject_type": "企业", "predicate": "成立日期", "object_type": "Date"},
]
DUIE_SCHEMA = [
    {"subject_type": "影视作品", "predicate": "主演", "object_type": {"@value": "人物"}},
    {"subject_type": "娱乐人物", "predicate": "饰演", "object_type": {"@value": "人物", "inWork": "影视作品"}},
    {"subject_type": "娱乐人物", "predicate": "获奖",
     "object_type": {"@value": "奖项", "inWork": "作品", "onDate": "Date", "period": "Number"}},
]


def write_lines(path, rows):
    """JSON lines from dicts; str rows are written as UTF-8 text and bytes rows verbatim (bad encodings)."""
    path.write_bytes(b"".join(
        (r if isinstance(r, bytes) else (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)).encode())
        + b"\n" for r in rows))
    return path


@pytest.fixture
def lic_schema(tmp_path):
    return load_schema(write_lines(tmp_path / "all_50_schemas", LIC_SCHEMA), "lic2019")


@pytest.fixture
def duie_schema(tmp_path):
    return load_schema(write_lines(tmp_path / "duie_schema.json", DUIE_SCHEMA), "duie2")


def lic(text, *spo):
    return {"text": text, "spo_list": [{"subject": s, "predicate": p, "object": o} for s, p, o in spo]}


GOOD = lic("《呐喊》的作者是鲁迅", ("呐喊", "作者", "鲁迅"))


# ---------------------------------------------------------------- schema

def test_lic_schema_merges_duplicate_predicate_and_keeps_both_types(lic_schema):
    assert lic_schema.predicates == ("作者", "出版社", "成立日期")
    assert lic_schema.types("成立日期") == ("机构", "Date")
    assert lic_schema.all_types("成立日期") == [("机构", "Date"), ("企业", "Date")]
    assert lic_schema.index("成立日期") == 2 and len(lic_schema) == 3 and lic_schema.slots == {}
    with pytest.raises(KeyError, match="不存在"):
        lic_schema.index("不存在")


def test_duie_schema_adds_sorted_slot_predicates(duie_schema):
    assert duie_schema.predicates == tuple(sorted(
        ["主演", "饰演", "饰演_inWork", "获奖", "获奖_inWork", "获奖_onDate", "获奖_period"]))
    assert duie_schema.slots == {"获奖": ("inWork", "onDate", "period"), "饰演": ("inWork",)}
    assert duie_schema.types("饰演_inWork") == ("娱乐人物", "影视作品")
    assert duie_schema.types("饰演") == ("娱乐人物", "人物")


def test_schema_save_load_round_trip(tmp_path, duie_schema):
    duie_schema.save(tmp_path / "s.json")
    loaded = Schema.load(tmp_path / "s.json")
    assert loaded == duie_schema and loaded.predicates == duie_schema.predicates and loaded.format == "duie2"


@pytest.mark.parametrize("fmt, rows, line, match", [
    ("lic2019", [LIC_SCHEMA[0], DUIE_SCHEMA[0]], 2, "expected a string for format lic2019"),
    ("duie2", [DUIE_SCHEMA[0], LIC_SCHEMA[0]], 2, "must be a dict with '@value'"),
    ("lic2019", [LIC_SCHEMA[0], '{"predicate": '], 2, "malformed JSON"),
    ("lic2019", [{"predicate": "作者"}], 1, "needs subject_type, predicate and object_type"),
    ("duie2", [{"subject_type": "a", "predicate": "b", "object_type": {"@value": "c", "inCity": "d"}}], 1,
     "unknown object slot 'inCity'"),
])
def test_bad_schema_raises_with_file_and_line(tmp_path, fmt, rows, line, match):
    path = write_lines(tmp_path / "schema", rows)
    with pytest.raises(DataError, match=match) as e:
        load_schema(path, fmt)
    assert str(e.value).startswith(f"{path}:{line}: ")


# ---------------------------------------------------------------- spans

def test_find_spans_all_occurrences_inclusive_end():
    assert find_spans("鲁迅是鲁迅", "鲁迅") == [(0, 1), (3, 4)]
    assert find_spans("aaa", "aa") == [(0, 1), (1, 2)]
    assert find_spans("abc", "d") == [] and find_spans("abc", "") == []


def test_find_spans_exact_first_then_case_insensitive():
    assert find_spans("Ab ab", "ab") == [(3, 4)]
    assert find_spans("演员 ANGELABABY 出演", "Angelababy") == [(3, 12)]
    # a character whose lower case is longer must not shift offsets
    assert find_spans("İstanbul ISTANBUL", "istanbul") == [(9, 16)]


# ---------------------------------------------------------------- reading: bad input in both modes

BAD_CASES = [
    # (id, bad line, reason, counter, samples kept, triples kept)
    ("json", '{"text": "abc"', "malformed_json", "skipped", 2, 2),
    ("encoding", b'{"text": "\xff\xfe"}', "bad_encoding", "skipped", 2, 2),
    ("list", "[1, 2]", "not_an_object", "skipped", 2, 2),
    ("no_text", {"spo_list": []}, "missing_text", "skipped", 2, 2),
    ("text_not_str", {"text": 5}, "missing_text", "skipped", 2, 2),
    ("empty_text", {"text": "  ", "spo_list": []}, "empty_text", "skipped", 2, 2),
    ("spo_not_list", {"text": "abc", "spo_list": {"subject": "a"}}, "bad_spo_list", "skipped", 2, 2),
    ("no_object", {"text": "《呐喊》的作者是鲁迅", "spo_list": [{"subject": "呐喊", "predicate": "作者"}]},
     "missing_field", "triples_skipped", 3, 2),
    ("no_subject", {"text": "《呐喊》的作者是鲁迅", "spo_list": [{"predicate": "作者", "object": "鲁迅"}]},
     "missing_field", "triples_skipped", 3, 2),
    ("subject_type", lic("《呐喊》的作者是鲁迅", (5, "作者", "鲁迅")), "bad_field_type", "triples_skipped", 3, 2),
    ("empty_object", lic("《呐喊》的作者是鲁迅", ("呐喊", "作者", "")), "empty_span", "triples_skipped", 3, 2),
    ("subject_missing", lic("《呐喊》的作者是鲁迅", ("彷徨", "作者", "鲁迅"), ("呐喊", "作者", "鲁迅")),
     "subject_not_found", "triples_skipped", 3, 3),
    ("object_missing", lic("《呐喊》的作者是鲁迅", ("呐喊", "作者", "周树人")), "object_not_found", "triples_skipped", 3, 2),
    ("predicate", lic("《呐喊》的作者是鲁迅", ("呐喊", "编剧", "鲁迅")), "predicate_not_in_schema", "triples_skipped",
     3, 2),
]


@pytest.mark.parametrize("bad, reason, counter, n_samples, n_triples", [c[1:] for c in BAD_CASES],
                         ids=[c[0] for c in BAD_CASES])
def test_bad_line_skip_mode_counts_and_locates(tmp_path, lic_schema, bad, reason, counter, n_samples, n_triples):
    path = write_lines(tmp_path / "train.json", [GOOD, bad, GOOD])
    samples, report = read_dataset(path, lic_schema, on_error="skip")
    assert getattr(report, counter) == Counter({reason: 1})
    assert report.examples == {reason: [f"{path}:2"]}
    assert (report.lines, report.samples, len(samples), report.triples) == (3, n_samples, n_samples, n_triples)
    assert samples[-1].source == f"{path}:3"


@pytest.mark.parametrize("bad, reason", [(c[1], c[2]) for c in BAD_CASES], ids=[c[0] for c in BAD_CASES])
def test_bad_line_raise_mode_names_file_and_line(tmp_path, lic_schema, bad, reason):
    path = write_lines(tmp_path / "train.json", [GOOD, bad, GOOD])
    with pytest.raises(DataError, match=reason) as e:
        read_dataset(path, lic_schema, on_error="raise")
    assert str(e.value).startswith(f"{path}:2: ")


DUIE_GOOD = {"text": "胡歌在《仙剑奇侠传》中饰演李逍遥", "spo_list": [
    {"subject": "胡歌", "predicate": "饰演", "object": {"@value": "李逍遥", "inWork": "仙剑奇侠传"}}]}
DUIE_BAD_CASES = [
    ("no_value", {"subject": "胡歌", "predicate": "饰演", "object": {"inWork": "仙剑奇侠传"}}, "missing_field", 0),
    ("slot_not_in_schema", {"subject": "胡歌", "predicate": "饰演", "object": {"@value": "李逍遥", "onDate": "胡歌"}},
     "predicate_not_in_schema", 1),
    ("base_not_in_schema", {"subject": "胡歌", "predicate": "配音", "object": {"@value": "李逍遥", "inWork": "仙剑奇侠传"}},
     "predicate_not_in_schema", 0),
    ("slot_missing", {"subject": "胡歌", "predicate": "饰演", "object": {"@value": "李逍遥", "inWork": "天外飞仙"}},
     "object_not_found", 1),
    ("slot_type", {"subject": "胡歌", "predicate": "饰演", "object": {"@value": "李逍遥", "inWork": ["a"]}},
     "bad_field_type", 0),
]


@pytest.mark.parametrize("spo, reason, kept", [c[1:] for c in DUIE_BAD_CASES], ids=[c[0] for c in DUIE_BAD_CASES])
def test_duie_bad_triples_both_modes(tmp_path, duie_schema, spo, reason, kept):
    path = write_lines(tmp_path / "duie.json", [DUIE_GOOD, {"text": DUIE_GOOD["text"], "spo_list": [spo]}])
    samples, report = read_dataset(path, duie_schema)
    assert report.triples_skipped == Counter({reason: 1}) and report.examples[reason] == [f"{path}:2"]
    assert len(samples) == 2 and len(samples[1].triples) == kept
    with pytest.raises(DataError, match=reason) as e:
        read_dataset(path, duie_schema, on_error="raise")
    assert str(e.value).startswith(f"{path}:2: ")


@pytest.mark.parametrize("mode", ["skip", "raise"])
def test_wrong_format_always_raises(tmp_path, lic_schema, duie_schema, mode):
    duie_file = write_lines(tmp_path / "duie.json", [DUIE_GOOD])
    with pytest.raises(DataError, match="data.format is lic2019") as e:
        read_dataset(duie_file, lic_schema, on_error=mode)
    assert str(e.value).startswith(f"{duie_file}:1: ")
    lic_file = write_lines(tmp_path / "lic.json", [{"text": "", "spo_list": []}, GOOD])
    with pytest.raises(DataError, match="set data.format=lic2019") as e:
        read_dataset(lic_file, duie_schema, on_error="skip")
    assert str(e.value).startswith(f"{lic_file}:2: ")


@pytest.mark.parametrize("mode", ["skip", "raise"])
def test_blank_lines_ignored_and_counted(tmp_path, lic_schema, mode):
    path = write_lines(tmp_path / "t.json", [GOOD, "", "   ", GOOD])
    samples, report = read_dataset(path, lic_schema, on_error=mode)
    assert [s.source for s in samples] == [f"{path}:1", f"{path}:4"]
    assert report.skipped == Counter({"blank_line": 2}) and report.lines == 4


def test_bad_options_rejected(tmp_path, lic_schema):
    path = write_lines(tmp_path / "t.json", [GOOD])
    with pytest.raises(ValueError, match="on_error"):
        read_dataset(path, lic_schema, on_error="ignore")
    with pytest.raises(ValueError, match="normalize"):
        read_dataset(path, lic_schema, normalize="upper")


def test_examples_capped_at_five(tmp_path, lic_schema):
    path = write_lines(tmp_path / "t.json", ["{"] * 7)
    samples, report = read_dataset(path, lic_schema)
    assert samples == [] and report.skipped["malformed_json"] == 7 and len(report.examples["malformed_json"]) == 5


# ---------------------------------------------------------------- reading: good input

def test_read_lic_sample_fields(tmp_path, lic_schema):
    row = {"postag": [{"word": "呐喊", "pos": "nw"}], **GOOD}
    path = write_lines(tmp_path / "t.json", [row])
    (s,), report = read_dataset(path, lic_schema)
    assert s.text == GOOD["text"] and s.triples == [Triple("呐喊", "作者", "鲁迅")]
    assert s.labelled and s.source == f"{path}:1" and s.raw == row
    assert report.counts() == {"lines": 1, "samples": 1, "triples": 1, "skipped": {}, "triples_skipped": {},
                               "notes": {}}


def test_unlabelled_and_long_text_kept(tmp_path, lic_schema):
    long = "长" * 3000
    path = write_lines(tmp_path / "t.json", [{"text": long}])
    (s,), _ = read_dataset(path, lic_schema, on_error="raise")
    assert not s.labelled and s.triples == [] and s.text == long


def test_case_insensitive_match_counted_and_kept(tmp_path, lic_schema):
    path = write_lines(tmp_path / "t.json", [lic("《ABC》的作者是鲁迅", ("abc", "作者", "鲁迅"))])
    (s,), report = read_dataset(path, lic_schema, on_error="raise")
    assert s.triples == [Triple("abc", "作者", "鲁迅")]
    assert report.notes == Counter({"case_insensitive_match": 1})


def test_duplicates_counted_once(tmp_path, lic_schema):
    path = write_lines(tmp_path / "t.json", [lic("《呐喊》的作者是鲁迅", ("呐喊", "作者", "鲁迅"), ("呐喊", "作者", "鲁迅"))])
    (s,), report = read_dataset(path, lic_schema)
    assert s.triples == [Triple("呐喊", "作者", "鲁迅")] and report.notes == Counter({"duplicate_triple": 1})


def test_normalize_lower(tmp_path, lic_schema):
    path = write_lines(tmp_path / "t.json", [lic("《ABC》的作者是Lu Xun", ("ABC", "作者", "Lu Xun"))])
    (s,), report = read_dataset(path, lic_schema, normalize="lower")
    assert s.text == "《abc》的作者是lu xun" and s.triples == [Triple("abc", "作者", "lu xun")]
    assert report.normalize == "lower" and "normalize=lower" in report.summary() and report.notes == Counter()


def test_read_samples_follows_the_data_section(tmp_path, lic_schema, capsys):
    path = write_lines(tmp_path / "t.json", [lic("《ABC》的作者是Lu Xun", ("ABC", "作者", "Lu Xun")), "{not json"])
    (s,) = read_samples(path, lic_schema, SimpleNamespace(on_error="skip", normalize="lower"))
    assert s.text == "《abc》的作者是lu xun"
    assert "normalize=lower" in capsys.readouterr().err   # the read report's summary is logged
    with pytest.raises(DataError, match=r"t\.json:2: "):
        read_samples(path, lic_schema, SimpleNamespace(on_error="raise", normalize="none"))


def test_duie_flattening(tmp_path, duie_schema):
    path = write_lines(tmp_path / "duie.json", [DUIE_GOOD])
    (s,), _ = read_dataset(path, duie_schema, on_error="raise")
    assert s.triples == [Triple("胡歌", "饰演", "李逍遥"), Triple("胡歌", "饰演_inWork", "仙剑奇侠传")]


# ---------------------------------------------------------------- assemble_duie

def spo_set(spos):
    return {(d["subject"], d["predicate"], frozenset(d["object"].items())) for d in spos}


def test_assemble_duie_single_object_with_slots():
    flat = [Triple("胡歌", "饰演", "李逍遥"), Triple("胡歌", "饰演_inWork", "仙剑奇侠传"), Triple("胡歌", "主演", "x")]
    assert assemble_duie(flat) == [
        {"subject": "胡歌", "predicate": "主演", "object": {"@value": "x"}},
        {"subject": "胡歌", "predicate": "饰演", "object": {"@value": "李逍遥", "inWork": "仙剑奇侠传"}}]


def test_assemble_duie_ambiguous_attaches_every_slot_value_to_every_base():
    flat = [Triple("s", "饰演", "A"), Triple("s", "饰演", "B"), Triple("s", "饰演_inWork", "W1"),
            Triple("s", "饰演_inWork", "W2")]
    assert spo_set(assemble_duie(flat)) == {("s", "饰演", frozenset({("@value", v), ("inWork", w)}))
                                            for v in "AB" for w in ("W1", "W2")}


def test_assemble_duie_product_over_slots_and_orphans_dropped():
    flat = [Triple("s", "获奖", "奖"), Triple("s", "获奖_onDate", "2001"), Triple("s", "获奖_onDate", "2002"),
            Triple("s", "获奖_period", "3"), Triple("t", "饰演_inWork", "W")]
    assert spo_set(assemble_duie(flat)) == {("s", "获奖", frozenset({("@value", "奖"), ("onDate", d), ("period", "3")}))
                                            for d in ("2001", "2002")}


# ---------------------------------------------------------------- writing

def test_write_predictions_lic_round_trip(tmp_path, lic_schema):
    rows = [{"postag": [{"word": "x", "pos": "n"}], **GOOD}, {"text": "某公司成立于2001年"}]
    samples, _ = read_dataset(write_lines(tmp_path / "in.json", rows), lic_schema)
    preds = [{Triple("呐喊", "作者", "鲁迅"), Triple("呐喊", "出版社", "鲁迅")}, {Triple("某公司", "成立日期", "2001年")}]
    out = tmp_path / "out" / "pred.json"
    write_predictions(out, samples, preds, lic_schema)
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["postag"] == rows[0]["postag"] and lines[0]["text"] == GOOD["text"]
    assert lines[1]["spo_list"] == [{"subject": "某公司", "predicate": "成立日期", "object": "2001年",
                                     "subject_type": "机构", "object_type": "Date"}]
    back, report = read_dataset(out, lic_schema, on_error="raise")
    assert [set(s.triples) for s in back] == preds and report.samples == 2


def test_write_predictions_duie_round_trip(tmp_path, duie_schema):
    samples, _ = read_dataset(write_lines(tmp_path / "in.json", [{"text": DUIE_GOOD["text"]}]), duie_schema)
    pred = {Triple("胡歌", "饰演", "李逍遥"), Triple("胡歌", "饰演_inWork", "仙剑奇侠传"), Triple("仙剑奇侠传", "主演", "胡歌")}
    out = tmp_path / "pred.json"
    write_predictions(out, samples, [pred], duie_schema)
    line = json.loads(out.read_text(encoding="utf-8"))
    assert line["spo_list"][1] == {"subject": "胡歌", "predicate": "饰演",
                                   "object": {"@value": "李逍遥", "inWork": "仙剑奇侠传"}, "subject_type": "娱乐人物",
                                   "object_type": {"@value": "人物", "inWork": "影视作品"}}
    assert line["spo_list"][0]["object_type"] == {"@value": "人物"}
    (back,), _ = read_dataset(out, duie_schema, on_error="raise")
    assert set(back.triples) == pred


def test_write_predictions_restores_original_case(tmp_path, lic_schema):
    samples, _ = read_dataset(write_lines(tmp_path / "in.json", [{"text": "《ABC》的作者是鲁迅"}]), lic_schema,
                              normalize="lower")
    write_predictions(tmp_path / "p.json", samples, [{Triple("abc", "作者", "鲁迅")}], lic_schema)
    assert json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))["spo_list"][0]["subject"] == "ABC"


def test_write_predictions_rejects_mismatch(tmp_path, lic_schema):
    samples, _ = read_dataset(write_lines(tmp_path / "in.json", [GOOD]), lic_schema)
    with pytest.raises(ValueError, match="1 samples but 0"):
        write_predictions(tmp_path / "p.json", samples, [], lic_schema)
    with pytest.raises(ValueError, match="'编剧' is not in the schema"):
        write_predictions(tmp_path / "p.json", samples, [{Triple("呐喊", "编剧", "鲁迅")}], lic_schema)
    assert not (tmp_path / "p.json").exists()


def test_typed_spo_takes_the_schemas_first_types_in_both_formats(lic_schema, duie_schema):
    spo = typed_spo("某公司", "成立日期", "2001年", lic_schema)
    assert list(spo) == ["subject", "predicate", "object", "subject_type", "object_type"]
    assert spo == {"subject": "某公司", "predicate": "成立日期", "object": "2001年",
                   "subject_type": "机构", "object_type": "Date"}
    obj = {"@value": "李逍遥", "inWork": "仙剑奇侠传"}
    spo = typed_spo("胡歌", "饰演", obj, duie_schema)
    assert spo == {"subject": "胡歌", "predicate": "饰演", "object": obj, "subject_type": "娱乐人物",
                   "object_type": {"@value": "人物", "inWork": "影视作品"}}
    assert list(spo) == ["subject", "predicate", "object", "subject_type", "object_type"]
    assert typed_spo("仙剑奇侠传", "主演", {"@value": "胡歌"}, duie_schema)["object_type"] == {"@value": "人物"}
    with pytest.raises(KeyError, match="编剧"):
        typed_spo("呐喊", "编剧", "鲁迅", lic_schema)


# ---------------------------------------------------------------- atomic_write, atomic_dir

def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    with atomic_write(target) as f:
        f.write("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write("new")
            raise RuntimeError("boom")
    assert target.read_text() == "old" and [p.name for p in target.parent.iterdir()] == ["f.txt"]
    with atomic_write(target, "wb") as f:
        f.write(b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"


def test_atomic_dir_replaces_only_on_success(tmp_path):
    target = tmp_path / "sub" / "out"
    with atomic_dir(target) as d:
        assert d.parent == target.parent and d != target and d.is_dir() and not any(d.iterdir())
        (d / "a.txt").write_text("old")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o777 & ~umask      # not mkdtemp's private 0o700
    with atomic_dir(target) as d:
        (d / "b.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["b.txt"]        # the whole folder is replaced
    assert [p.name for p in target.parent.iterdir()] == ["out"]   # the old one and the temp folder are gone
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_dir(target) as d:
            (d / "c.txt").write_text("partial")
            raise RuntimeError("boom")
    assert [p.name for p in target.iterdir()] == ["b.txt"] and (target / "b.txt").read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["out"]
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "fresh" / "out"):
            raise RuntimeError("boom")
    assert list((tmp_path / "fresh").iterdir()) == []


def test_bom_and_crlf_accepted(tmp_path, lic_schema):
    path = tmp_path / "t.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD, ensure_ascii=False).encode() + b"\r\n" * 2)
    (s,), report = read_dataset(path, lic_schema, on_error="raise")
    assert s.triples == [Triple("呐喊", "作者", "鲁迅")] and report.skipped == Counter({"blank_line": 1})


def test_schema_bad_encoding_raises(tmp_path):
    path = write_lines(tmp_path / "schema", [LIC_SCHEMA[0], b"\xff"])
    with pytest.raises(DataError, match="schema:2: not valid UTF-8"):
        load_schema(path, "lic2019")


# ---------------------------------------------------------------- real files (../shared/data)

REAL = {
    # file: (format, lines, samples, labelled, triples, notes); no real line or triple is skipped
    "lic2019/train_data.json": ("lic2019", 2450, 2450, True, 4949, {"case_insensitive_match": 10}),
    "lic2019/dev_data.json": ("lic2019", 950, 950, True, 1982, {}),
    "lic2019/test1_data_postag.json": ("lic2019", 500, 500, False, 0, {}),
    "duie2/duie_train.json": ("duie2", 9398, 9398, True, 17584, {"duplicate_triple": 27}),
    "duie2/duie_test1.json": ("duie2", 5000, 5000, False, 0, {}),
}
SCHEMAS = {"lic2019": "lic2019/all_50_schemas", "duie2": "duie2/duie_schema.json"}


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_files_exact_counts(shared_data, name):
    fmt, lines, n, labelled, triples, notes = REAL[name]
    schema = load_schema(shared_data / SCHEMAS[fmt], fmt)
    samples, report = read_dataset(shared_data / name, schema, on_error="raise")
    assert (report.lines, report.samples, len(samples), report.triples) == (lines, n, n, triples)
    assert report.skipped == Counter() and report.triples_skipped == Counter() and report.notes == notes
    assert all(s.labelled == labelled for s in samples)


@pytest.mark.realdata
def test_real_case_insensitive_subjects(shared_data):
    schema = load_schema(shared_data / SCHEMAS["lic2019"], "lic2019")
    samples, report = read_dataset(shared_data / "lic2019/train_data.json", schema)
    for source in report.examples["case_insensitive_match"]:
        s = next(x for x in samples if x.source == source)
        assert any(t.subject not in s.text and find_spans(s.text, t.subject) for t in s.triples)
    lower, low_report = read_dataset(shared_data / "lic2019/train_data.json", schema, normalize="lower")
    # lower-casing merges two case variants that the file lists as separate triples (OPPO/oppo, Second/second乐队)
    assert low_report.notes == Counter({"duplicate_triple": 2}) and low_report.triples == report.triples - 2


@pytest.mark.realdata
def test_real_schemas(shared_data):
    lic = load_schema(shared_data / SCHEMAS["lic2019"], "lic2019")
    assert len(lic) == 49 and len(lic.all_types("成立日期")) == 2
    duie = load_schema(shared_data / SCHEMAS["duie2"], "duie2")
    slot_preds = [p for p in duie.predicates if "_" in p]
    assert len(duie) == 55 and len(slot_preds) == 7 and "饰演_inWork" in slot_preds and "获奖_period" in slot_preds
    assert list(duie.predicates) == sorted(duie.predicates)
    with pytest.raises(DataError, match="duie_schema.json:1: "):
        load_schema(shared_data / SCHEMAS["duie2"], "lic2019")
    with pytest.raises(DataError, match="duie_train.json:1: "):
        read_dataset(shared_data / "duie2/duie_train.json", lic)


@pytest.mark.realdata
def test_real_duie_flatten_assemble_round_trip(shared_data):
    """Exact wherever each (s, p) with slots has one complex spo; the 43 other lines are the documented ambiguity."""
    schema = load_schema(shared_data / SCHEMAS["duie2"], "duie2")
    samples, _ = read_dataset(shared_data / "duie2/duie_train.json", schema, on_error="raise")
    differing = 0
    for s in samples:
        original = spo_set(s.raw["spo_list"])
        if spo_set(assemble_duie(s.triples)) != original:
            differing += 1
            with_slots = {(d["subject"], d["predicate"]) for d in s.raw["spo_list"] if len(d["object"]) > 1}
            per_sp = Counter((d["subject"], d["predicate"]) for d in s.raw["spo_list"])
            assert max(per_sp[sp] for sp in with_slots) >= 2, s.source
    assert differing == 43


@pytest.mark.realdata
def test_real_lic_write_read_round_trip(shared_data, tmp_path):
    schema = load_schema(shared_data / SCHEMAS["lic2019"], "lic2019")
    samples, _ = read_dataset(shared_data / "lic2019/dev_data.json", schema, on_error="raise")
    write_predictions(tmp_path / "p.json", samples, [set(s.triples) for s in samples], schema)
    back, _ = read_dataset(tmp_path / "p.json", schema, on_error="raise")
    assert [set(s.triples) for s in back] == [set(s.triples) for s in samples]
    assert all(b.raw["postag"] == s.raw["postag"] and b.text == s.text for b, s in zip(back, samples))


def test_remove_stale_temps_only_takes_dead_processes_leftovers(tmp_path):
    import subprocess
    import sys
    from dgcnn_ie.files import remove_stale_temps
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)                      # finished: its pid is free
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "m").mkdir()
        stale = [tmp_path / f".x.json.{dead_pid}.0123abcd.tmp", tmp_path / "m" / f".fold0.{dead_pid}.0badf00d.tmpdir"]
        stale[0].write_text("half")
        stale[1].mkdir()
        (stale[1] / "model.keras").write_bytes(b"")
        busy = tmp_path / f".y.json.{live.pid}.0123abcd.tmp"
        busy.write_text("being written")
        keep = [tmp_path / "x.json", tmp_path / ".hidden", tmp_path / ".x.json.12.tmp"]
        for path in keep:
            path.write_text("mine")
        assert sorted(remove_stale_temps([tmp_path, tmp_path / "absent"])) == sorted(stale)
        assert busy.exists() and all(p.exists() for p in keep) and not any(p.exists() for p in stale)
    finally:
        live.kill()
        live.wait()


def test_keep_raw_false_keeps_only_the_text(tmp_path, lic_schema):
    path = write_lines(tmp_path / "t.json", [lic("《ABC》的作者是Lu Xun", ("ABC", "作者", "Lu Xun"))])
    (full,), _ = read_dataset(path, lic_schema)
    (light,), _ = read_dataset(path, lic_schema, keep_raw=False, normalize="lower")
    assert set(full.raw) > {"text"} and light.raw == {"text": "《ABC》的作者是Lu Xun"}
    assert light.triples == [Triple("abc", "作者", "lu xun")] and light.text == "《abc》的作者是lu xun"
