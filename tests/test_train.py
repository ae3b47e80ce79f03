"""The training loop: schedule and plateau rules (fast), a tiny training run and its determinism (slow)."""
import json
from pathlib import Path

import pytest

from conftest import repo_params, tiny_params
from dgcnn_ie.batches import TrainingBatches
from dgcnn_ie.config import ConfigError, config_from_dict
from dgcnn_ie.data import Sample, Triple, load_schema, read_dataset
from dgcnn_ie.features import CharVocab, Encoder, NoWordVectors
from dgcnn_ie.train import (_RESUME_FIELDS, TrainState, epoch_line, history_row, plateau_reached,
                            selection_split, split_holdout, step_lr, train_model, warmup_lr, warmup_steps)

SYNTHETIC = Path(__file__).resolve().parent.parent / "data" / "synthetic"
# the shared tiny model (conftest.TINY_MODEL) with 3 conv layers, a BiGRU subject encoder and no word vectors
_TINY = tiny_params(
    model={"arch": "dgcnn", "dilations": [1, 2, 5], "kernel_size": 3, "max_len": 64, "dropout": 0.25,
           "conv_dropout": 0.1, "min_char_count": 1, "subject_encoder": "bigru", "subject_points": 6,
           "use_word_vectors": False, "use_attention": True, "use_gates": True},
    # plateau after epoch 2 (more than 1 epoch done, F1 < 0.5): epoch 3 restarts from the best weights
    train={"epochs": 3, "batch_size": 16, "lr": 0.003, "lr_after_plateau": 0.0001, "warmup_epochs": 1,
           "plateau_patience": 8, "plateau_min_epoch": 1, "plateau_min_f1": 0.5, "plateau_force_epoch": 0,
           "ema": True, "ema_decay": 0.9, "augment": True, "augment_rate": 0.5})
MODEL, TRAIN = _TINY["model"], _TINY["train"]
_CFG = config_from_dict(repo_params(_TINY))   # the repository's params, tiny
MODEL_CONFIG, TRAIN_CONFIG = _CFG.model, _CFG.train


def test_warmup_is_linear_per_step_then_flat():
    assert [warmup_lr(s, 4, 1e-3) for s in range(6)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])
    assert warmup_lr(0, 0, 1e-3) == 1e-3


def test_warmup_steps_are_epochs_of_batches():
    assert warmup_steps(100, 32, 1) == 4          # ceil(100 / 32) steps per epoch
    assert warmup_steps(100, 32, 0.5) == 2 and warmup_steps(96, 32, 2) == 6 and warmup_steps(100, 32, 0) == 0


@pytest.mark.parametrize("f1s, expected", [
    ([0.6] * 10, False),                            # not more than min_epoch (10) epochs yet
    ([0.1] * 11, True),                             # F1 < 0.5 after epoch 10
    ([0.6, 0.7, 0.75, 0.8] + [0.75] * 7, False),    # best at epoch 4, 7 epochs without improvement
    ([0.6, 0.7, 0.75, 0.8] + [0.75] * 8, True),     # ... 8 epochs without improvement: patience 8
    ([0.6, 0.8] + [0.8] * 9, True),                 # a tie is no improvement (the first maximum counts)
    ([0.5 + 0.01 * i for i in range(20)], False),   # still improving, F1 >= 0.5
    ([0.7] * 3 + [0.9] + [0.6] * 7 + [0.4], True),  # last epoch below min_f1
])
def test_plateau_rule(f1s, expected):
    assert plateau_reached(f1s, min_epoch=10, patience=8, min_f1=0.5, force_epoch=0) is expected


def test_plateau_forced_epoch():
    assert plateau_reached([0.9] * 5, min_epoch=10, patience=8, min_f1=0.5, force_epoch=5)
    assert not plateau_reached([0.9] * 6, min_epoch=10, patience=8, min_f1=0.5, force_epoch=5)
    # kg-2019 reloads at epoch 50 also when a plateau came first; nothing else fires after a plateau
    assert plateau_reached([0.9] * 5, min_epoch=1, patience=8, min_f1=0.5, force_epoch=5, after_plateau=True)
    assert not plateau_reached([0.1] * 12, min_epoch=10, patience=8, min_f1=0.5, force_epoch=5, after_plateau=True)


def test_split_holdout_is_seeded_disjoint_and_ordered():
    items = list(range(95))
    keep, held = split_holdout(items, seed=3)
    assert len(held) == 10 and sorted(keep + held) == items and keep == sorted(keep)
    assert split_holdout(items, seed=3) == (keep, held)
    assert split_holdout(items, seed=4)[1] != held
    assert len(split_holdout(items[:3], seed=0)[1]) == 1
    with pytest.raises(ValueError, match="cannot hold out"):
        split_holdout(items[:1], seed=0)


def _sample(text, triples, labelled=True):
    return Sample(text=text, triples=triples, labelled=labelled, source=f"x:{len(text)}", raw={})


