"""DVC stage `train`: one model without prior features on the full training file.

Reads `seed`, `data`, `segment`, `model`, `train` and `decode.batch_size` from
params.yaml and the word vectors `models/word2vec/vectors.kv` (unless
`model.use_word_vectors` is false). The char vocabulary is built from the train
and dev texts (`model.min_char_count`). Model selection decodes `data.dev` at
`train.selection_thresholds` (saved with the model); when `data.dev` is "" a
seeded 10% of the training file is held out instead. Writes:

- `models/single/`: the saved extractor (`load_extractor`);
- `reports/train/history.json` and `history.csv`: per-epoch loss, dev P/R/F1, lr, seconds;
- `reports/train/metrics.json`: best dev scores and epoch, epochs, train seconds, device.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..data import DataError, load_params, load_schema, read_samples
from ..decode import Thresholds
from ..extractor import Extractor
from ..features import CharVocab, Encoder, NoWordVectors, WordVectors
from ..metrics import write_metrics
from ..segment import segmenter_from_params
from ..train import train_model
from ..utils import log
from ..word2vec import VECTORS_FILE
from .word2vec import OUT_DIR as WORD2VEC_DIR

MODEL_DIR = "models/single"
REPORT_DIR = "reports/train"
WORD2VEC_PATH = f"{WORD2VEC_DIR}/{VECTORS_FILE}"


def main(params_path: str = "params.yaml") -> dict:
    """Run the stage with the parameters at ``params_path``; returns the metrics written."""
    params = load_params(params_path)
    data, cfg_model, cfg_train = params["data"], params["model"], params["train"]
    decode_batch = int(params["decode"]["batch_size"])
    seed = int(params["seed"])
    schema = load_schema(data["schema"], data["format"])
    train = read_samples(data["train"], schema, data)
    dev = read_samples(data["dev"], schema, data) if data.get("dev") else []
    unlabelled = [s.source for s in dev if not s.labelled]
    if unlabelled:
        raise DataError(f"{unlabelled[0]}: data.dev must be labelled ({len(unlabelled)} lines have no spo_list); "
                        f'set data.dev: "" to hold out 10% of the training data instead')
    vocab = CharVocab.build([s.text for s in train + dev], int(cfg_model["min_char_count"]))
    segmenter = None
    if cfg_model["use_word_vectors"]:
        segmenter = segmenter_from_params(params)
        words, w2v_path = WordVectors(WORD2VEC_PATH, segmenter), WORD2VEC_PATH
    else:
        words, w2v_path = NoWordVectors(0), None
    encoder = Encoder(vocab, words, schema, int(cfg_model["max_len"]))
    log(f"vocabulary: {len(vocab)} chars (min count {cfg_model['min_char_count']}), word vectors dim {words.dim}")
    try:
        result = train_model(train, dev, schema=schema, cfg_model=cfg_model, cfg_train=cfg_train,
                             thresholds=Thresholds.for_selection(cfg_train), decode_batch_size=decode_batch,
                             encoder=encoder, seed=seed, out_dir=REPORT_DIR)
    finally:
        if segmenter is not None:
            segmenter.close()
    extractor = Extractor(result.models, encoder, schema, cfg_model, Thresholds.for_selection(cfg_train),
                          word2vec_path=w2v_path, segmenter=(params.get("segment") or {}).get("backend", "jieba"),
                          normalize=data.get("normalize", "none"), batch_size=decode_batch)
    extractor.save(MODEL_DIR)
    epochs = len(result.history)
    metrics = {"dev_precision": result.best.get("precision", 0.0), "dev_recall": result.best.get("recall", 0.0),
               "dev_f1": result.best.get("f1", 0.0), "best_epoch": result.best_epoch, "epochs": epochs,
               "train_seconds": result.seconds, "seconds_per_epoch": result.seconds / epochs,
               "device": result.device, "train_samples": len(train) - (len(result.dev_samples) if result.heldout else 0),
               "dev_samples": len(result.dev_samples), "dev_is_heldout_train_part": result.heldout,
               "encoder": dict(sorted(encoder.stats.items()))}
    write_metrics(Path(REPORT_DIR) / "metrics.json", metrics)
    log(f"best dev F1 {metrics['dev_f1']:.4f} at epoch {result.best_epoch}/{epochs}; saved {MODEL_DIR}")
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default="params.yaml", help="parameters file (default params.yaml)")
    main(parser.parse_args().params)
