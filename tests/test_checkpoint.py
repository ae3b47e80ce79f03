"""Checkpoints that cannot be read whole: one line naming the file and why, the folder set aside
(renamed beside itself, not deleted), nothing returned; and, through the real training loop, a fresh
training that ends where an uninterrupted one ends. Valid checkpoints of another run stay put."""
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_config
from dgcnn_ie import checkpoint
from dgcnn_ie.files import remove_stale_temps

FP = "ab" * 32
ARRAYS = {"model": [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(4, np.float32)],
          "optimizer": [np.array(3, np.int64)], "ema": []}
SHAPES = {"model": [(2, 3), (4,)], "optimizer": [()], "ema": []}
STATE = {"epoch": 2, "history": [{"dev_f1": 0.5}, {"dev_f1": 0.6}]}
FIELDS = {"epoch": lambda v: isinstance(v, int), "history": lambda v: isinstance(v, list)}


def _saved(tmp_path, name="single") -> Path:
    directory = tmp_path / name
    checkpoint.save(directory, FP, STATE, ARRAYS)
    return directory


def _load(directory, **kw):
    return checkpoint.load(directory, FP, **{"fields": FIELDS, "shapes": SHAPES, **kw})


def flip_data_byte(npz: Path, member: str) -> None:
    """Flip the last byte of ``member``'s stored data (an array element, past the .npy header): only its CRC
    tells, and zipfile checks that only once the member is read to its end."""
    with zipfile.ZipFile(npz) as zf:
        info = zf.getinfo(member)
    raw = bytearray(npz.read_bytes())
    local = info.header_offset
    start = local + 30 + int.from_bytes(raw[local + 26:local + 28], "little") \
        + int.from_bytes(raw[local + 28:local + 30], "little")
    raw[start + info.compress_size - 1] ^= 0xFF
    npz.write_bytes(bytes(raw))


def test_a_saved_checkpoint_loads_whole(tmp_path):
    state, arrays = _load(_saved(tmp_path))
    assert state["epoch"] == 2 and state["history"] == STATE["history"]
    assert {g: [a.tolist() for a in v] for g, v in arrays.items()} == \
        {g: [a.tolist() for a in v] for g, v in ARRAYS.items()}          # the empty group comes back as []


