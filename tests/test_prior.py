"""prior.py and the prior stage: self-exclusion, fold isolation, matching and feature layout."""
import json
import random

import numpy as np
import pytest
from conftest import write_params

from dgcnn_ie import layout
from dgcnn_ie.data import DataError, Sample, Schema, Triple, load_schema, read_dataset
from dgcnn_ie.folds import make_folds, split
from dgcnn_ie.prior import KnowledgeBase, load_candidates, object_prior, subject_prior
from dgcnn_ie.stages.runner import run_stage

SCHEMA = Schema("lic2019", {"作者": [("图书作品", "人物")], "出版社": [("书籍", "出版社")],
                            "国籍": [("人物", "国家")]}, {})
AUTHOR, PUBLISHER, NATION = (SCHEMA.index(p) for p in ("作者", "出版社", "国籍"))
C = len(SCHEMA)


def sample(text, triples, source):
    return Sample(text=text, triples=[Triple(*t) for t in triples], labelled=True, source=source, raw={})


BOOK = ("鲁迅自传", "出版社", "江苏文艺出版社")
A = sample("《鲁迅自传》由江苏文艺出版社出版", [BOOK], "train:1")
B = sample("江苏文艺出版社再版了鲁迅自传", [], "train:2")
OTHER = sample("张三是中国人", [("张三", "国籍", "中国")], "train:3")
BOOK_IN_B = ((10, 13), PUBLISHER, (0, 6))


def test_own_triple_is_no_candidate_for_its_sentence_but_is_for_another():
    kb = KnowledgeBase.build([A, B, OTHER], SCHEMA)
    assert kb.candidates(A.text, exclude=A) == []
    assert kb.candidates(A.text, exclude="train:1") == []
    assert kb.candidates(A.text) == [((1, 4), PUBLISHER, (7, 13))]
    assert kb.candidates(B.text, exclude=B) == [BOOK_IN_B]
    assert kb.candidates(B.text) == [BOOK_IN_B]


def test_compact_kb_gives_the_same_candidates_for_new_texts():
    kb = KnowledgeBase.build([A, B, OTHER], SCHEMA)
    compact = kb.compact()
    for text in (A.text, B.text, OTHER.text, "张三读了鲁迅自传，江苏文艺出版社出版"):
        assert compact.candidates(text) == kb.candidates(text)
    assert len(compact) == len(kb) and compact._texts == {}


def test_triple_supported_by_two_sentences_is_a_candidate_for_both():
    b = sample(B.text, [BOOK], "train:2")
    kb = KnowledgeBase.build([A, b, OTHER], SCHEMA)
    assert kb.candidates(A.text, exclude=A) == [((1, 4), PUBLISHER, (7, 13))]
    assert kb.candidates(b.text, exclude=b) == [BOOK_IN_B]
    assert kb.support[("鲁迅自传", "江苏文艺出版社")] == {PUBLISHER: frozenset({"train:1", "train:2"})}


def test_exclusion_is_per_predicate():
    b = sample("鲁迅自传的作者是江苏文艺出版社", [("鲁迅自传", "作者", "江苏文艺出版社")], "train:2")
    kb = KnowledgeBase.build([A, b], SCHEMA)
    assert kb.candidates(A.text, exclude=A) == [((1, 4), AUTHOR, (7, 13))]
    assert kb.candidates(b.text, exclude=b) == [((0, 3), PUBLISHER, (8, 14))]


def test_augmented_text_excludes_the_sample_it_came_from():
    kb = KnowledgeBase.build([A, B, OTHER], SCHEMA)
    augmented = "《鲁迅自传》由江苏文艺出版社重印,张三是中国人"
    assert kb.candidates(augmented, exclude_ids=[A.source]) == [((17, 18), NATION, (20, 21))]
    assert kb.candidates(augmented, exclude_ids=[A.source, OTHER.source]) == []
    assert len(kb.candidates(augmented)) == 2


