"""Opening a model or system folder reads data inside it and never runs code (`dgcnn_ie.trust`).

The folders here hold untrained tiny models (what they predict does not matter, only what loading
them reads and refuses): a union system of a plain member (fold 0) and a prior member (fold 1) with
word vectors and per-fold knowledge bases, exported by `system.export_system` as the pipeline does.
Every test plants something in a copy of it: a pickle payload in each file, an escaping path in each
path field, a bad value in each validated key, a foreign class in the model file.
"""
import json
import math
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import REPO_ROOT, pickle_payload, tiny_config
from gensim.models import KeyedVectors

from dgcnn_ie.data import DataError, load_schema, read_dataset
from dgcnn_ie.decode import Thresholds
from dgcnn_ie.extractor import Extractor, load_extractor
from dgcnn_ie.features import CharVocab, Encoder, WordVectors
from dgcnn_ie.model import build_models
from dgcnn_ie.prior import KnowledgeBase
from dgcnn_ie.segment import get_segmenter
from dgcnn_ie.system import Member, System, export_system
from dgcnn_ie.trust import check_keras_config
from dgcnn_ie.word2vec import save_vectors

SYNTHETIC = REPO_ROOT / "data" / "synthetic"
# the shared tiny model (conftest.TINY_MODEL), narrower still and without attention
MODEL_CONFIG = tiny_config(model={"arch": "dgcnn", "width": 8, "kernel_size": 3, "heads": 1, "head_size": 4,
                               "max_len": 32, "min_char_count": 1, "subject_points": 2, "use_word_vectors": True,
                               "use_attention": False, "use_gates": True}).model


def _extractor(schema, texts, words, model_config=MODEL_CONFIG, uses_prior=False) -> Extractor:
    encoder = Encoder(CharVocab.build(texts, 1), words, schema, model_config.max_len)
    models = build_models(model_config, len(schema), words.dim, len(encoder.vocab))
    return Extractor(models, encoder, schema, model_config, Thresholds(0.3, 0.3), uses_prior=uses_prior, batch_size=4)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """An exported system folder (`system`), its members' sources and the word vectors."""
    tmp = tmp_path_factory.mktemp("trust")
    schema = load_schema(SYNTHETIC / "schema.json", "lic2019")
    samples = read_dataset(SYNTHETIC / "train.json", schema)[0][:40]
    texts = [s.text for s in samples]
    segmenter = get_segmenter("jieba")
    words = sorted({w for t in texts for w in segmenter.cut(t) if not w.isspace()})
    kv = KeyedVectors(4)
    kv.add_vectors(words, np.random.default_rng(0).normal(size=(len(words), 4)).astype(np.float32))
    save_vectors(kv, tmp / "w2v")
    vectors = WordVectors(tmp / "w2v", segmenter)
    _extractor(schema, texts, vectors).save(tmp / "plain")
    _extractor(schema, texts, vectors, uses_prior=True).save(tmp / "prior")
    kbs = {1: KnowledgeBase.build(samples[:20], schema)}
    export_system(tmp / "system", fmt="lic2019", normalize="none", mode="union", fold_count=2,
                  members=[Member("plain", False, (0,)), Member("prior", True, (1,))],
                  model_dirs={("plain", 0): tmp / "plain", ("prior", 1): tmp / "prior"}, schema=schema,
                  thresholds=Thresholds(0.3, 0.3), batch_size=4, word2vec_dir=tmp / "w2v", kb=None,
                  fold_kbs=kbs)
    return {"tmp": tmp, "schema": schema, "texts": texts[:6]}


@pytest.fixture
def system_copy(built, tmp_path) -> Path:
    """A fresh copy of the exported system to plant things in."""
    return Path(shutil.copytree(built["tmp"] / "system", tmp_path / "system"))


def _refused(directory, match: str) -> str:
    """System.load refuses ``directory`` with one line matching ``match``; returns the message."""
    with pytest.raises(DataError) as info:
        System.load(directory)
    message = str(info.value)
    assert "\n" not in message and _matches(match, message), message
    return message


def _matches(pattern: str, text: str) -> bool:
    import re
    return re.search(pattern, text) is not None


def _edit_json(path: Path, edit) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def test_the_exported_system_loads_and_predicts(built):
    system = System.load(built["tmp"] / "system")
    assert [m.family for m in system.members] == ["plain", "prior"] and system.doc.fold_count == 2
    assert len(system.predict(_samples(built["texts"]))) == len(built["texts"])