def test_rejects_bad_arguments(tmp_path):
    schema = load_schema(SYNTHETIC / "schema.json", "lic2019")
    encoder = Encoder(CharVocab.build(["甲乙"], 1), NoWordVectors(0), schema, 64)
    train = [_sample("甲的作者是乙", [Triple("甲", "作者", "乙")])]
    kwargs = dict(schema=schema, model_config=MODEL_CONFIG, encoder=encoder, seed=0, out_dir=tmp_path)
    with pytest.raises(ValueError, match="no labels"):
        train_model(train, [_sample("甲乙", [], labelled=False)], train_config=TRAIN_CONFIG, **kwargs)
    with pytest.raises(ValueError, match="both kb_candidates and dev_candidates"):
        train_model(train, train, train_config=TRAIN_CONFIG, kb_candidates=[[]], **kwargs)
    with pytest.raises(ConfigError, match="train.epochs: must be >= 1"):   # the config refuses it
        config_from_dict(repo_params({"model": MODEL, "train": {**TRAIN, "epochs": 0}}))


def test_selection_split_holds_out_samples_with_their_candidates():
    samples = [_sample("甲" * (i + 1), []) for i in range(20)]
    cands = [[i] for i in range(20)]
    logged = []
    split = selection_split(samples, None, cands, None, seed=5, log=logged.append)
    keep, held = split_holdout(samples, seed=5)
    assert split.heldout and split.train == [samples[i] for i in keep] and split.dev == [samples[i] for i in held]
    assert split.kb_candidates == [[i] for i in keep] and split.dev_candidates == [[i] for i in held]
    assert logged == ["no dev set: holding out 2 of 20 training samples (seed 5) for model selection"]
    given = selection_split(samples[:3], samples[3:5], None, None, seed=5, log=logged.append)
    assert not given.heldout and given.train == samples[:3] and given.dev == samples[3:5] and len(logged) == 1
    with pytest.raises(ValueError, match="no training samples"):
        selection_split([], samples[:1], None, None, seed=0)


def test_train_state_round_trips_through_a_checkpoint():
    """`to_checkpoint` writes the state.json fields in the order checkpoints have always had; `from_checkpoint`
    gives the same state back, and the encoder's and the training's counters with it."""
    schema = load_schema(SYNTHETIC / "schema.json", "lic2019")

    def training():
        return TrainingBatches(Encoder(CharVocab.build(["甲乙"], 1), NoWordVectors(0), schema, 64))
    scores = {"precision": 0.5, "recall": 0.25, "f1": 1 / 3}
    state = TrainState(epoch=2, global_step=9, history=[history_row(1, 0.9, scores, 1e-3, 1.5),
                                                        history_row(2, 0.7, scores, 1e-3, 1.25)],
                       best_epoch=2, best_f1=1 / 3, best_scores=scores, best_weights=[1.0, 2.0], after_plateau=True,
                       seconds=4.0)
    source = training()
    source.stats.update(samples=96, augmented=3)
    source.encoder.stats.update(texts_clipped=2)
    source.encoder.clipped_texts = {"乙甲", "甲乙"}
    saved, best = state.to_checkpoint(5, source)
    assert list(saved) == ["epoch", "epochs", "global_step", "after_plateau", "best_f1", "best_epoch", "best_scores",
                           "history", "encoder_stats", "encoder_clipped", "seconds"]
    assert saved["epochs"] == 5 and saved["seconds"] >= 4.0 and best == [1.0, 2.0]
    saved = json.loads(json.dumps(saved))                 # as a resume reads it
    assert all(check(saved[key]) for key, check in _RESUME_FIELDS.items())
    target = training()
    restored = TrainState.from_checkpoint(saved, best, target)
    assert restored == TrainState(**{**vars(state), "seconds": saved["seconds"]})
    assert list(saved["encoder_stats"].items()) == [("texts_clipped", 2), ("samples", 96), ("augmented", 3)]
    assert target.stats == source.stats and target.encoder.stats == source.encoder.stats
    assert target.encoder.clipped_texts == source.encoder.clipped_texts
    assert restored.f1s() == [1 / 3, 1 / 3]
    assert restored.progress(5) == {"epochs_done": 2, "epochs": 5, "best_epoch": 2, "best_dev_f1": 1 / 3,
                                    "last_dev_f1": 1 / 3}
    assert TrainState().to_checkpoint(1, training())[1] == []   # no best weights before the first epoch


def test_step_lr_warms_up_then_drops_after_a_plateau():
    lrs = [step_lr(s, after_plateau=False, n_warmup=4, train_config=TRAIN_CONFIG) for s in range(5)]
    assert lrs == pytest.approx([TRAIN_CONFIG.lr * k / 4 for k in (1, 2, 3, 4, 4)])
    assert step_lr(0, after_plateau=True, n_warmup=4, train_config=TRAIN_CONFIG) == TRAIN_CONFIG.lr_after_plateau