def test_identical_texts_count_as_the_same_sentence():
    twin = sample(A.text, [BOOK], "train:9")
    kb = KnowledgeBase.build([A, twin, B], SCHEMA)
    assert kb.candidates(A.text, exclude=A) == []
    assert kb.candidates(A.text, exclude_ids=["train:9"]) == []
    assert kb.candidates(B.text, exclude=B) == [BOOK_IN_B]


def test_duplicate_sample_ids_are_refused():
    with pytest.raises(ValueError, match="duplicate sample id"):
        KnowledgeBase.build([A, sample("x", [], A.source)], SCHEMA)


def test_nested_overlapping_and_repeated_matches():
    kb = KnowledgeBase.build([sample("《鲁迅自传》由江苏文艺出版社出版", [BOOK, ("鲁迅自传", "作者", "鲁迅")], "train:1"),
                              sample("鲁迅的书", [("鲁迅", "国籍", "中国")], "train:2")], SCHEMA)
    text = "鲁迅自传,江苏文艺出版社;中国读者爱读鲁迅自传"
    assert kb.candidates(text) == [
        ((0, 1), NATION, (13, 14)),
        ((0, 3), AUTHOR, (0, 1)), ((0, 3), AUTHOR, (19, 20)), ((0, 3), PUBLISHER, (5, 11)),
        ((19, 20), NATION, (13, 14)),
        ((19, 22), AUTHOR, (0, 1)), ((19, 22), AUTHOR, (19, 20)), ((19, 22), PUBLISHER, (5, 11))]
    occ = kb.occurrences(text)
    assert occ["鲁迅"] == [(0, 1), (19, 20)] and occ["鲁迅自传"] == [(0, 3), (19, 22)]


def test_no_candidate_unless_subject_and_object_both_occur():
    kb = KnowledgeBase.build([A, OTHER], SCHEMA)
    assert kb.candidates("鲁迅自传很好看") == []
    assert kb.candidates("中国的张三") == [((3, 4), NATION, (0, 1))]
    assert KnowledgeBase.build([B], SCHEMA).candidates(A.text) == []  # empty KB


def test_feature_channel_layout():
    cands = [((0, 3), AUTHOR, (0, 1)), ((0, 3), PUBLISHER, (5, 11)), ((19, 20), NATION, (13, 14))]
    sp = subject_prior(cands, 24)
    assert sp.dtype == np.float32 and sp.shape == (24, 2)
    assert np.flatnonzero(sp[:, 0]).tolist() == [0, 19] and np.flatnonzero(sp[:, 1]).tolist() == [3, 20]
    op = object_prior(cands, (0, 3), 24, C)
    assert op.dtype == np.float32 and op.shape == (24, 2 * C)
    assert sorted(zip(*np.nonzero(op))) == [(0, AUTHOR), (1, C + AUTHOR), (5, PUBLISHER), (11, C + PUBLISHER)]
    other = object_prior(cands, np.array([19, 20]), 24, C)
    assert sorted(zip(*np.nonzero(other))) == [(13, NATION), (14, C + NATION)]
    assert not object_prior(cands, (0, 1), 24, C).any()


def test_candidates_beyond_length_are_ignored():
    cands = [((2, 5), AUTHOR, (4, 9)), ((8, 9), NATION, (0, 1))]
    sp = subject_prior(cands, 5)
    assert sp.shape == (5, 2) and sp[2, 0] == 1 and sp.sum() == 1
    op = object_prior(cands, (2, 5), 5, C)
    assert op[4, AUTHOR] == 1 and op.sum() == 1
    assert sorted(zip(*np.nonzero(object_prior(cands, (8, 9), 5, C)))) == [(0, NATION), (1, C + NATION)]


def test_deterministic_whatever_the_sample_order():
    samples = [A, B, OTHER, sample("《鲁迅自传》作者鲁迅", [("鲁迅自传", "作者", "鲁迅")], "train:4")]
    text = "鲁迅自传,江苏文艺出版社,张三,中国,鲁迅"
    first = KnowledgeBase.build(samples, SCHEMA).candidates(text, exclude=A)
    for seed in range(3):
        shuffled = samples[:]
        random.Random(seed).shuffle(shuffled)
        assert KnowledgeBase.build(shuffled, SCHEMA).candidates(text, exclude=A) == first
    assert first == sorted(first) and len(first) == 3


