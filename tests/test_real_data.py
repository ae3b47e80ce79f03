"""Real-data check: a reduced DGCNN trained for a few minutes on DuIE 2.0 lines must extract triples.

The model is trained on the first ``TRAIN_LINES`` lines of
``../shared/data/duie2/duie_train.json`` (read through ``read_dataset``, so
complex objects are flattened as everywhere else; a seeded 10% of them is held
out by ``train_model`` for model selection) and scored with ``metrics.score`` on
the file's last ``TEST_LINES`` lines, which it never sees (no text is shared).

Model: the DGCNN encoder and the subject-then-object decoder of the pipeline,
reduced to width 64, 6 gated dilated conv layers ([1, 2, 5] x 2), 4 attention
heads of 16, ``max_len`` 128, chars only (``NoWordVectors``: no word2vec run).
Training: 12 epochs of 152 steps (batch 16), lr 0.003 with a one-epoch warm-up,
EMA 0.99, augmentation on; after epoch 9 the project's plateau rule is forced,
which reloads the best weights and goes on at lr 0.001. The test had lr 0.005 until
batches were sorted by their length after augmentation (issue 14): with that batch
order, seed 42 collapsed in the first epochs at lr 0.005 (training loss stuck near
0.91, F1 0 in all 12 epochs) while seed 7 reached 0.342; lr 0.005 had also diverged
after epoch 17 in a 20-epoch trial, and lr 0.01 at once.

Measured (CPU, 2026-12-02, this file with ``SEED`` set to each value; training on CPU
is deterministic): seed 42 held-out F1 0.325 (P 0.606, R 0.222: 335 spo predicted,
914 gold), the dev-selection F1 per epoch 0, 0, 0, 0.03, 0.11, 0.19, 0.25, 0.28,
0.29, 0.28, 0.30, 0.31; seed 7 0.302 (P 0.614, R 0.200); seed 1 0.334 (P 0.587,
R 0.233). The bar is ``F1_BAR`` = 0.15, half the lowest, with precision above
0.15 and recall above 0.075 as well. A broken model cannot reach it: the untrained
model predicts no triple at all (F1 0.0 for seeds 42, 1 and 2; checked below with
``UNTRAINED_F1_MAX``), a model whose training does not converge stays at F1 0 (the
first four epochs above; lr 0.01 diverged and stayed at 0), and a broken encoder,
target, loss or decoder yields no or wrong spans, i.e. F1 near 0.
Cost: 219 s of CPU time (user + sys) for this file, an upper bound of its wall
time on 2 idle cores (3 min 41 s wall measured on 2 cores shared with other
training runs, load average about 8).

The data folder is ``../shared/data`` beside the repository, or the folder named
by the environment variable ``DGCNN_IE_SHARED_DATA``; when it is absent (a fresh
clone) the tests are skipped. Select or deselect them with ``-m realdata``.
"""
from __future__ import annotations

import pytest

from conftest import SHARED_DATA_ENV, repo_params, shared_data_dir

from dgcnn_ie.config import config_from_dict
from dgcnn_ie.data import load_schema, read_dataset
from dgcnn_ie.extractor import Extractor
from dgcnn_ie.features import CharVocab, Encoder, NoWordVectors
from dgcnn_ie.metrics import score
from dgcnn_ie.model import build_models
from dgcnn_ie.train import train_model
from dgcnn_ie.utils import set_seed

TRAIN_LINES, TEST_LINES = 2700, 500
SEED = 42
F1_BAR = 0.15            # measured 0.302-0.334 over three seeds (see the module docstring)
UNTRAINED_F1_MAX = 0.01  # what a model that learned nothing is allowed (measured 0.0)

_MODEL = {"arch": "dgcnn", "width": 64, "dilations": [1, 2, 5, 1, 2, 5], "kernel_size": 3, "heads": 4,
             "head_size": 16, "max_len": 128, "dropout": 0.25, "conv_dropout": 0.1, "min_char_count": 2,
             "subject_encoder": "bigru", "subject_points": 6, "use_word_vectors": False, "use_attention": True,
             "use_gates": True}