def test_epoch_line():
    row = history_row(3, 0.12345, {"precision": 0.5, "recall": 0.25, "f1": 1 / 3}, 1e-3, 12.34)
    state = TrainState(best_epoch=2, best_f1=0.4)
    assert epoch_line("cv fold 1", row, state, 10, 3725) == (
        "cv fold 1: epoch 3/10: loss 0.1235, dev P 0.5000 R 0.2500 F1 0.3333 (best 0.4000 @ 2), 12.3s, ETA 1h02m")


def _tiny_run(out_dir):
    schema = load_schema(SYNTHETIC / "schema.json", "lic2019")
    samples, _ = read_dataset(SYNTHETIC / "train.json", schema)
    samples = samples[:64]
    encoder = Encoder(CharVocab.build([s.text for s in samples], 1), NoWordVectors(0), schema, MODEL_CONFIG.max_len)
    # no dev set: a seeded 10% of the 64 samples is held out for model selection
    return train_model(samples, None, schema=schema, model_config=MODEL_CONFIG, train_config=TRAIN_CONFIG,
                       encoder=encoder, seed=7, out_dir=out_dir, log=lambda msg: None)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    if not (SYNTHETIC / "train.json").is_file():
        pytest.skip("data/synthetic is absent (python -m dgcnn_ie.synthetic)")
    out = tmp_path_factory.mktemp("run")
    return _tiny_run(out), out


@pytest.mark.slow
def test_training_lowers_the_loss_and_writes_history(tiny_run):
    result, out = tiny_run
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 3 and losses[1] < losses[0]
    assert result.heldout and len(result.dev_samples) == 6
    assert result.history[0]["lr"] == pytest.approx(TRAIN_CONFIG.lr)  # warm-up ends with the first epoch
    assert 1 <= result.best_epoch <= 3 and set(result.best) == {"precision", "recall", "f1"}
    assert result.device == "CPU" or result.device.startswith("GPU")
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history == result.history
    csv_lines = (out / "history.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,loss,dev_precision,dev_recall,dev_f1") and len(csv_lines) == 4


@pytest.mark.slow
def test_plateau_reloads_once_and_switches_the_lr(tiny_run):
    history = tiny_run[0].history
    assert [h["reloaded"] for h in history] == [False, True, False]
    assert history[2]["lr"] == pytest.approx(TRAIN_CONFIG.lr_after_plateau)


@pytest.mark.slow
def test_same_seed_gives_the_same_loss_history(tiny_run, tmp_path):
    result, _ = tiny_run
    again = _tiny_run(tmp_path)
    assert [h["loss"] for h in again.history] == [h["loss"] for h in result.history]
    assert [h["dev_f1"] for h in again.history] == [h["dev_f1"] for h in result.history]


def test_checkpoint_fingerprint_covers_params_and_inputs():
    """A checkpoint is resumed only by a run with the same params and inputs (see tests/test_resume.py)."""
    import dataclasses
    from dgcnn_ie.decode import Thresholds
    from dgcnn_ie.train import _fingerprint
    schema = load_schema(SYNTHETIC / "schema.json", "lic2019")
    p = schema.predicates[0]
    train = [_sample("甲写了乙书", [Triple("乙书", p, "甲")]), _sample("丙写了丁书", [Triple("丁书", p, "丙")])]
    dev = [_sample("戊写了己书", [Triple("己书", p, "戊")])]

    def fp(train=train, dev=dev, model_config=MODEL_CONFIG, train_config=TRAIN_CONFIG, seed=0, thresholds=Thresholds(),
           cands=None, min_count=1):
        encoder = Encoder(CharVocab.build([s.text for s in train + dev], min_count), NoWordVectors(0), schema, 64)
        return _fingerprint(train, dev, schema=schema, model_config=model_config, train_config=train_config,
                            encoder=encoder, seed=seed, thresholds=thresholds, decode_batch_size=64, kb_candidates=cands,
                            dev_candidates=cands and [[]])
    base = fp()
    assert fp() == base
    changed = [fp(train=[train[0], _sample("丙写了丁书", [Triple("丁书", p, "丁")])]), fp(dev=train[:1]),
               fp(model_config=dataclasses.replace(MODEL_CONFIG, width=32)),
               fp(train_config=dataclasses.replace(TRAIN_CONFIG, lr=0.01)),
               fp(seed=1), fp(thresholds=Thresholds(0.6, 0.4)), fp(cands=[[], [((0, 1), 0, (2, 3))]]), fp(min_count=2)]
    assert base not in changed and len(set(changed)) == len(changed)
    import dgcnn_ie.train as train_module
    original = train_module.BATCH_ORDER
    try:                                          # a checkpoint made with another batch order is not resumed
        train_module.BATCH_ORDER = "original-length/0"
        assert fp() != base
    finally:
        train_module.BATCH_ORDER = original
