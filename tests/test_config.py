"""The typed config: params.yaml validated as a whole, every error naming file:line and key; stage views."""
import dataclasses
import datetime
import subprocess
import sys

import pytest
import yaml

from conftest import REPO_ROOT, repo_params, write_params
from dgcnn_ie import config as config_module
from dgcnn_ie.config import (Config, ConfigError, ModelConfig, UndeclaredParam, config_from_dict, family_model,
                             load_config)


def _error(tmp_path, overrides=None, text=None) -> str:
    path = tmp_path / "params.yaml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    else:
        write_params(path, overrides)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    return str(e.value)


def test_repository_params_load_typed():
    cfg = load_config(REPO_ROOT / "params.yaml")
    assert isinstance(cfg, Config) and isinstance(cfg.model, ModelConfig)
    assert isinstance(cfg.model.dilations, tuple) and all(isinstance(d, int) for d in cfg.model.dilations)
    assert isinstance(cfg.train.lr, float) and cfg.train.selection_thresholds.start_threshold == 0.5
    assert set(cfg.cv.families) <= set(cfg.families) and cfg.families["prior"].prior is True


def test_no_default_lives_in_the_code():
    """params.yaml is the only place defaults live: no field of any section has a default."""
    def sections(cls):
        yield cls
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(f.type) or (isinstance(f.type, str) and hasattr(config_module, f.type)
                                                    and dataclasses.is_dataclass(getattr(config_module, f.type))):
                yield from sections(getattr(config_module, f.type) if isinstance(f.type, str) else f.type)
    seen = list(sections(Config)) + [config_module.FamilyConfig]
    assert len(seen) > 10
    for cls in seen:
        for f in dataclasses.fields(cls):
            assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING, f"{cls.__name__}.{f.name}"


def test_unknown_key_names_line_and_nearest_key(tmp_path):
    text = (REPO_ROOT / "params.yaml").read_text(encoding="utf-8").replace("\ntrain:\n  epochs:", "\ntrain:\n  epohcs:")
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "epohcs" in l)
    assert _error(tmp_path, text=text) == (f"{tmp_path / 'params.yaml'}:{line}: train.epohcs: unknown key "
                                           f"(did you mean train.epochs?)")
    text = "trian:\n  epochs: 3\n" + (REPO_ROOT / "params.yaml").read_text(encoding="utf-8")
    assert ":1: trian: unknown key (did you mean train?)" in _error(tmp_path, text=text)


