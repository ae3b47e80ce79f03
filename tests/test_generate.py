"""The embedded synthetic dataset: reproducible, correctly labelled, and covering
the five patterns of method.md section 1 (checked here independently of the
generator's own ``patterns``)."""
import json
from collections import Counter
from pathlib import Path

import jieba
import pytest

from dgcnn_ie.synthetic import generate

DATA = Path(__file__).resolve().parents[1] / "data" / "synthetic"
FILES = ["train.json", "dev.json", "test.json", "schema.json"]
SPLITS = ["train", "dev", "test"]


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8")]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    generate.main(["--out", str(out), "--seed", "7"])
    return out


@pytest.fixture(scope="module")
def splits():
    return {s: load(DATA / f"{s}.json") for s in SPLITS}


def triples(rec):
    return {(t["subject"], t["predicate"], t["object"]) for t in rec["spo_list"]}


def test_default_command_reproduces_committed_files(regenerated):
    assert sorted(p.name for p in regenerated.iterdir()) == sorted(FILES)  # no temp files left
    for name in FILES:
        assert (regenerated / name).read_bytes() == (DATA / name).read_bytes(), name


def test_sizes_and_record_format(splits):
    assert {s: len(r) for s, r in splits.items()} == {"train": 1000, "dev": 200, "test": 200}
    texts = [r["text"] for rs in splits.values() for r in rs]
    assert len(set(texts)) == len(texts)
    for rs in splits.values():
        for r in rs:
            assert list(r) == ["text", "spo_list"]
            assert 5 <= len(r["text"]) <= 120
            for t in r["spo_list"]:
                assert list(t) == ["subject", "predicate", "object", "subject_type", "object_type"]


def test_every_span_is_in_its_text(splits):
    for rs in splits.values():
        for r in rs:
            for s, _, o in triples(r):
                assert s and o and s in r["text"] and o in r["text"], (r["text"], s, o)


def test_schema_covers_every_triple(splits):
    schema = load(DATA / "schema.json")
    assert all(list(x) == ["object_type", "predicate", "subject_type"] for x in schema)
    allowed = {(x["subject_type"], x["predicate"], x["object_type"]) for x in schema}
    assert len({x["predicate"] for x in schema}) >= 8
    used = {(t["subject_type"], t["predicate"], t["object_type"]) for rs in splits.values() for r in rs for t in r["spo_list"]}
    assert used <= allowed
    assert {p for _, p, _ in used} == {x["predicate"] for x in schema}  # every predicate has examples


def shows(rec) -> dict[str, bool]:
    text, spo = rec["text"], triples(rec)
    cuts, i = {0}, 0
    for w in jieba.lcut(text):
        i += len(w)
        cuts.add(i)

    def crosses(e):
        start = text.find(e)
        return start not in cuts or start + len(e) not in cuts

    def repeated(keys):
        return any(n > 1 for n in Counter(keys).values())

    return {
        "1 span not a union of jieba words": any(crosses(s) or crosses(o) for s, _, o in spo),
        "2 one subject, several (p, o)": repeated(s for s, _, _ in spo),
        "3 several subjects, one (p, o)": repeated((p, o) for _, p, o in spo),
        "4 one (s, o), several predicates": repeated((s, o) for s, _, o in spo),
        "5 object inside subject or vice versa": any(s != o and (o in s or s in o) for s, _, o in spo),
        "no triple": not spo,
    }


def test_each_pattern_has_a_fair_share_of_train(splits):
    train = splits["train"]
    counts = Counter(k for r in train for k, v in shows(r).items() if v)
    shares = {k: counts[k] / len(train) for k in shows(train[0])}
    for k, v in shares.items():
        assert v >= (0.03 if k == "no triple" else 0.10), shares
    assert shares["no triple"] <= 0.2


def test_dev_and_test_hold_entities_unseen_in_train(splits):
    def entities(rs):
        return {e for r in rs for s, _, o in triples(r) for e in (s, o)}

    seen = entities(splits["train"])
    for split in ("dev", "test"):
        ents = entities(splits[split])
        assert len(ents - seen) / len(ents) >= 0.3, split
        assert ents & seen  # the shared world recurs too


def test_seed_changes_data_and_is_deterministic():
    sizes = {"train": 15, "dev": 5, "test": 5}
    a, b = generate.generate(7, sizes), generate.generate(8, sizes)
    assert a == generate.generate(7, sizes)
    assert [r["text"] for r in a["train"]] != [r["text"] for r in b["train"]]


def test_readme_shows_current_stats(splits):
    assert generate.stats(splits) in (DATA / "README.md").read_text(encoding="utf-8")


def test_project_reader_accepts_every_line():
    from dgcnn_ie.data import load_schema, read_dataset

    schema = load_schema(DATA / "schema.json", "lic2019")
    assert len(schema) == 16
    for split in SPLITS:
        samples, report = read_dataset(DATA / f"{split}.json", schema, on_error="raise")
        assert not report.skipped and not report.triples_skipped
        assert all(s.labelled for s in samples)


def test_postag_option_mirrors_lic2019_lines():
    from dgcnn_ie.synthetic.generate import generate
    rows = generate(7, {"train": 20}, with_postag=True)["train"]
    for r in rows:
        assert list(r) == ["text", "postag", "spo_list"]
        assert "".join(w["word"] for w in r["postag"]) == r["text"]
        assert all(w["pos"] for w in r["postag"])
