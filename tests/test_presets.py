"""Presets (presets/*.yaml, `dgcnn-ie preset`): valid params overrides; the competition preset's schedule is
kg-2019's, replayed on made-up dev-F1 curves through the training loop's own rule (`train.reload_due`)."""
import shlex
import sys
from pathlib import Path

import pytest

from dgcnn_ie.cli import preset
from dgcnn_ie.config import ConfigError, yaml_value
from dgcnn_ie.train import reload_due

ROOT = Path(__file__).resolve().parent.parent
COMPETITION = ROOT / "presets" / "competition.yaml"


@pytest.fixture
def in_repo(monkeypatch):
    monkeypatch.chdir(ROOT)


def competition():
    return preset.checked_config(COMPETITION, ROOT / "params.yaml")


@pytest.mark.parametrize("path", sorted((ROOT / "presets").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_preset_is_a_valid_set_of_params_overrides(path):
    preset.checked_config(path, ROOT / "params.yaml")


def test_competition_preset_is_the_method():
    cfg = competition()
    train_config = cfg.train
    assert (train_config.epochs, train_config.batch_size, train_config.lr, train_config.warmup_epochs,
            train_config.ema, train_config.ema_decay) == (120, 64, 1e-3, 1, True, 0.9999)
    assert (train_config.lr_after_plateau, train_config.plateau_patience, train_config.plateau_min_epoch,
            train_config.plateau_min_f1, train_config.plateau_force_epoch) == (1e-4, 8, 11, 0.5, 50)
    assert cfg.cv.folds == (0, 1, 2, 3, 4, 5, 6, 7) or list(cfg.cv.folds) == list(range(8))
    assert cfg.folds.k == 8 and cfg.cv.epochs == 120 and list(cfg.cv.families) == ["plain", "prior"]
    assert [cfg.families[f].prior for f in cfg.cv.families] == [False, True]
    assert cfg.data.normalize == "lower"


def replay(f1_of_epoch, train_config) -> tuple[list[int], int]:
    """(epochs after which the best weights are reloaded, epochs trained) for a dev-F1 curve."""
    f1s, reloads, after_plateau = [], [], False
    for epoch in range(1, train_config.epochs + 1):
        f1s.append(f1_of_epoch(epoch))
        if reload_due(f1s, epochs=train_config.epochs, train_config=train_config, after_plateau=after_plateau):
            reloads.append(epoch)
            after_plateau = True
    return reloads, len(f1s)


def test_schedule_forced_drop_at_50_when_no_plateau_came_first():
    reloads, trained = replay(lambda e: 0.5 + 0.004 * e, competition().train)    # always improving, >= 0.5
    assert reloads == [50] and trained == 120


def test_schedule_no_patience_or_min_f1_reload_before_12_epochs_done():
    train_config = competition().train
    assert replay(lambda e: 0.3, train_config)[0] == [12, 50]         # F1 < 0.5 from the start: after 12, then 50
    best_early = lambda e: 0.8 if e == 2 else 0.6                      # best at epoch 2: 8 epochs old after 10
    assert replay(best_early, train_config)[0] == [12, 50]
    later = lambda e: 0.6 + 0.01 * min(e, 20) - (0.05 if e > 20 else 0)   # best at 20, stale 8 epochs at 28
    assert replay(later, train_config)[0] == [28, 50]


def test_schedule_reload_only_once_before_the_forced_drop():
    # after the plateau at 12 the F1 stays below 0.5: no second min-F1 reload, only the forced one at 50
    assert replay(lambda e: 0.2, competition().train)[0] == [12, 50]


def test_preset_prints_set_options_that_dvc_reads_back(in_repo, capsys):
    assert preset.cli(["competition"]) == 0
    options = shlex.split(capsys.readouterr().out)
    pairs = dict(opt.split("=", 1) for opt in options[1::2])
    assert options[::2] == ["-S"] * len(pairs)
    assert yaml_value(pairs["cv.folds"]) == list(range(8)) and yaml_value(pairs["train.ema_decay"]) == 0.9999
    assert yaml_value(pairs["train.lr_after_plateau"]) == 1e-4 and pairs["data.normalize"] == "lower"
    command = preset.run_command("competition", options, ["-S", "seed=7"])
    assert command[:7] == [sys.executable, "-m", "dvc", "exp", "run", "-n", "competition"]
    assert command[-2:] == ["-S", "seed=7"]                           # after the preset's: it wins


def test_bad_preset_is_a_one_line_error(tmp_path, in_repo, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epoch: 120\n", encoding="utf-8")
    assert preset.cli([str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err and "train.epoch" in err and "train.epochs" in err
    bad.write_text("train:\n  epochs: [1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: invalid YAML"):
        preset.read_preset(bad)
    assert preset.cli(["no-such-preset"]) == 2
    assert "presets/no-such-preset.yaml:1: no such parameters file" in capsys.readouterr().err


def test_set_options_quote_strings_and_add_new_keys(tmp_path):
    params = {"families": {"plain": {"prior": False, "model": {}}}, "data": {"source": {"dir": "data/synthetic"}}}
    overrides = {"families": {"plain": {"model": {"width": 64}}}, "data": {"source": {"dir": "my data, v2"}}}
    options = preset.set_options(overrides, params)
    assert options == ["-S", "+families.plain.model.width=64", "-S", 'data.source.dir="my data, v2"']
    from dvc.utils.hydra import apply_overrides      # what `dvc exp run -S` does with them
    import yaml
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    apply_overrides(path, [o for o in options if o != "-S"])
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == {
        "families": {"plain": {"prior": False, "model": {"width": 64}}}, "data": {"source": {"dir": "my data, v2"}}}


@pytest.mark.parametrize("text, kind", [("- 1\n- 2\n", "a list"), ("", "nothing"), ("# only a comment\n", "nothing"),
                                        ("42\n", "an integer"), ("just text\n", "a string"), ("{}\n", "nothing")])
def test_params_file_that_is_not_a_mapping_is_a_one_line_error(tmp_path, monkeypatch, capsys, text, kind):
    """`dgcnn-ie preset` merges the preset into params.yaml: a params file that is a list, empty or a scalar is
    refused first, naming it (it was an AttributeError from the merge)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(text, encoding="utf-8")
    assert preset.cli([str(COMPETITION)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: params.yaml:1: a params file is a mapping of sections (seed, data, model...), " \
                  f"this one holds {kind}\n"
    with pytest.raises(ConfigError, match=r"^params.yaml:1: a params file is a mapping"):
        preset.checked_config(COMPETITION, "params.yaml")