def _samples(texts):
    from dgcnn_ie.data import Sample
    return [Sample(text=t, triples=[], labelled=False, source=f"t:{i}", raw={"text": t}) for i, t in enumerate(texts)]


# --- no code runs: a pickle payload in every file a load reads -----------------------------------------------

def test_a_pickle_planted_in_any_file_of_the_folder_never_runs(built, tmp_path):
    """Each file of the exported folder in turn replaced by a pickle whose loading would create a marker
    file: the load is refused in one line naming that file, and the marker never appears."""
    source = built["tmp"] / "system"
    files = sorted(p.relative_to(source) for p in source.rglob("*") if p.is_file())
    assert len(files) == 13          # system, schema, kb_fold1, 2 word-vector files, 2 members x 4 files
    for i, relative in enumerate(files):
        folder = Path(shutil.copytree(source, tmp_path / f"s{i}"))
        marker = tmp_path / f"ran{i}"
        (folder / relative).write_bytes(pickle_payload(marker))
        message = _refused(folder, "")
        assert str(folder / relative) in message or str((folder / relative).parent) in message, (relative, message)
        assert not marker.exists(), relative


def test_a_folder_of_the_old_pickle_format_is_refused_with_how_to_re_export(system_copy, tmp_path):
    """A version-2 system (gensim's pickled vectors.kv) is refused before anything is read from it."""
    marker = tmp_path / "ran"
    shutil.rmtree(system_copy / "word2vec")
    (system_copy / "word2vec").mkdir()
    (system_copy / "word2vec/vectors.kv").write_bytes(pickle_payload(marker))
    _edit_json(system_copy / "system.json", lambda d: d.update(version=2))
    _refused(system_copy, r"system.json:1: version: 2, expected 3: .*re-export it with this version \(dvc repro")
    assert not marker.exists()
    # a member folder of the old version (config.json version 1) alone says the same
    member = system_copy / "models/plain/fold0"
    _edit_json(member / "config.json", lambda d: d.update(version=1, word2vec_path="/elsewhere/vectors.kv"))
    with pytest.raises(DataError, match=r"config.json:1: version: 1, expected 2: .*re-create it"):
        load_extractor(member)


# --- paths stay inside the folder ----------------------------------------------------------------------------

@pytest.mark.parametrize("family", ["../../x", "/tmp/x", "..", "plain/../../x", "a b", ""])
def test_a_member_family_that_is_no_folder_name_is_refused(system_copy, family):
    _edit_json(system_copy / "system.json", lambda d: d["members"][0].update(family=family))
    _refused(system_copy, r"system.json:1: members\[0\].family: .* is not a family name")


@pytest.mark.parametrize("relative", ["schema.json", "kb_fold1.json", "word2vec", "word2vec/vectors.npy",
                                      "word2vec/words.json", "models/plain", "models/prior/fold1",
                                      "models/plain/fold0/model.keras", "models/plain/fold0/config.json",
                                      "models/plain/fold0/char_vocab.json", "models/prior/fold1/schema.json",
                                      "system.json"])
def test_a_symlink_leading_outside_the_folder_is_refused(system_copy, tmp_path, relative):
    """Any file or folder the load reads, replaced by a symlink to an identical copy outside: refused, even
    though the content is valid (the folder must be self-contained)."""
    target = tmp_path / "outside" / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(system_copy / relative, target)
    os.symlink(target, system_copy / relative)
    _refused(system_copy, r"leads outside .*system")


def test_a_symlink_inside_the_folder_is_fine(system_copy):
    os.replace(system_copy / "kb_fold1.json", system_copy / "kb_copy.json")
    os.symlink("kb_copy.json", system_copy / "kb_fold1.json")
    System.load(system_copy)


def test_a_model_folder_names_no_path_and_needs_its_vectors_given(built, tmp_path):
    """config.json records the vectors' digest, not a path: without --word2vec a model that reads word vectors
    is refused, and other vectors than its own are refused too."""
    folder = built["tmp"] / "plain"
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert "word2vec_path" not in config and set(config["word_vectors"]) == {"count", "sha256"}
    with pytest.raises(DataError, match=r"config.json:1: model.use_word_vectors: .*give their folder"):
        load_extractor(folder)
    kv = KeyedVectors(4)
    kv.add_vectors(["鲁迅"], np.ones((1, 4), np.float32))
    save_vectors(kv, tmp_path / "other")
    with pytest.raises(DataError, match=r"other:1: not the word vectors the model .* was trained with"):
        load_extractor(folder, word2vec_path=tmp_path / "other")
    assert load_extractor(folder, word2vec_path=built["tmp"] / "w2v").encoder.word_vectors.count > 1


