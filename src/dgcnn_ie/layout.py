"""Every artifact path of the pipeline, in one place (relative to the repository root).

Stages read and write only these; dvc.yaml spells the same paths (tests/test_dvc_contract.py
checks that every path dvc.yaml names is one of them). Parameters are knobs, not artifact
paths: the inputs a user chooses are `data.source.dir` (the data folder) and
`word2vec.extra_dir` (extra corpus texts), and `segment.cache` names a cache file that is
a pure speed-up, not a pipeline output.

The cross-validation runs: `cv_raw(f)`, fold f's model on the raw labels (label
cleaning's voters, no prior), and `cv(family, f)`, fold f's model of a family on the
cleaned labels; each has a model folder, a predictions folder, a metrics file and a
history folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# prepare: the validated copies of the source files every later stage reads
PREPARED_DIR = Path("data/prepared")
PREPARED_SCHEMA = PREPARED_DIR / "schema.json"
PREPARED_TRAIN = PREPARED_DIR / "train.json"
PREPARED_DEV = PREPARED_DIR / "dev.json"
PREPARED_TEST = PREPARED_DIR / "test.json"
PREPARED_TEST_TEXTS = PREPARED_DIR / "test_texts.txt"   # the test texts for word2vec (empty unless include_test)
READ_REPORT = Path("reports/data/read.json")

# folds
FOLDS = Path("data/folds.json")
TRAIN_READ_REPORT = Path("reports/data/train_read.json")

# word2vec
WORD2VEC_DIR = Path("models/word2vec")
VECTORS_FILE, WORDS_FILE = "vectors.npy", "words.json"   # float32 rows + the word of each row (word2vec.save_vectors)
OLD_VECTORS_FILE = "vectors.kv"              # gensim's pickled format of earlier versions: refused when loading
WORD2VEC_STATS = Path("reports/word2vec/stats.json")

# every training writes its per-epoch history into its history folder under these names
HISTORY_JSON, HISTORY_CSV = "history.json", "history.csv"

# per-epoch training checkpoints (a killed training resumes; scratch, not a DVC output): one folder per model
CHECKPOINTS = Path("checkpoints")
CV_RAW_CHECKPOINTS, CV_CHECKPOINTS = CHECKPOINTS / "cv_raw", CHECKPOINTS / "cv"

# train / evaluate: the single model
SINGLE_CHECKPOINT = CHECKPOINTS / "single"
SINGLE_MODEL_DIR = Path("models/single")
TRAIN_REPORT_DIR = Path("reports/train")
TRAIN_METRICS = TRAIN_REPORT_DIR / "metrics.json"       # DVC metrics: dev scores and epochs only
TRAIN_RUN = TRAIN_REPORT_DIR / "run.json"               # the rest: seconds, device, sample counts, encoder stats
TRAIN_HISTORY = TRAIN_REPORT_DIR / HISTORY_JSON
EVALUATE_METRICS = Path("reports/evaluate/metrics.json")
EVALUATE_PER_PREDICATE = Path("reports/evaluate/per_predicate.json")   # DVC plot data (one row per predicate)
SINGLE_TEST_PREDICTIONS = Path("predictions/test.json")

# clean
CLEANED_TRAIN = Path("data/cleaned/train.json")
CLEAN_REPORT = Path("reports/clean/report.json")       # every count, per predicate too
CLEAN_METRICS = Path("reports/clean/metrics.json")     # DVC metrics: the headline counts
CLEAN_SUMMARY = Path("reports/clean/summary.md")

# prior
PRIOR_DIR = Path("features/prior")
PRIOR_TRAIN_CANDIDATES = PRIOR_DIR / "train.json"      # one file per split (`prior.candidates_file`): a new
PRIOR_DEV_CANDIDATES = PRIOR_DIR / "dev.json"          # test file leaves the training candidates, and so the
PRIOR_TEST_CANDIDATES = PRIOR_DIR / "test.json"        # cv models, untouched
PRIOR_STATS = Path("reports/prior/stats.json")

# the CV runs (below), by folder
CV_RAW_MODELS, CV_MODELS = Path("models/cv_raw"), Path("models/cv")
CV_RAW_PREDICTIONS, CV_PREDICTIONS = Path("predictions/cv_raw"), Path("predictions/cv")
CV_RAW_REPORTS, CV_REPORTS = Path("reports/cv_raw"), Path("reports/cv")

# ensemble / submit
ENSEMBLE_DIR = Path("predictions/ensemble")
ENSEMBLE_DEV = ENSEMBLE_DIR / "dev.json"
ENSEMBLE_TEST = ENSEMBLE_DIR / "test.json"
ENSEMBLE_METRICS = Path("reports/ensemble/metrics.json")      # DVC metrics: dev P/R/F1 and out-of-fold F1
ENSEMBLE_SCORES = Path("reports/ensemble/scores.json")        # every count behind them, models and mode
ENSEMBLE_PER_PREDICATE = Path("reports/ensemble/per_predicate.json")   # DVC plot data: the submitted system on dev
SYSTEM_DIR = Path("system")          # the submitted system, self-contained (`dgcnn_ie.system`)
SUBMISSION_DIR = Path("submission")

# report
FIGURES_DIR = Path("reports/figures")
FIGURES_INDEX = Path("reports/figures.md")
ERRORS_MD = Path("reports/error_analysis.md")
ERRORS_JSON = Path("reports/error_analysis.json")
THRESHOLDS = Path("reports/thresholds.json")           # DVC metrics: the thresholds to decode at, F1 gain
THRESHOLD_SWEEP = Path("reports/threshold_sweep.json")  # every grid point's out-of-fold scores
FOLD_CURVES = Path("reports/fold_curves.json")          # DVC plot data: every fold model's dev F1 per epoch


# every folder stages write under: the runner sweeps them for temp files of killed runs
OUTPUT_ROOTS = (Path("data"), CHECKPOINTS, Path("models"), Path("predictions"), Path("reports"), Path("features"),
                SUBMISSION_DIR, SYSTEM_DIR)


def submission_path(fmt: str) -> Path:
    """The competition submission for data format ``fmt``."""
    return SUBMISSION_DIR / f"{fmt}_submission.json"


@dataclass(frozen=True)
class CVRun:
    """One cross-validation model: ``family`` None is the raw-label round (cv_raw)."""

    family: str | None
    fold: int

    @property
    def name(self) -> str:
        """``cv_raw`` or ``cv/<family>``: how logs and reports name the run's round and family."""
        return "cv_raw" if self.family is None else f"cv/{self.family}"

    def _under(self, root: Path, suffix: str = "") -> Path:
        base = root if self.family is None else root / self.family
        return base / f"fold{self.fold}{suffix}"

    @property
    def model_dir(self) -> Path:
        """The saved extractor folder."""
        return self._under(CV_RAW_MODELS if self.family is None else CV_MODELS)

    @property
    def predictions_dir(self) -> Path:
        """``oof.json`` (the held-out fold) and, for cv_raw, ``train.json`` (the whole training set)."""
        return self._under(CV_RAW_PREDICTIONS if self.family is None else CV_PREDICTIONS)

    @property
    def oof_predictions(self) -> Path:
        return self.predictions_dir / "oof.json"

    @property
    def train_predictions(self) -> Path:
        return self.predictions_dir / "train.json"

    @property
    def report_path(self) -> Path:
        """The run's metrics (held-out scores, best epoch)."""
        return self._under(CV_RAW_REPORTS if self.family is None else CV_REPORTS, ".json")

    @property
    def checkpoint_dir(self) -> Path:
        """The training's per-epoch checkpoint (`dgcnn_ie.checkpoint`)."""
        return self._under(CV_RAW_CHECKPOINTS if self.family is None else CV_CHECKPOINTS)

    @property
    def history_dir(self) -> Path:
        """`HISTORY_JSON` / `HISTORY_CSV` of the training."""
        return self._under(CV_RAW_REPORTS if self.family is None else CV_REPORTS)


def cv_raw(fold: int) -> CVRun:
    return CVRun(None, fold)


def cv(family: str, fold: int) -> CVRun:
    return CVRun(family, fold)
