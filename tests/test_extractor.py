"""Extractor on a tiny trained model: save/load, long texts, prior inputs, the predict CLI (slow)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_config
from dgcnn_ie.data import Sample, Schema, Triple, load_schema, read_dataset
from dgcnn_ie.decode import AveragedModel, Thresholds
from dgcnn_ie.extractor import Extractor, TextBatch, load_extractor, predict_samples, text_windows
from dgcnn_ie.features import CharVocab, Encoder, WordVectors
from dgcnn_ie.segment import get_segmenter
from dgcnn_ie.train import train_model
from dgcnn_ie.word2vec import save_vectors, segment_corpus, train_vectors

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SYNTHETIC = REPO / "data" / "synthetic"
MAX_LEN = 48
N_TRAIN = 96
# the repository's params with the shared tiny model (conftest.TINY_MODEL), 3 conv layers, trained 10 epochs
_CFG = tiny_config(
    model={"arch": "dgcnn", "dilations": [1, 2, 5], "kernel_size": 3, "max_len": MAX_LEN, "dropout": 0.25,
           "conv_dropout": 0.1, "min_char_count": 1, "subject_points": 2, "use_word_vectors": True,
           "use_attention": True, "use_gates": True},
    train={"epochs": 10, "batch_size": 8, "lr": 0.01, "lr_after_plateau": 0.0001, "warmup_epochs": 1,
           "plateau_patience": 8, "plateau_min_epoch": 20, "plateau_min_f1": 0.5, "plateau_force_epoch": 0,
           "ema": True, "ema_decay": 0.8, "augment": False})
MODEL_CONFIG, TRAIN_CONFIG = _CFG.model, _CFG.train
LOW = Thresholds(0.05, 0.05)  # low thresholds so the barely trained model outputs some triples


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    if not (SYNTHETIC / "train.json").is_file():
        pytest.skip("data/synthetic is absent (python -m dgcnn_ie.synthetic)")
    tmp = tmp_path_factory.mktemp("extractor")
    schema = load_schema(SYNTHETIC / "schema.json", "lic2019")
    train = read_dataset(SYNTHETIC / "train.json", schema)[0][:N_TRAIN]
    dev = read_dataset(SYNTHETIC / "dev.json", schema)[0][:12]
    segmenter = get_segmenter("jieba")
    kv = train_vectors(segment_corpus([s.text for s in train + dev], segmenter), dim=8, window=3, min_count=1,
                       epochs=1, negative=2, seed=0)
    vectors = save_vectors(kv, tmp / "w2v")
    encoder = Encoder(CharVocab.build([s.text for s in train + dev], 1), WordVectors(vectors, segmenter), schema,
                      MAX_LEN)
    result = train_model(train, dev, schema=schema, model_config=MODEL_CONFIG, train_config=TRAIN_CONFIG,
                         encoder=encoder, seed=1, out_dir=tmp / "history", log=lambda msg: None)
    extractor = Extractor(result.models, encoder, schema, MODEL_CONFIG, LOW, word2vec_path=str(vectors), batch_size=4)
    extractor.save(tmp / "model")
    return {"tmp": tmp, "schema": schema, "dev": dev, "extractor": extractor, "result": result}


def test_saved_folder_contents(trained):
    folder = trained["tmp"] / "model"
    assert sorted(p.name for p in folder.iterdir()) == ["char_vocab.json", "config.json", "model.keras", "schema.json"]
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["max_len"] == MAX_LEN and config["thresholds"] == {"start": 0.05, "end": 0.05}
    assert config["uses_prior"] is False and config["segmenter"] == "jieba" and config["word_dim"] == 8
    assert Schema.load(folder / "schema.json").predicates == trained["schema"].predicates


def test_save_load_gives_identical_probabilities_and_predictions(trained):
    ex, dev = trained["extractor"], trained["dev"]
    loaded = load_extractor(trained["tmp"] / "model", word2vec_path=trained["tmp"] / "w2v")
    assert loaded.model_config == ex.model_config == MODEL_CONFIG         # config.json's model section round-trips
    batch = TextBatch([s.text for s in dev])
    for a, b in zip(ex.subject_probs(batch), loaded.subject_probs(batch)):
        np.testing.assert_array_equal(a, b)
    rows, spans = np.array([0, 3, 3]), np.array([[0, 2], [1, 1], [2, 9]])
    for a, b in zip(ex.object_probs(batch, rows, spans), loaded.object_probs(batch, rows, spans)):
        np.testing.assert_array_equal(a, b)
    predictions = ex.predict(dev, show_progress=False)
    assert loaded.predict(dev, show_progress=False) == predictions
    assert any(predictions), "with low thresholds the model should output something"
    # a family of identical members averages to the same predictions
    averaged = predict_samples(AveragedModel([ex, loaded]), dev, ex.schema, thresholds=LOW, batch_size=5,
                               show_progress=False)
    assert averaged == predictions


def test_long_and_odd_texts_predict_without_crashing(trained):
    ex = trained["extractor"]
    long_text = trained["dev"][0].text * 10
    texts = [long_text, "a", "𠀀𠀁" * 40, "《" * 600]
    predictions = ex.predict(texts, batch_size=2, show_progress=False)
    assert len(predictions) == 4
    for text, triples in zip(texts, predictions):
        for t in triples:
            assert t.subject in text and t.object in text


def test_long_text_is_the_union_of_its_windows(trained, tmp_path):
    """A text longer than max_len is decoded window by window, in the library and in the predict CLI."""
    ex = trained["extractor"]
    sentence = max(trained["dev"], key=lambda s: len(ex.predict([s], show_progress=False)[0])).text
    text = "今天天气很好，我们一起去公园散步。" * 40 + sentence
    spans = text_windows(text, ex.max_len)
    assert len(spans) > 10 and text.find(sentence) > 600
    whole = ex.predict([text], show_progress=False)[0]
    parts = ex.predict([text[s:e] for s, e in spans], show_progress=False)
    assert whole == set().union(*parts)
    source, out = tmp_path / "long.json", tmp_path / "pred.json"
    source.write_text(json.dumps({"text": text}, ensure_ascii=False) + "\n", encoding="utf-8")
    run = _cli("--model", trained["tmp"] / "model", "--word2vec", trained["tmp"] / "w2v", "--input", source, "--output", out)
    assert run.returncode == 0, run.stderr
    assert "predict: 1 of 1 texts longer than" in run.stderr
    spo = json.loads(out.read_text(encoding="utf-8"))["spo_list"]
    assert {Triple(d["subject"], d["predicate"], d["object"]) for d in spo} == whole


def test_prior_model_needs_candidates(trained):
    ex = trained["extractor"]
    with_prior = Extractor(ex.models, ex.encoder, ex.schema, MODEL_CONFIG, LOW, uses_prior=True)
    dev = trained["dev"][:3]
    with pytest.raises(ValueError, match="trained with prior features"):
        with_prior.predict(dev, show_progress=False)
    # no candidates at all: the same inputs as a model without prior
    assert with_prior.predict(dev, candidates=[[], [], []], show_progress=False) == \
        ex.predict(dev, show_progress=False)


def _cli(*args):
    env = {**os.environ, "CI": "1"}
    return subprocess.run([sys.executable, "-m", "dgcnn_ie.cli.predict", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=300)


def test_predict_cli_writes_competition_format_and_metrics(trained, tmp_path):
    dev = trained["dev"]
    source = tmp_path / "in.json"
    source.write_text("".join(json.dumps(s.raw, ensure_ascii=False) + "\n" for s in dev) + "not json\n",
                      encoding="utf-8")
    out, metrics = tmp_path / "pred.json", tmp_path / "metrics.json"
    run = _cli("--model", trained["tmp"] / "model", "--word2vec", trained["tmp"] / "w2v", "--input", source, "--output", out,
               "--metrics", metrics,
               "--batch-size", 5, "--schema", SYNTHETIC / "schema.json")
    assert run.returncode == 0, run.stderr
    assert "malformed_json=1" in run.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["text"] for line in lines] == [s.text for s in dev]
    predicates = set(trained["schema"].predicates)
    for line in lines:
        for spo in line["spo_list"]:
            assert set(spo) == {"subject", "predicate", "object", "subject_type", "object_type"}
            assert spo["predicate"] in predicates
            assert spo["subject"] in line["text"] and spo["object"] in line["text"]
    expected = trained["extractor"].predict(dev, show_progress=False)
    assert [len(line["spo_list"]) for line in lines] == [len(p) for p in expected]
    printed = json.loads(run.stdout.strip().splitlines()[-1])
    written = json.loads(metrics.read_text())
    assert written["f1"] == pytest.approx(printed["f1"], abs=1e-6) and "per_predicate" in written


def test_predict_cli_reports_a_missing_model(tmp_path):
    run = _cli("--model", tmp_path / "nothing", "--input", tmp_path / "in.json", "--output", tmp_path / "out.json")
    assert run.returncode == 2 and run.stderr.startswith("error: ") and "nothing" in run.stderr


def test_prediction_rules_apply_alike_to_the_extractor_and_a_system(trained, tmp_path):
    """The same prediction rules give the same triples from the extractor (evaluate) and from an exported
    system folder (ensemble, `dgcnn-ie predict`), which records them."""
    from dgcnn_ie.rules import PREDICTION_RULES, RuleSet
    from dgcnn_ie.system import Member, System, export_system

    ex, dev, schema = trained["extractor"], trained["dev"], trained["schema"]
    rules = RuleSet.build(PREDICTION_RULES, schema)
    plain = ex.predict(dev, show_progress=False)
    ex.rules = rules
    try:
        ruled = ex.predict(dev, show_progress=False)
    finally:
        ex.rules = None
    assert ruled == [rules.apply(s.text, p) for s, p in zip(dev, plain)]
    export_system(tmp_path / "system", fmt="lic2019", normalize="none", mode="single", fold_count=1,
                  members=[Member("plain", False, (0,))], model_dirs={("plain", 0): trained["tmp"] / "model"},
                  schema=schema, thresholds=LOW, batch_size=4, word2vec_dir=trained["tmp"] / "w2v", kb=None,
                  rules=rules)
    system = System.load(tmp_path / "system")
    assert system.rules == rules and "taxon_rank" in system.rules.inactive     # the synthetic schema has no 目
    assert system.predict(dev) == ruled


def test_system_with_each_fold_models_own_knowledge_base(trained, tmp_path):
    """`prior.test_kb: fold`: the system folder holds one KB per fold, and each prior member reads its own
    (kg-2019's test-time prior); `all`: one shared KB."""
    from dgcnn_ie.ensemble import predict as ensemble_predict
    from dgcnn_ie.prior import KnowledgeBase
    from dgcnn_ie.system import Member, System, export_system

    ex, schema, tmp = trained["extractor"], trained["schema"], trained["tmp"]
    prior_dir = tmp_path / "prior-model"           # the trained weights, saved as a model with prior inputs
    Extractor(ex.models, ex.encoder, schema, MODEL_CONFIG, LOW, uses_prior=True, word2vec_path=ex.word2vec_path,
              batch_size=4).save(prior_dir)
    train = read_dataset(SYNTHETIC / "train.json", schema)[0][:N_TRAIN]
    kbs = {0: KnowledgeBase.build(train[::2], schema), 1: KnowledgeBase.build(train[1::2], schema)}
    texts = train[:8]                              # sentences the two KBs give different candidates for
    text = next(s.text for s in texts if kbs[0].candidates(s.text) != kbs[1].candidates(s.text))
    common = dict(fmt="lic2019", normalize="none", mode="average", fold_count=2, members=[Member("prior", True, (0, 1))],
                  model_dirs={("prior", 0): prior_dir, ("prior", 1): prior_dir}, schema=schema, thresholds=LOW,
                  batch_size=4, word2vec_dir=tmp / "w2v")
    export_system(tmp_path / "fold", kb=None, fold_kbs=kbs, **common)
    assert sorted(p.name for p in (tmp_path / "fold").glob("kb*.json")) == ["kb_fold0.json", "kb_fold1.json"]
    system = System.load(tmp_path / "fold")
    assert system.doc.test_kb == "fold" and system.kb is None
    # the KBs are passed to the predictor, never set on the members' encoders; each member reads the candidates
    # its encoder computed when it held its fold's KB, so the system predicts what such members predict (long
    # texts, windowed, included)
    held = [load_extractor(prior_dir, word2vec_path=tmp / "w2v", prior=kbs[f]) for f in (0, 1)]
    long = Sample(text="".join(s.text for s in texts), triples=[], labelled=False, source="long", raw={})
    for f, member in enumerate(system.models["prior"]):
        assert member.encoder.prior is None
        batch = TextBatch([text, long.text[:MAX_LEN]])
        assert system.predictor.models["prior"][f]._batch(batch).candidates == \
            held[f].encoder.prior_candidates(batch.texts) == [kbs[f].candidates(t[:MAX_LEN]) for t in batch.texts]
    assert system.predict(texts + [long]) == ensemble_predict(held, texts + [long], schema, LOW, 4, None)
    export_system(tmp_path / "all", kb=KnowledgeBase.build(train, schema), **common)
    shared = System.load(tmp_path / "all")
    assert shared.doc.test_kb == "all" and shared.kb is not None and not (tmp_path / "all/kb_fold0.json").exists()
    kb = KnowledgeBase.build(train, schema)
    assert shared.predict(texts + [long]) == ensemble_predict(shared.models["prior"], texts + [long], schema, LOW, 4,
                                                              [kb.candidates(s.text) for s in texts + [long]])
