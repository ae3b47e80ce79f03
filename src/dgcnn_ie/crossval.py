"""One cross-validation fold model, trained, saved and scored (method §7): the body of the cv_raw and
cv stages, which differ only in their labels, family and what they predict.

A fold model trains on the other folds of `data/folds.json` (`cv.epochs` epochs, the rest of
`train` as is), selects its best epoch on fold F at `train.selection_thresholds` (as are the
predictions below), and writes the `layout.CVRun` folders: the Extractor, the held-out fold's
predictions `oof.json` (cv_raw: also `train.json`, the whole training set, which label
cleaning votes with), its metrics and training history, and its per-epoch checkpoint (a killed
run resumes at the next epoch).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

from . import checkpoint, layout
from .assemble import make_extractor, model_encoder
from .config import Config, ModelConfig
from .data import DataError, Sample, load_schema, read_samples, write_predictions
from .decode import Thresholds
from .folds import load_folds
from .metrics import score, write_metrics
from .train import train_model
from .utils import log


def train_fold(config: Config, run: layout.CVRun, samples: Sequence[Sample], model_config: ModelConfig, *,
               candidates: list | None = None, kb_of=None, predict_training_set: bool = False,
               position: tuple[int, int] = (1, 1)) -> dict:
    """Train, save and score the fold model ``run`` on ``samples`` (the labels of its round, in the
    order of `data/folds.json`); returns the metrics written.

    ``candidates``: every sample's prior candidates from this fold's knowledge base, and
    ``kb_of(train_samples)`` that knowledge base (for augmented texts), for a prior-family model.
    ``position``: (k, N), this model's place among its stage's models, for the progress lines.
    """
    data, fold = config.data, run.fold
    schema = load_schema(layout.PREPARED_SCHEMA, data.format)
    train_config = dataclasses.replace(config.train, epochs=config.cv.epochs)
    selection, batch = Thresholds.from_config(train_config.selection_thresholds), config.decode.batch_size
    assignment = load_folds(layout.FOLDS, list(samples))
    if fold not in set(assignment):
        raise DataError(f"{layout.FOLDS}:1: there is no fold {fold} (folds 0..{max(assignment)}): "
                        f"check the --fold argument and cv.folds against folds.k")
    held_idx = [i for i, a in enumerate(assignment) if a == fold]
    train_idx = [i for i, a in enumerate(assignment) if a != fold]
    train, held = [samples[i] for i in train_idx], [samples[i] for i in held_idx]
    train_cands = held_cands = kb = None
    if candidates is not None:
        train_cands, held_cands = [candidates[i] for i in train_idx], [candidates[i] for i in held_idx]
        kb = kb_of(train)

    # the char vocabulary of the train stage: all training texts (this fold's held-out ones are its dev) + dev texts
    dev_texts = [s.text for s in read_samples(layout.PREPARED_DEV, schema, data)]
    vocab_texts = [s.text for s in samples] + dev_texts
    with model_encoder(model_config, config.segment, schema, vocab_texts, kb=kb) as encoder:
        log(f"{run.name} fold {fold}: {len(train)} training, {len(held)} held-out samples")
        result = train_model(train, held, schema=schema, model_config=model_config, train_config=train_config,
                             encoder=encoder, seed=config.seed, out_dir=run.history_dir, thresholds=selection,
                             decode_batch_size=batch, kb_candidates=train_cands, dev_candidates=held_cands,
                             checkpoint_dir=run.checkpoint_dir,
                             label=f"{run.name} fold {fold}, model {position[0]}/{position[1]}",
                             on_epoch=lambda progress: write_metrics(run.report_path, {"in_progress": True, **progress}))
        extractor = make_extractor(result.models, encoder, schema, model_config, selection,
                                   uses_prior=candidates is not None, segment=config.segment,
                                   normalize=data.normalize, batch_size=batch)
        extractor.save(run.model_dir)
        oof = extractor.predict(held, batch, candidates=held_cands, show_progress=False)
        write_predictions(run.oof_predictions, held, oof, schema)
        if predict_training_set:
            whole = [set() for _ in samples]
            for i, p in zip(held_idx, oof):
                whole[i] = p
            for i, p in zip(train_idx, extractor.predict(train, batch, show_progress=False)):
                whole[i] = p
            write_predictions(run.train_predictions, list(samples), whole, schema)

    scores = score([set(s.triples) for s in held], oof, schema.format)
    metrics = {"round": "raw" if run.family is None else "clean", "family": run.family, "fold": fold,
               "train_samples": len(train), "heldout_samples": len(held), "epochs": train_config.epochs,
               "best_epoch": result.best_epoch,
               "oof": {k: scores[k] for k in ("precision", "recall", "f1", "tp", "n_pred", "n_gold")},
               "seconds": round(result.seconds, 1), "device": result.device}
    write_metrics(run.report_path, metrics)
    checkpoint.discard(run.checkpoint_dir)
    log(f"{run.name} fold {fold}: held-out F1 {scores['f1']:.4f} (best epoch {result.best_epoch}) "
        f"-> {run.model_dir}")
    return metrics