def test_missing_key_is_an_error_not_a_default(tmp_path):
    params = repo_params()
    del params["train"]["augment"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    message = _error(tmp_path, text=(tmp_path / "params.yaml").read_text(encoding="utf-8"))
    assert "train.augment: missing key" in message


@pytest.mark.parametrize("overrides, expected", [
    ({"train": {"epochs": "abc"}}, "train.epochs: must be an integer, got a string 'abc'"),
    ({"train": {"batch_size": 0}}, "train.batch_size: must be >= 1, got 0"),
    ({"train": {"lr": -0.001}}, "train.lr: must be > 0, got -0.001"),
    ({"train": {"ema": "yes"}}, "train.ema: must be true or false"),
    ({"train": {"epochs": True}}, "train.epochs: must be an integer, got a boolean"),
    ({"ensemble": {"mode": "foo"}}, "ensemble.mode: must be one of single, average, union, got 'foo'"),
    ({"data": {"format": "conll"}}, "data.format: must be one of lic2019, duie2"),
    ({"decode": {"start_threshold": 1.5}}, "decode.start_threshold: must be < 1, got 1.5"),
    ({"model": {"dilations": 3}}, "model.dilations: must be a list of int, got an integer"),
    ({"model": {"dilations": [1, "2"]}}, "model.dilations[1]: must be an integer"),
    ({"cv": {"folds": []}}, "cv.folds: must not be empty"),
    ({"cv": {"folds": [0, 0]}}, "cv.folds: has repeated values [0, 0]"),
    ({"cv": {"folds": [0, 8]}}, "cv.folds: fold 8 does not exist with folds.k 8"),
    ({"cv": {"families": ["plain", "baseline"]}}, "cv.families: 'baseline' is not a family declared under families"),
    ({"families": {"prior": {"model": {"widht": 8}}}}, "families.prior.model.widht: unknown key (did you mean"),
    ({"families": {"prior": {"model": {"arch": "gpt"}}}}, "families.prior.model.arch: must be one of dgcnn, bilstm"),
    ({"report": {"tune_on": "oof"}}, "report.tune_on: must be one of cv_raw, cv"),
    ({"data": {"source": {"train": ""}}}, "data.source.train: must not be empty"),
    ({"segment": "jieba"}, "segment: must be a mapping of keys, got a string"),
])
def test_bad_values_are_refused_naming_the_key(tmp_path, overrides, expected):
    assert expected in _error(tmp_path, overrides)


def test_error_points_at_the_line_of_the_key(tmp_path):
    path = write_params(tmp_path / "params.yaml", {"ensemble": {"mode": "foo"}})
    line = next(i for i, l in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if "mode: foo" in l)
    assert _error(tmp_path, text=path.read_text(encoding="utf-8")).startswith(f"{path}:{line}: ensemble.mode")


def test_unreadable_files(tmp_path):
    assert _error(tmp_path, text="seed: 1\ndata: [\n").startswith(f"{tmp_path / 'params.yaml'}:3: invalid YAML")
    assert "params: must be a mapping of keys, got a list" in _error(tmp_path, text="- 1\n")
    with pytest.raises(ConfigError, match="no such parameters file"):
        load_config(tmp_path / "absent.yaml")


def test_a_family_is_data(tmp_path):
    cfg = config_from_dict(repo_params({"families": {"baseline": {"prior": False,
                                                                  "model": {"arch": "bilstm", "dilations": [1, 2]}}},
                                        "cv": {"families": ["plain", "prior", "baseline"]}}))
    model_config = family_model(cfg.model, cfg.families["baseline"])
    assert (model_config.arch, model_config.dilations, model_config.width) == ("bilstm", (1, 2), cfg.model.width)
    assert family_model(cfg.model, cfg.families["plain"]) is cfg.model


def test_view_limits_reads_to_declared_keys():
    cfg = load_config(REPO_ROOT / "params.yaml")
    view = cfg.view(("seed", "data.format", "model", "decode.batch_size"), "stage x")
    assert (view.seed, view.data.format, view.decode.batch_size) == (cfg.seed, cfg.data.format, cfg.decode.batch_size)
    assert view.model is cfg.model                       # a whole section is the real object
    with pytest.raises(UndeclaredParam, match="stage x reads params key 'decode.start_threshold'"):
        view.decode.start_threshold
    with pytest.raises(UndeclaredParam, match="'train'"):
        view.train
    with pytest.raises(UndeclaredParam):
        view.view(("train",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.seed = 3


def test_choices_agree_with_the_library():
    from dgcnn_ie import segment
    assert set(config_module.SEGMENT_BACKENDS) == set(segment._BACKENDS)


# ---------------------------------------------------------------------------------------- the runner
def _stage(args, cwd):
    env = {"PYTHONPATH": str(REPO_ROOT / "src"), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "dgcnn_ie.stages", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_config_error_is_one_line_before_any_work(tmp_path):
    write_params(tmp_path / "params.yaml", {"train": {"epochs": "abc"}})
    proc = _stage(["prepare"], tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: params.yaml:{_line(tmp_path, 'epochs: abc')}: "
                                                f"train.epochs: must be an integer, got a string 'abc'"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]    # prepare wrote nothing


def _line(folder, needle):
    return next(i for i, l in enumerate((folder / "params.yaml").read_text().splitlines(), 1) if needle in l)


def test_data_error_is_one_line(tmp_path):
    write_params(tmp_path / "params.yaml", {"data": {"source": {"dir": "absent"}}})
    proc = _stage(["prepare"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: data.source.dir: absent is not a folder (see README: Real data)"]


def test_light_stage_help_does_not_load_tensorflow(tmp_path):
    code = ("import sys; from dgcnn_ie.stages.runner import main\n"
            "try:\n    main([sys.argv[1], '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    for stage in ("prepare", "folds", "word2vec", "clean", "prior", "submit"):
        proc = subprocess.run([sys.executable, "-c", code, stage], capture_output=True, text=True, timeout=300,
                              env={"PYTHONPATH": str(REPO_ROOT / "src"), "PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().splitlines()[-1] == "[]", (stage, proc.stdout[-500:])
    assert "usage: python -m dgcnn_ie.stages cv [-h] [--params PARAMS] --family FAMILY --fold FOLD" in \
        " ".join(_stage(["cv", "--help"], tmp_path).stdout.split())


def test_unknown_stage(tmp_path):
    proc = _stage(["trian"], tmp_path)
    assert proc.returncode == 2 and "error: unknown stage 'trian'" in proc.stderr


def test_runner_knows_every_stage_module():
    from dgcnn_ie.stages import runner
    modules = {p.stem for p in (REPO_ROOT / "src/dgcnn_ie/stages").glob("*.py")} - {"__init__", "__main__", "runner"}
    assert set(runner.STAGES) == modules


def test_console_command_dispatches(tmp_path, monkeypatch, capsys):
    from dgcnn_ie.cli.main import main
    assert main([]) == 2 and "usage: dgcnn-ie stage" in capsys.readouterr().err
    assert main(["stage", "--help"]) == 0 and "stages: prepare, folds" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path / "params.yaml", {"cv": {"folds": [9]}})
    assert main(["stage", "folds"]) == 2
    assert "cv.folds: fold 9 does not exist with folds.k 8" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "usage: dgcnn-ie predict" in capsys.readouterr().out


def test_dvc_written_values_read_as_dvc_reads_them(tmp_path):
    """`dvc exp run -S train.lr=0.00001` writes `lr: 1e-05` (YAML 1.2): a float here too, not a string."""
    from dvc.utils.hydra import apply_overrides
    path = write_params(tmp_path / "params.yaml")
    apply_overrides(str(path), ["train.lr=0.00001", "train.lr_after_plateau=1e-6", "train.ema=false"])
    cfg = load_config(path)
    assert (cfg.train.lr, cfg.train.lr_after_plateau, cfg.train.ema) == (1e-05, 1e-06, False)
    text = path.read_text(encoding="utf-8").replace("  ema: false", "  ema: yes")
    assert "train.ema: must be true or false, got a string 'yes'" in _error(tmp_path, text=text)


@pytest.mark.parametrize("text", ["1e-3", "-.5", "+.5", ".1e5", "1_000", "0777", "0o17", "0x1F", "1:30", "yes", "on",
                                  "True", "FALSE", "~", "null", ".inf", ".NaN", "2002-12-14", "'1e3'", "[1, 2.0, x]"])
def test_values_are_read_as_dvc_reads_them(text):
    """YAML 1.2 as DVC's own reader types it (ruamel, round-trip), e.g. `yes` and `1:30` strings, `1e-3` a float."""
    from dvc.utils.serialize import parse_yaml
    ours, dvc = config_module.yaml_value(text), parse_yaml(f"k: {text}", "params.yaml")["k"]
    assert type(ours) in (type(None), bool, int, float, str, list, datetime.date)     # plain values, no ruamel types
    assert repr(ours) == repr(dvc) or (ours != ours and dvc != dvc)                   # NaN != NaN


@pytest.mark.parametrize("edit, expected", [
    (lambda t: t.replace("seed: 42", "seed: 42\nseed: 43"), "params.yaml:9: key 'seed' appears twice in its section"),
    (lambda t: t.replace("seed: 42", "seed: &s 42\nsed: *s"), ": anchors (&name) are not supported"),
    (lambda t: t.replace("seed: 42", "seed: 42\nsed: *s"), "params.yaml:9: aliases (*name) are not supported"),
    (lambda t: t.replace("  epochs:", "  <<: {ema: false}\n  epochs:", 1), ": merge keys (<<) are not supported"),
    (lambda t: "%YAML 1.1\n---\n" + t, "params.yaml:2: a %YAML 1.1 directive: a params file is YAML 1.2"),
    (lambda t: t.replace("  lr: 0.001", "  lr: .inf"), "train.lr: must be a finite number, got inf"),
    (lambda t: t.replace("seed: 42", "seed: 4294967296"), "seed: must be < 4.29497e+09, got 4294967296"),
    (lambda t: t.replace("seed: 42", "seed:"), "seed: must be an integer, got nothing"),
    (lambda t: t.replace("extra_dir: data/extra", 'extra_dir: ""'), "word2vec.extra_dir: must not be empty"),
    (lambda t: t.replace("  plain:\n", "  ../../x:\n"), "families.../../x: a family name is a folder"),
])
def test_yaml_traps_are_refused(tmp_path, edit, expected):
    text = edit((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert expected in _error(tmp_path, text=text)


def test_a_directory_as_params_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the parameters file"):
        load_config(tmp_path)


def test_training_stage_reports_a_params_error_before_loading_tensorflow(tmp_path):
    write_params(tmp_path / "params.yaml", {"train": {"epochs": 0}})
    proc = _stage(["train"], tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"error: params.yaml:{_line(tmp_path, 'epochs: 0')}: train.epochs: must be >= 1, got 0"]
