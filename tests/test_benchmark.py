"""scripts/benchmark.py on a tiny model: the figures it reports exist and make sense (not a timing test)."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from conftest import TINY_MODEL
from dgcnn_ie.config import ConfigError
from dgcnn_ie.data import load_schema, read_dataset

REPO_ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("benchmark", REPO_ROOT / "scripts" / "benchmark.py")
benchmark = sys.modules.setdefault("benchmark", importlib.util.module_from_spec(spec))
spec.loader.exec_module(benchmark)

# conftest.TINY_MODEL as --set options (model.width=16, model.dilations=[1, 2], ...), 8-dim word vectors, batches of 4
_SETS = {**{f"model.{k}": v for k, v in TINY_MODEL.items()}, "word2vec.dim": 8, "train.batch_size": 4}
TINY = [arg for key, value in _SETS.items() for arg in ("--set", f"{key}={value}")]


def test_tiny_run_writes_positive_figures(tmp_path, capsys):
    out = tmp_path / "bench" / "figures.json"
    result = benchmark.main([*TINY, "--params", str(REPO_ROOT / "params.yaml"),
                             "--data", str(REPO_ROOT / "data" / "synthetic" / "train.json"),
                             "--schema", str(REPO_ROOT / "data" / "synthetic" / "schema.json"),
                             "--sentences", "12", "--warmup", "1", "--steps", "2", "--infer-sentences", "6",
                             "--system-folds", "2", "--json", str(out)])
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["train"]["steps_per_s"] == pytest.approx(result["train"]["steps_per_s"])
    train, infer = saved["train"], saved["inference"]
    for value in (train["steps_per_s"], train["sentences_per_s"], train["step_only_steps_per_s"],
                  train["peak_rss_mib"], infer["sentences_per_s"], infer["peak_rss_mib"], saved["peak_rss_mib"],
                  saved["model"]["parameters"], saved["data"]["mean_chars"], saved["cpu_count"]):
        assert value > 0
    # the overrides reached the model, train.batch_size was used, counts are what was asked for
    assert saved["model"]["config"]["width"] == TINY_MODEL["width"] == 16
    assert saved["model"]["config"]["dilations"] == TINY_MODEL["dilations"] == [1, 2]
    assert train["batch_size"] == 4 and train["steps"] == 2 and train["sentences"] <= 8
    assert saved["data"]["sentences"] == 12 and infer["sentences"] == 6
    assert saved["word_vectors"]["source"] == "random" and saved["word_vectors"]["dim"] == 8
    # every encoded text is accounted for: memo, segmenter cache or segmented
    for seg in (train["segmentation"], infer["segmentation"]):
        assert seg["from_memo"] + seg["from_segmenter_cache"] + seg["segmented"] == seg["texts"]
    # default mode: the training texts were segmented before timing, the inference texts are new to
    # the inference segmenter (each distinct text cut once)
    schema = load_schema(REPO_ROOT / "data" / "synthetic" / "schema.json", "lic2019")
    texts = [s.text for s in read_dataset(REPO_ROOT / "data" / "synthetic" / "train.json", schema)[0]][:12]
    assert train["pre_segmentation"]["segmented"] == len(set(texts))
    assert infer["segmentation"]["segmented"] == len(set(texts[:6]))
    assert saved["device"] == result["device"] and saved["tensorflow"] and saved["keras"]
    assert (train["gpu_peak_mib"] is None) == (saved["device"] == "CPU")
    # the two object passes decode the same triples (the benchmarked model is untrained: whatever it decodes)
    assert infer["object_pass"]["same_triples"] and infer["object_pass"]["speedup"] > 0
    # the whole system: every family of cv.families x 2 folds, copies of the benchmarked model, on the same sentences
    system = saved["system"]
    assert system["members"] == {"plain": 2, "prior": 2} and system["models"] == 4
    assert system["prior_families"] == ["prior"] and system["sentences"] == 6 and system["sentences_per_s"] > 0
    printed = capsys.readouterr().out
    assert "steps/s" in printed and "sentences/s" in printed and "RANDOM" in printed
    assert "System.predict" in printed and "plain x 2 + prior x 2 = 4 models" in printed


def test_overrides_need_existing_keys():
    params = {"model": {"width": 128}, "seed": 1}
    assert benchmark.apply_overrides(params, ["model.width=16", "seed=7"]) == {"model": {"width": 16}, "seed": 7}
    assert params["model"]["width"] == 128        # the input is not modified
    with pytest.raises(ValueError, match="no key"):
        benchmark.apply_overrides(params, ["model.widht=16"])
    with pytest.raises(ValueError, match="no section"):
        benchmark.apply_overrides(params, ["modle.width=16"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        benchmark.apply_overrides(params, ["model.width"])


def test_overridden_params_are_validated_as_the_pipeline_validates_them(tmp_path):
    config = benchmark.load_config(REPO_ROOT / "params.yaml", ["model.width=16", "model.dilations=[1, 2]"])
    assert config.model.width == 16 and config.model.dilations == (1, 2)
    with pytest.raises(ConfigError, match=r"params.yaml:\d+: model\.arch: must be one of"):
        benchmark.load_config(REPO_ROOT / "params.yaml", ["model.arch=transformer"])
    with pytest.raises(SystemExit, match="error: .*train.batch_size: must be >= 1"):
        benchmark.main(["--set", "train.batch_size=0"])


def test_first_step_is_never_timed():
    with pytest.raises(SystemExit):
        benchmark.parse_args(["--warmup", "0"])


@pytest.mark.slow
def test_compare_mode_times_every_variant_on_the_same_batches(tmp_path, capsys):
    out = tmp_path / "compare.json"
    skip = [] if importlib.util.find_spec("jax") else ["--compare-skip", "jax"]
    result = benchmark.main([*TINY, "--params", str(REPO_ROOT / "params.yaml"),
                             "--data", str(REPO_ROOT / "data" / "synthetic" / "train.json"),
                             "--schema", str(REPO_ROOT / "data" / "synthetic" / "schema.json"),
                             "--sentences", "24", "--steps", "3", "--infer-sentences", "6",
                             "--compare", "--compare-rounds", "2", *skip, "--json", str(out)])
    saved = json.loads(out.read_text(encoding="utf-8"))
    train = saved["comparison"]["train"]
    expected = {"project", "keras_loop", "xla", "bf16", "no_determinism"} | ({"jax"} if not skip else set())
    assert set(train) == expected, train.get("jax")
    for name, r in train.items():
        assert "error" not in r, (name, r)
        assert r["steps_per_s"] > 0 and len(r["passes"]) == 2 and r["speed_vs_project"] > 0
    assert train["project"]["speed_vs_project"] == pytest.approx(1.0)
    assert train["project"]["finite"] and train["no_determinism"]["finite"] and train["keras_loop"]["finite"]
    # the same batches: the project's step and the same step without determinism start from the same loss
    assert train["no_determinism"]["passes"][0]["first_loss"] == pytest.approx(
        train["project"]["passes"][0]["first_loss"], rel=0.05)
    infer = saved["comparison"]["inference"]["variants"]
    assert set(infer) == {"project", "xla", "bf16", "no_determinism"}
    assert all(r["sentences_per_s"] > 0 for r in infer.values())
    assert "vs project" in capsys.readouterr().out and result["mode"] == "compare"