# --- contents validated when the folder is opened ------------------------------------------------------------

SYSTEM_EDITS = {
    "nan threshold": (lambda d: d["thresholds"].update(start=math.nan), r"thresholds.start: a number in \(0, 1\)"),
    "threshold 1": (lambda d: d["thresholds"].update(end=1.0), r"thresholds.end: a number in \(0, 1\)"),
    "unknown mode": (lambda d: d.update(mode="vote"), r"mode: 'vote' is not one of single, average, union"),
    "duplicated folds": (lambda d: d["members"][0].update(folds=[0, 0]),
                         r"members\[0\].folds: family plain: \[0, 0\] are not distinct folds in 0..1"),
    "fold beyond fold_count": (lambda d: d["members"][0].update(folds=[2]),
                               r"members\[0\].folds: family plain: \[2\] .*fold_count 2"),
    "family twice": (lambda d: d["members"][1].update(family="plain"), r"members: families \['plain', 'plain'\]"),
    "average of two families": (lambda d: d.update(mode="average"), r"members: mode average submits one family"),
    "unknown key": (lambda d: d.update(extra=1), r"system.json:1: extra: unknown key"),
    "unknown member key": (lambda d: d["members"][0].update(path="/x"), r"members\[0\].path: unknown key"),
    "unknown rule": (lambda d: d.update(rules=["rm -rf"]), r"rules: \['rm -rf'\]"),
    "rule not a name": (lambda d: d.update(rules=[["x"]]), r"rules: \[\['x'\]\]"),
    "batch size 0": (lambda d: d.update(batch_size=0), r"batch_size: 0 is outside"),
    "prior flag not the model's": (lambda d: d["members"][1].update(prior=False),
                                   r"family prior fold 1: uses_prior True, .*system.json says prior False"),
    "members not a list": (lambda d: d.update(members={"plain": [0]}), r"members: a list expected"),
}


@pytest.mark.parametrize("case", sorted(SYSTEM_EDITS))
def test_system_json_is_validated_naming_the_key_and_member(system_copy, case):
    edit, match = SYSTEM_EDITS[case]
    _edit_json(system_copy / "system.json", edit)
    message = _refused(system_copy, match)
    assert message.startswith(str(system_copy)), message


def test_a_knowledge_base_with_a_predicate_outside_the_schema_is_refused(system_copy, built):
    n = len(built["schema"])
    _edit_json(system_copy / "kb_fold1.json", lambda d: d["triples"].append(["鲁迅", n, "绍兴"]))
    _refused(system_copy, rf"kb_fold1.json:1: triples\[\d+\]: \[subject, predicate index in 0..{n - 1}, object\]")


CONFIG_EDITS = {
    "nan threshold": (lambda d: d["thresholds"].update(start=math.nan), r"thresholds.start: a number in \(0, 1\)"),
    "unknown model key": (lambda d: d["model"].update(evil=1), r"model"),
    "vocab size": (lambda d: d.update(vocab_size=3), r"char_vocab.json:1: \d+ chars, config.json's vocab_size is 3"),
    "predicates": (lambda d: d.update(num_predicates=99), r"num_predicates: 99, but schema.json has"),
    "unknown key": (lambda d: d.update(word2vec_path="/tmp/vectors.kv"), r"word2vec_path: unknown key"),
    "segmenter": (lambda d: d.update(segmenter="evil"), r"segmenter: 'evil' is not one of jieba, hanlp"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_EDITS))
def test_a_member_config_is_validated_naming_the_key(system_copy, case):
    edit, match = CONFIG_EDITS[case]
    _edit_json(system_copy / "models/plain/fold0/config.json", edit)
    message = _refused(system_copy, match)
    assert "models/plain/fold0" in message, message