def _truncate(d):
    data = (d / "arrays.npz").read_bytes()
    (d / "arrays.npz").write_bytes(data[:len(data) // 2])


def _pickled(d):                                     # an object array: np.save pickles it, load must refuse
    np.savez(d / "arrays.npz", **{"model/00000": np.array([{"x": 1}], dtype=object)})


def _state(text):
    return lambda d: (d / "state.json").write_text(text, encoding="utf-8")


def _without_epoch(d):
    state = json.loads((d / "state.json").read_text(encoding="utf-8"))
    del state["epoch"]
    (d / "state.json").write_text(json.dumps(state), encoding="utf-8")


CORRUPTIONS = {   # name: (how, file named, reason in the line, load's keyword arguments)
    "bad CRC": (lambda d: flip_data_byte(d / "arrays.npz", "model/00001.npy"), "arrays.npz",
                "unreadable (BadZipFile: Bad CRC-32 for file 'model/00001.npy')", {}),
    "truncated arrays": (_truncate, "arrays.npz", "unreadable (BadZipFile: File is not a zip file)", {}),
    "empty arrays": (lambda d: (d / "arrays.npz").write_bytes(b""), "arrays.npz",
                     "unreadable (BadZipFile: File is not a zip file)", {}),
    "missing arrays": (lambda d: (d / "arrays.npz").unlink(), "arrays.npz", "missing", {}),
    "pickled array": (_pickled, "arrays.npz", "unreadable (ValueError: Object arrays cannot be loaded", {}),
    "garbled state": (_state('{"version": 2, "finger'), "state.json", "unreadable (Unterminated string", {}),
    "state not an object": (_state("[1, 2]"), "state.json", "a JSON list, not an object", {}),
    "missing state": (lambda d: (d / "state.json").unlink(), "state.json", "missing", {}),
    "state key missing": (_without_epoch, "state.json", "missing or invalid 'epoch'", {}),
    "state key of another type": (_state(json.dumps({"version": checkpoint.VERSION, "fingerprint": FP,
                                                     "epoch": "2", "history": []})),
                                  "state.json", "missing or invalid 'epoch'", {}),
    "array count": (lambda d: None, "arrays.npz", "2 model arrays for 3 variables",
                    {"shapes": {**SHAPES, "model": [(2, 3), (4,), (1,)]}}),
    "array shape": (lambda d: None, "arrays.npz", "model array 0 has shape (2, 3), its variable (3, 2)",
                    {"shapes": {**SHAPES, "model": [(3, 2), (4,)]}}),
    "array group": (lambda d: None, "arrays.npz", "unexpected array group 'optimizer'",
                    {"shapes": {"model": SHAPES["model"]}}),
}


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_an_unreadable_checkpoint_is_set_aside_in_one_line(tmp_path, name):
    corrupt, file, reason, kw = CORRUPTIONS[name]
    directory = _saved(tmp_path)
    corrupt(directory)
    files = sorted(p.name for p in directory.iterdir())
    state, why = _load(directory, **kw)
    assert state is None and "\n" not in why
    assert why.startswith(f"{directory / file}: {reason}"), why
    aside = tmp_path / "single.unreadable-1"
    assert why.endswith(f"; set aside as {aside}, starting afresh"), why
    assert not directory.exists() and sorted(p.name for p in aside.iterdir()) == files   # renamed, not deleted
    assert remove_stale_temps([tmp_path]) == [] and aside.is_dir()        # the runner's temp sweep keeps it


def test_set_aside_takes_the_next_free_name(tmp_path):
    for n in (1, 2):
        directory = _saved(tmp_path)
        (directory / "arrays.npz").unlink()
        assert _load(directory)[1].endswith(f"set aside as {tmp_path / f'single.unreadable-{n}'}, starting afresh")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["single.unreadable-1", "single.unreadable-2"]


def test_valid_checkpoints_of_another_run_stay_in_place(tmp_path):
    directory = _saved(tmp_path)
    assert checkpoint.load(directory, "cd" * 32) == \
        (None, f"{directory / 'state.json'}: made with other params or inputs; starting afresh")
    state = json.loads((directory / "state.json").read_text(encoding="utf-8"))
    (directory / "state.json").write_text(json.dumps({**state, "version": 2}), encoding="utf-8")
    assert _load(directory)[1] == f"{directory / 'state.json'}: checkpoint version 2, not 3; starting afresh"
    assert [p.name for p in tmp_path.iterdir()] == ["single"]          # replaced by the run's first save
    assert _load(tmp_path / "absent") == (None, "no checkpoint")
    (tmp_path / "empty").mkdir()
    assert _load(tmp_path / "empty") == (None, "no checkpoint")


def test_a_finished_training_discards_its_checkpoint(tmp_path):
    """The stage calls `discard` once its outputs are written: the folder goes as one rename (a kill while
    deleting leaves only a temp folder that `remove_stale_temps` sweeps), nothing else beside it is touched."""
    directory = _saved(tmp_path)
    (tmp_path / "other").mkdir()
    assert checkpoint.discard(directory) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other"]
    assert checkpoint.discard(directory) is False and _load(directory) == (None, "no checkpoint")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "other", target_is_directory=True)
    assert checkpoint.discard(link) is False and (tmp_path / "other").is_dir()    # a link is not a checkpoint


# --- through the training loop ------------------------------------------------------------------------

@pytest.mark.slow
def test_a_corrupt_checkpoint_restarts_training_to_the_uninterrupted_result(tmp_path):
    from dgcnn_ie.data import load_schema, read_dataset
    from dgcnn_ie.features import CharVocab, Encoder, NoWordVectors
    from dgcnn_ie.train import train_model
    synthetic = Path(__file__).resolve().parent.parent / "data" / "synthetic"
    cfg = tiny_config(model={"width": 8, "heads": 1, "max_len": 48, "min_char_count": 1, "use_word_vectors": False},
                      train={"epochs": 2, "batch_size": 16, "plateau_min_epoch": 1, "plateau_min_f1": 0.5})
    schema = load_schema(synthetic / "schema.json", "lic2019")
    train = read_dataset(synthetic / "train.json", schema)[0][:32]
    dev = read_dataset(synthetic / "dev.json", schema)[0][:8]
    directory = tmp_path / "checkpoint"

    def run():
        lines = []
        encoder = Encoder(CharVocab.build([s.text for s in train + dev], 1), NoWordVectors(0), schema, 48)
        result = train_model(train, dev, schema=schema, model_config=cfg.model, train_config=cfg.train, encoder=encoder,
                             seed=5, out_dir=tmp_path / "out", checkpoint_dir=directory, label="m", log=lines.append)
        outcome = {"history": [{k: v for k, v in row.items() if k != "seconds"} for row in result.history],
                   "best": result.best, "encoder": result.encoder_stats,
                   "weights": [w.tolist() for w in result.models.train.get_weights()]}
        return outcome, lines

    uninterrupted, _ = run()                          # leaves its epoch-2 checkpoint (the stage discards it)
    assert checkpoint.load(directory, json.loads((directory / "state.json").read_text())["fingerprint"])[0][
        "epoch"] == 2
    flip_data_byte(directory / "arrays.npz", "model/00000.npy")
    again, lines = run()
    assert again == uninterrupted
    aside = [line for line in lines if "set aside" in line]
    assert aside == [f"m: {directory / 'arrays.npz'}: unreadable (BadZipFile: Bad CRC-32 for file "
                     f"'model/00000.npy'); set aside as {tmp_path / 'checkpoint.unreadable-1'}, starting afresh"]
    assert not any("resuming" in line for line in lines) and (tmp_path / "checkpoint.unreadable-1").is_dir()