_TRAIN = {"epochs": 12, "batch_size": 16, "lr": 0.003, "lr_after_plateau": 0.001, "warmup_epochs": 1,
             "plateau_patience": 100, "plateau_min_epoch": 100, "plateau_min_f1": 0.0, "plateau_force_epoch": 9,
             "ema": True, "ema_decay": 0.99, "augment": True, "augment_rate": 0.5}
_CONFIG = config_from_dict(repo_params({"model": _MODEL, "train": _TRAIN}))
MODEL_CONFIG, TRAIN_CONFIG = _CONFIG.model, _CONFIG.train
DECODE_BATCH = 64

pytestmark = [pytest.mark.realdata]


@pytest.fixture(scope="module")
def duie():
    """(schema, training samples, held-out samples) from the real DuIE 2.0 training file."""
    folder = shared_data_dir() / "duie2"
    schema_path, train_path = folder / "duie_schema.json", folder / "duie_train.json"
    if not (schema_path.is_file() and train_path.is_file()):
        pytest.skip(f"{folder} has no duie_schema.json / duie_train.json: the real-data tests need the shared "
                    f"data folder beside the repository (../shared/data) or {SHARED_DATA_ENV}=<path to that data folder>")
    schema = load_schema(schema_path, "duie2")
    samples, report = read_dataset(train_path, schema, on_error="raise")
    assert report.lines >= TRAIN_LINES + TEST_LINES, f"{train_path}: only {report.lines} lines"
    train, test = samples[:TRAIN_LINES], samples[-TEST_LINES:]
    assert all(s.labelled and s.triples for s in test)
    assert not {s.text for s in train} & {s.text for s in test}, "the held-out part shares texts with training"
    return schema, train, test


def _encoder(schema, train) -> Encoder:
    vocab = CharVocab.build([s.text for s in train], MODEL_CONFIG.min_char_count)
    return Encoder(vocab, NoWordVectors(0), schema, MODEL_CONFIG.max_len)


def _test_f1(extractor: Extractor, test) -> dict:
    pred = extractor.predict(test, batch_size=DECODE_BATCH, show_progress=False)
    return score([set(s.triples) for s in test], pred, "duie2")


def test_untrained_model_scores_near_zero(duie):
    """The floor the bar is set against: the same model, not trained, finds (almost) nothing."""
    schema, train, test = duie
    encoder = _encoder(schema, train)
    set_seed(SEED)
    models = build_models(MODEL_CONFIG, len(schema), encoder.word_vectors.dim, len(encoder.vocab))
    scores = _test_f1(Extractor(models, encoder, schema, MODEL_CONFIG), test)
    assert scores["n_gold"] > 0
    assert scores["f1"] <= UNTRAINED_F1_MAX < F1_BAR, scores


@pytest.mark.slow
def test_reduced_model_learns_real_duie_triples(duie, tmp_path):
    schema, train, test = duie
    encoder = _encoder(schema, train)
    result = train_model(train, None, schema=schema, model_config=MODEL_CONFIG, train_config=TRAIN_CONFIG,
                         decode_batch_size=DECODE_BATCH, encoder=encoder, seed=SEED, out_dir=tmp_path, log=lambda msg: None)
    assert len(result.history) == TRAIN_CONFIG.epochs and result.heldout
    assert [h["reloaded"] for h in result.history].count(True) == 1
    scores = _test_f1(Extractor(result.models, encoder, schema, MODEL_CONFIG), test)
    summary = (f"held-out F1 {scores['f1']:.4f} (P {scores['precision']:.4f}, R {scores['recall']:.4f}, "
               f"{scores['n_pred']} predicted / {scores['n_gold']} gold); dev F1 per epoch "
               f"{[round(h['dev_f1'], 3) for h in result.history]}")
    print(summary)
    assert scores["f1"] > F1_BAR, summary
    assert scores["precision"] > F1_BAR and scores["recall"] > F1_BAR / 2, summary