def test_a_member_model_file_of_another_architecture_is_refused_at_load(system_copy, built):
    """A member's model.keras swapped for a model of another arch (its config.json kept) is refused when the
    folder is opened, naming the member's file, not when predicting."""
    other = MODEL_CONFIG.__class__(**{**vars(MODEL_CONFIG), "arch": "bilstm"})
    words = WordVectors(built["tmp"] / "w2v", get_segmenter("jieba"))
    _extractor(built["schema"], built["texts"], words, model_config=other).save(system_copy.parent / "bilstm")
    shutil.copy(system_copy.parent / "bilstm/model.keras", system_copy / "models/plain/fold0/model.keras")
    _refused(system_copy, r"models/plain/fold0/model.keras:1: its layers and weight shapes are not those "
                          r"config.json records \(model.arch dgcnn\)")


# --- Keras files: only Keras's and this package's classes -----------------------------------------------------

def _rewrite_keras_config(path: Path, edit) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _first_layer(config: dict) -> dict:
    return next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Embedding")


def test_a_foreign_module_in_the_model_file_is_refused_and_never_imported(system_copy, tmp_path, monkeypatch):
    """A layer entry naming a module outside Keras and dgcnn_ie, whose import would create a marker: refused
    by our check in one line, and Keras's own loader (safe_mode) does not import it either."""
    marker = tmp_path / "imported"
    (tmp_path / "planted_module.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Embedding: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    model_file = system_copy / "models/plain/fold0/model.keras"
    _rewrite_keras_config(model_file, lambda c: _first_layer(c).update(module="planted_module"))
    _refused(system_copy, r"model.keras:1: layer model/.*: class 'Embedding' of module 'planted_module', neither")
    with pytest.raises(Exception):
        keras.saving.load_model(model_file, safe_mode=True)
    assert not marker.exists()


def test_a_lambda_layer_is_refused_and_its_code_never_runs(tmp_path):
    """A model with a Lambda layer (marshalled bytecode that would create a marker): our check refuses it in
    one line, and Keras's safe_mode refuses it too."""
    marker = tmp_path / "ran"
    inputs = keras.Input((3,))
    outputs = keras.layers.Lambda(lambda x, m=str(marker): (open(m, "w").close(), x)[1])(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "lambda.keras")
    marker.unlink()                    # building the model ran the function once
    with pytest.raises(DataError, match=r"lambda.keras:1: layer .*: a Lambda layer \(it would run code"):
        check_keras_config(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(tmp_path / "lambda.keras", safe_mode=True)
    assert not marker.exists()


def test_a_registered_class_of_another_package_is_refused(system_copy):
    _rewrite_keras_config(system_copy / "models/plain/fold0/model.keras",
                          lambda c: _first_layer(c).update(registered_name="evil>Embedding"))
    _refused(system_copy, r"registered class 'evil>Embedding' is not dgcnn_ie's")


# --- the whole load path under an audit hook ------------------------------------------------------------------

AUDITED = r"""
import sys
def hook(event, args):
    if event == "pickle.find_class":
        raise RuntimeError(f"unpickling during a folder load: {args}")
sys.addaudithook(hook)
import pickle
try:                                   # the hook is live: a real unpickle fails
    pickle.loads(pickle.dumps(__import__("collections").OrderedDict()))
    raise SystemExit("the audit hook did not fire")
except RuntimeError:
    pass
from dgcnn_ie.cli.predict import main
main(sys.argv[1:])
print("AUDIT-OK")
"""


def test_loading_and_predicting_a_whole_system_never_unpickles(built, tmp_path):
    """`dgcnn-ie predict` on the exported system (word vectors, a prior member and its knowledge base) in a
    subprocess whose audit hook fails on any `pickle.find_class`: a pickle-based load anywhere on the path
    (gensim's KeyedVectors.load, np.load with allow_pickle, ...) fails this test."""
    source = tmp_path / "in.json"
    source.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in built["texts"]),
                      encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, "-c", AUDITED, "--model", str(built["tmp"] / "system"), "--input",
                          str(source), "--output", str(tmp_path / "out.json")], env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0 and "AUDIT-OK" in run.stdout, run.stderr[-3000:]
    assert len((tmp_path / "out.json").read_text(encoding="utf-8").splitlines()) == len(built["texts"])


# --- hostile shapes: deep nesting, duplicate keys, loops, FIFOs, huge headers, bombs ---------------------------

JSON_FILES = ["system.json", "schema.json", "kb_fold1.json", "word2vec/words.json", "models/plain/fold0/config.json",
              "models/plain/fold0/char_vocab.json", "models/prior/fold1/schema.json"]