def test_fold_kb_holds_no_triple_supported_only_inside_the_fold():
    samples = [sample(f"甲{i}写了乙{i % 5}", [(f"甲{i}", "作者", f"乙{i % 5}")], f"train:{i}") for i in range(20)]
    samples += [sample(f"书{i % 3}的作者是丙", [(f"书{i % 3}", "作者", "丙")], f"train:{20 + i}") for i in range(10)]
    assignment = make_folds(len(samples), 5, seed=3)
    for fold in range(5):
        kb = KnowledgeBase.build(split(samples, assignment, fold)[0], SCHEMA)
        inside = {s.source for s, a in zip(samples, assignment) if a == fold}
        outside = {(t.subject, t.object) for s, a in zip(samples, assignment) if a != fold for t in s.triples}
        assert set(kb.support) == outside
        assert all(not ids & inside for preds in kb.support.values() for ids in preds.values())


# ---- the stage: fold isolation end to end ----------------------------------------------------

SCHEMA_LINES = [{"subject_type": "人物", "predicate": "国籍", "object_type": "国家"},
                {"subject_type": "图书作品", "predicate": "作者", "object_type": "人物"}]


def write_lines(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def spo(s, p, o):
    return {"subject": s, "predicate": p, "object": o, "subject_type": "", "object_type": ""}


@pytest.fixture
def stage_run(tmp_path, monkeypatch):
    """The folds and prior stages on 24 sentences: 12 with a triple of their own, 12 sharing one triple pairwise."""
    train = []
    for i in range(12):
        train.append({"text": f"人物{i:02d}是国家{i:02d}人", "spo_list": [spo(f"人物{i:02d}", "国籍", f"国家{i:02d}")]})
    for i in range(12):
        j = i // 2
        train.append({"text": f"《书{j:02d}》的作者是作家{j:02d}" + "。" * (i % 2), "spo_list": [spo(f"书{j:02d}", "作者", f"作家{j:02d}")]})
    # the project as the stages see it: prepare's outputs, and the clean stage's train file (with
    # cleaning disabled, a copy of the prepared one)
    write_lines(tmp_path / layout.PREPARED_SCHEMA, SCHEMA_LINES)
    write_lines(tmp_path / layout.PREPARED_TRAIN, train)
    write_lines(tmp_path / layout.CLEANED_TRAIN, train)
    write_lines(tmp_path / layout.PREPARED_DEV,
                [{"text": "人物03是国家03人,书05", "spo_list": [spo("人物03", "国籍", "国家03")]}])
    write_lines(tmp_path / layout.PREPARED_TEST, [{"text": "《书01》作家01"}, {"text": "无关"}])
    write_params(tmp_path / "params.yaml", {"seed": 1, "folds": {"k": 4}, "cv": {"folds": [0, 1, 2, 3]},
                                            "data": {"format": "lic2019", "normalize": "none", "on_error": "raise"}})
    monkeypatch.chdir(tmp_path)
    assignment = run_stage("folds")["assignment"]
    stats = run_stage("prior")
    schema = load_schema(layout.PREPARED_SCHEMA, "lic2019")
    samples = read_dataset(layout.CLEANED_TRAIN, schema)[0]
    return tmp_path, assignment, stats, schema, samples


def test_stage_fold_isolation_and_self_exclusion(stage_run):
    tmp_path, assignment, stats, schema, samples = stage_run
    path = tmp_path / layout.PRIOR_DIR
    nation, author = schema.index("国籍"), schema.index("作者")
    for fold in range(4):
        cands = load_candidates(path, "train", fold, samples=samples, schema=schema)
        assert len(cands) == 24
        for i, cs in enumerate(cands[:12]):  # own-only triples: never a candidate, in or out of the fold
            assert cs == [], (fold, i)
        for i, cs in enumerate(cands[12:], 12):
            partner = 12 + ((i - 12) ^ 1)
            # the shared triple is a candidate iff its other sentence is in the KB (outside fold f)
            expected = [((1, 3), author, (9, 12))] if assignment[partner] != fold else []
            assert cs == expected, (fold, i)
        assert stats["folds"][str(fold)]["kb_triples"] == len({
            (s.triples[0].subject, s.triples[0].object) for s, a in zip(samples, assignment) if a != fold})
    full = load_candidates(path, "train", samples=samples)
    assert all(c == [] for c in full[:12]) and all(c == [((1, 3), author, (9, 12))] for c in full[12:])
    assert stats["train"]["gold_coverage"] == pytest.approx(0.5)
    assert load_candidates(path, "dev") == [[((0, 3), nation, (5, 8))]]
    assert load_candidates(path, "test") == [[((1, 3), author, (5, 8))], []]
    assert stats["dev"]["gold_coverage"] == 1.0 and "gold_coverage" not in stats["test"]
    assert json.loads((tmp_path / layout.PRIOR_STATS).read_text())["kb_triples"] == 18


def test_load_candidates_checks_what_it_is_given(stage_run):
    tmp_path, _, _, schema, samples = stage_run
    path = tmp_path / layout.PRIOR_DIR
    with pytest.raises(DataError, match="other samples"):
        load_candidates(path, "train", 0, samples=samples[1:])
    other = Schema("lic2019", {"国籍": [("人物", "国家")], "朝代": [("人物", "Text")]}, {})
    with pytest.raises(DataError, match="predicate order"):
        load_candidates(path, "dev", schema=other)
    with pytest.raises(DataError, match="fold 7"):
        load_candidates(path, "train", 7)


def test_stage_is_deterministic(stage_run):
    tmp_path = stage_run[0]
    files = (layout.PRIOR_TRAIN_CANDIDATES, layout.PRIOR_DEV_CANDIDATES, layout.PRIOR_TEST_CANDIDATES)
    first = [(tmp_path / f).read_bytes() for f in files]
    run_stage("prior")
    assert [(tmp_path / f).read_bytes() for f in files] == first


# ---- real data ---------------------------------------------------------------------------------

@pytest.mark.realdata
def test_kb_over_lic2019_train(shared_data):
    folder = shared_data / "lic2019"
    schema = load_schema(folder / "all_50_schemas", "lic2019")
    train = read_dataset(folder / "train_data.json", schema)[0]
    dev = read_dataset(folder / "dev_data.json", schema)[0]
    kb = KnowledgeBase.build(train, schema)

    def coverage(samples, exclude):
        hit = gold = n = 0
        for s in samples:
            cs = kb.candidates(s.text, exclude=s if exclude else None)
            n += len(cs)
            found = {(s.text[a:b + 1], p, s.text[c:d + 1]) for (a, b), p, (c, d) in cs}
            for (a, b), p, (c, d) in cs:  # every candidate is a KB triple spelled out in the text
                assert p in kb.support[(s.text[a:b + 1], s.text[c:d + 1])]
            triples = {(t.subject, schema.index(t.predicate), t.object) for t in s.triples}
            gold += len(triples)
            hit += len(triples & found)
        return hit / gold, n / len(samples)

    own, _ = coverage(train, exclude=False)
    excluded, per_sentence = coverage(train, exclude=True)
    dev_cov, dev_per_sentence = coverage(dev, exclude=False)
    print(f"\nLIC2019 subset: KB {len(kb)} triples; train coverage without exclusion {own:.4f}, "
          f"with self-exclusion {excluded:.4f} ({per_sentence:.2f} candidates/sentence); "
          f"dev coverage {dev_cov:.4f} ({dev_per_sentence:.2f} candidates/sentence)")
    assert own > 0.99  # the KB finds (almost) every gold triple when nothing is excluded
    assert excluded < own - 0.2  # self-exclusion removes the triples no other sentence states
    assert 0 < dev_cov < own
