"""Stages `cv_raw` and `cv`: one cross-validation fold model (method §7).

    python -m dgcnn_ie.stages.cv --round raw --fold F                  # cv_raw@F: raw labels, plain
    python -m dgcnn_ie.stages.cv --round clean --family prior --fold F  # cv@prior-F: cleaned labels

Trains on the other folds of `data/folds.json` for `cv.epochs` epochs (the rest of
`train` as is), selects the best epoch on fold F (decoded at
`train.selection_thresholds`, as are the predictions below), and writes (paths in
`ensemble.py`) the Extractor folder, the held-out fold's predictions `oof.json`
(raw round: also `train.json`, the whole training set, for the clean stage's
votes), the metrics `fold<F>.json` and the training history. The prior family
gets its candidates from `features/prior/candidates.json` (the KB of the other
folds, self-excluded) and that KB for the candidates of augmented texts.
"""
from __future__ import annotations

import argparse
import contextlib

from ..data import load_folds, load_params, load_schema, read_samples, write_predictions
from ..decode import Thresholds
from ..ensemble import FAMILIES, ROUNDS, history_dir, model_dir, predictions_dir, report_path
from ..extractor import Extractor
from ..features import CharVocab, Encoder, NoWordVectors, WordVectors
from ..metrics import score, write_metrics
from ..prior import KnowledgeBase
from ..segment import segmenter_from_params
from ..train import train_model
from ..utils import log
from .clean import CLEANED_PATH
from .folds import FOLDS_PATH
from .prior import OUT_PATH as CANDIDATES_PATH
from .prior import load_candidates
from .train import WORD2VEC_PATH


def main(round_: str, family: str, fold: int, params_path: str = "params.yaml") -> dict:
    """Train, save and evaluate one fold model; returns the metrics written."""
    out_model = model_dir(round_, family, fold)   # also checks the round/family pair
    params = load_params(params_path)
    data, cfg_model, seed = params["data"], params["model"], int(params["seed"])
    cfg_train = {**params["train"], "epochs": int(params["cv"]["epochs"])}
    selection, batch = Thresholds.for_selection(cfg_train), int(params["decode"]["batch_size"])
    schema = load_schema(data["schema"], data["format"])
    train_path = data["train"] if round_ == "raw" else CLEANED_PATH
    samples = read_samples(train_path, schema, data)
    # the cleaned file is the raw one line for line: same samples, other sources
    assignment = load_folds(FOLDS_PATH, samples if round_ == "raw" else None)
    if fold not in set(assignment):
        raise ValueError(f"fold {fold} is not in {FOLDS_PATH} (folds 0..{max(assignment)}); check cv.folds and folds.k")
    held_idx = [i for i, a in enumerate(assignment) if a == fold]
    train_idx = [i for i, a in enumerate(assignment) if a != fold]
    train, held = [samples[i] for i in train_idx], [samples[i] for i in held_idx]

    kb = train_cands = held_cands = None
    if family == "prior":
        cands = load_candidates(CANDIDATES_PATH, "train", fold, samples=samples, schema=schema)
        train_cands, held_cands = [cands[i] for i in train_idx], [cands[i] for i in held_idx]
        kb = KnowledgeBase.build(train, schema)

    # the char vocabulary of the train stage: all training texts (this fold's held-out ones are its dev) + dev texts
    dev_texts = [s.text for s in read_samples(data["dev"], schema, data)] if data.get("dev") else []
    vocab = CharVocab.build([s.text for s in samples] + dev_texts, int(cfg_model["min_char_count"]))
    with contextlib.ExitStack() as stack:
        if cfg_model["use_word_vectors"]:
            words = WordVectors(WORD2VEC_PATH, stack.enter_context(segmenter_from_params(params)))
        else:
            words = NoWordVectors(0)
        encoder = Encoder(vocab, words, schema, int(cfg_model["max_len"]), prior=kb)
        log(f"{round_}/{family} fold {fold}: {len(train)} training, {len(held)} held-out samples")
        result = train_model(train, held, schema=schema, cfg_model=cfg_model, cfg_train=cfg_train,
                             encoder=encoder, seed=seed, out_dir=history_dir(round_, family, fold),
                             thresholds=selection, decode_batch_size=batch,
                             kb_candidates=train_cands, dev_candidates=held_cands)
        extractor = Extractor(result.models, encoder, schema, cfg_model, selection,
                              uses_prior=family == "prior",
                              word2vec_path=WORD2VEC_PATH if cfg_model["use_word_vectors"] else None,
                              segmenter=(params.get("segment") or {}).get("backend", "jieba"),
                              normalize=data["normalize"], batch_size=batch)
        extractor.save(out_model)
        oof = extractor.predict(held, batch, candidates=held_cands, show_progress=False)
        out = predictions_dir(round_, family, fold)
        write_predictions(out / "oof.json", held, oof, schema)
        if round_ == "raw":
            whole = [set() for _ in samples]
            for i, p in zip(held_idx, oof):
                whole[i] = p
            for i, p in zip(train_idx, extractor.predict(train, batch, show_progress=False)):
                whole[i] = p
            write_predictions(out / "train.json", samples, whole, schema)

    scores = score([set(s.triples) for s in held], oof, schema.format)
    metrics = {"round": round_, "family": family, "fold": fold, "train_samples": len(train),
               "heldout_samples": len(held), "epochs": cfg_train["epochs"], "best_epoch": result.best_epoch,
               "oof": {k: scores[k] for k in ("precision", "recall", "f1", "tp", "n_pred", "n_gold")},
               "seconds": round(result.seconds, 1), "device": result.device}
    write_metrics(report_path(round_, family, fold), metrics)
    log(f"{round_}/{family} fold {fold}: held-out F1 {scores['f1']:.4f} (best epoch {result.best_epoch}) "
        f"-> {out_model}")
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round", dest="round_", choices=ROUNDS, required=True,
                        help="raw: original labels (cv_raw); clean: data/cleaned/train.json (cv)")
    parser.add_argument("--family", choices=FAMILIES, default="plain", help="prior: with prior features")
    parser.add_argument("--fold", type=int, required=True, help="the held-out fold")
    parser.add_argument("--params", default="params.yaml", help="parameters file (default params.yaml)")
    args = parser.parse_args()
    main(args.round_, args.family, args.fold, args.params)
