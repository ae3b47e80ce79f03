"""DVC stage `train`: one model without prior features on the full training file.

Reads the prepared train and dev files and the word vectors `models/word2vec/`
(unless `model.use_word_vectors` is false). The char vocabulary is built from the train
and dev texts (`model.min_char_count`). Model selection decodes the dev file at
`train.selection_thresholds` (saved with the model). Writes:

- `models/single/`: the saved extractor (`load_extractor`);
- `reports/train/history.json` and `history.csv`: per-epoch loss, dev P/R/F1, lr, seconds;
- `reports/train/metrics.json` (DVC metrics): best dev P/R/F1, its epoch, epochs trained (rewritten
  after every epoch with `in_progress`, so `dvc exp show` follows a running training);
- `reports/train/run.json`: seconds, device, sample counts and the encoder's statistics (kept out of
  the metrics: they are not results, and a column each in `dvc exp show`);
- `checkpoints/single/`: the per-epoch checkpoint a killed run resumes from (removed once done; not a DVC output).
"""
from __future__ import annotations

from .. import checkpoint, layout
from ..assemble import make_extractor, model_encoder
from ..config import Config
from ..data import DataError, load_schema, read_samples
from ..decode import Thresholds
from ..metrics import write_metrics
from ..train import train_model
from ..utils import log

PARAMS = ("seed", "data.format", "data.normalize", "data.on_error", "segment.backend", "segment.cache",
          "model", "train", "decode.batch_size")


def run(config: Config) -> dict:
    """Train and save the single model; returns the metrics written."""
    data, model_config, decode_batch = config.data, config.model, config.decode.batch_size
    schema = load_schema(layout.PREPARED_SCHEMA, data.format)
    train = read_samples(layout.PREPARED_TRAIN, schema, data)
    dev = read_samples(layout.PREPARED_DEV, schema, data)
    unlabelled = [s.source for s in dev if not s.labelled]
    if unlabelled:
        raise DataError(f"{unlabelled[0]}: the dev file must be labelled ({len(unlabelled)} lines have no "
                        f'spo_list); set data.source.dev: "" to hold out data.dev_fraction of the training data')
    selection = Thresholds.from_config(config.train.selection_thresholds)
    with model_encoder(model_config, config.segment, schema, [s.text for s in train + dev]) as encoder:
        log(f"vocabulary: {len(encoder.vocab)} chars (min count {model_config.min_char_count}), "
            f"word vectors dim {encoder.word_vectors.dim}")
        result = train_model(train, dev, schema=schema, model_config=model_config, train_config=config.train,
                             thresholds=selection, decode_batch_size=decode_batch,
                             encoder=encoder, seed=config.seed, out_dir=layout.TRAIN_REPORT_DIR,
                             checkpoint_dir=layout.SINGLE_CHECKPOINT, label="single model 1/1",
                             on_epoch=lambda progress: write_metrics(layout.TRAIN_METRICS,
                                                                     {"in_progress": True, **progress}))
        extractor = make_extractor(result.models, encoder, schema, model_config, selection, uses_prior=False,
                                   segment=config.segment, normalize=data.normalize, batch_size=decode_batch)
        extractor.save(layout.SINGLE_MODEL_DIR)
    epochs = len(result.history)
    metrics = {"dev_precision": result.best.get("precision", 0.0), "dev_recall": result.best.get("recall", 0.0),
               "dev_f1": result.best.get("f1", 0.0), "best_epoch": result.best_epoch, "epochs": epochs}
    write_metrics(layout.TRAIN_RUN, {
        "train_seconds": result.seconds, "seconds_per_epoch": result.seconds / epochs, "device": result.device,
        "train_samples": len(train) - (len(result.dev_samples) if result.heldout else 0),
        "dev_samples": len(result.dev_samples), "dev_is_heldout_train_part": result.heldout,
        "encoder": dict(sorted(result.encoder_stats.items()))})
    write_metrics(layout.TRAIN_METRICS, metrics)
    checkpoint.discard(layout.SINGLE_CHECKPOINT)
    log(f"best dev F1 {metrics['dev_f1']:.4f} at epoch {result.best_epoch}/{epochs}; saved {layout.SINGLE_MODEL_DIR}")
    return metrics