@pytest.mark.parametrize("relative", JSON_FILES)
def test_a_json_file_nested_too_deeply_is_refused_in_one_line(system_copy, relative):
    (system_copy / relative).write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    _refused(system_copy, rf"{relative.split('/')[-1]}:1: ")


def test_duplicate_keys_are_refused(system_copy):
    text = (system_copy / "system.json").read_text(encoding="utf-8")
    (system_copy / "system.json").write_text(text.replace('"mode":', '"mode": "single", "mode":', 1),
                                             encoding="utf-8")
    _refused(system_copy, r"system.json:1: not a JSON file \(ValueError: duplicate key 'mode'\)")


def test_a_schema_without_its_predicate_list_is_refused(system_copy):
    _edit_json(system_copy / "schema.json", lambda d: d.pop("predicates"))
    _refused(system_copy, r"schema.json:1: not a saved schema \(KeyError")


def test_an_unknown_key_in_the_char_vocabulary_is_refused(system_copy):
    _edit_json(system_copy / "models/plain/fold0/char_vocab.json", lambda d: d.update(extra=1))
    _refused(system_copy, r"char_vocab.json:1: extra: unknown key")


@pytest.mark.parametrize("family, match", [("plain\n", "is not a family name"), ("a" * 65, "is not a family name")])
def test_family_names_are_matched_whole_and_short(system_copy, family, match):
    _edit_json(system_copy / "system.json", lambda d: d["members"][0].update(family=family))
    _refused(system_copy, match)


def test_a_huge_fold_count_is_refused(system_copy):
    _edit_json(system_copy / "system.json", lambda d: d.update(fold_count=10 ** 299))
    _refused(system_copy, r"fold_count: .* is outside \[1, 1000\]")


@pytest.mark.parametrize("relative", ["kb_fold1.json", "word2vec", "models/plain"])
def test_a_symlink_loop_is_refused_in_one_line(system_copy, relative):
    path = system_copy / relative
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    os.symlink(path.name, path)
    _refused(system_copy, r"cannot be resolved")


@pytest.mark.parametrize("relative", ["system.json", "kb_fold1.json", "schema.json", "word2vec/words.json",
                                      "word2vec/vectors.npy", "models/plain/fold0/config.json"])
def test_a_fifo_in_place_of_a_file_is_refused_without_blocking(system_copy, relative):
    """Reading a FIFO would block for ever: every file a load reads must be a regular file."""
    import signal
    (system_copy / relative).unlink()
    os.mkfifo(system_copy / relative)

    def hung(*_):
        raise TimeoutError(f"loading blocked on the FIFO {relative}")
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(30)
    try:
        if relative == "system.json":      # `is_system` (predict) finds no system file: the load says what it is
            with pytest.raises(DataError, match="not a regular file"):
                System.load(system_copy)
        else:
            _refused(system_copy, r"not a regular file|leads outside|not there")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_vectors_header_declaring_a_huge_matrix_is_refused_before_allocating(system_copy):
    """A .npy header may declare any shape; it is checked against the bytes that follow, so a 16 TB
    declaration costs nothing (np.load would try to allocate it)."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 4), }"
    header += " " * (63 - len(header) % 64) + "\n"
    data = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + bytes(64)
    (system_copy / "word2vec/vectors.npy").write_bytes(data)
    _refused(system_copy, r"vectors.npy:1: corrupt or unreadable word vectors \(ValueError: the header declares "
                          r"1000000000000 x 4 floats")


@pytest.mark.parametrize("descr, shape, match", [("|O", "(2, 4)", "float32 matrix expected"),
                                                  ("<f8", "(2, 4)", "float32 matrix expected"),
                                                  ("<f4", "(8,)", "float32 matrix expected")])
def test_vectors_of_another_dtype_or_shape_are_refused(system_copy, descr, shape, match):
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (63 - len(header) % 64) + "\n"
    data = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + bytes(64)
    (system_copy / "word2vec/vectors.npy").write_bytes(data)
    _refused(system_copy, match)


def test_a_model_file_whose_layer_config_inflates_past_the_limit_is_refused(system_copy, monkeypatch):
    """A decompression bomb in model.keras's config.json is refused by its declared size, before it is inflated
    (the limit is lowered here so that the test stays small)."""
    import dgcnn_ie.trust as trust
    monkeypatch.setattr(trust, "MAX_KERAS_CONFIG_BYTES", 1000)
    _refused(system_copy, r"model.keras:1: corrupt or unreadable model file \(ValueError: config.json of \d+ bytes")
