"""Face verification: insightface's 10-fold protocol, TAR@FAR, ROC, pair files, a callback.

Light to import: scikit-learn, SciPy, Pillow and Matplotlib (the `evaluation` and `plot`
extras) are imported by the functions that use them, not here.
"""

from keras_expface.evaluation.bin_files import UnsafePickleError, load_bin, write_bin
from keras_expface.evaluation.embeddings import (
    PREPROCESSING,
    compute_embeddings,
    embedding_model_from,
    evaluate_model,
)
from keras_expface.evaluation.pairs import (
    load_pairs,
    pairs_from_identity_folder,
    pairs_from_labels,
    read_lfw_pairs,
)
from keras_expface.evaluation.protocol import (
    ACCURACY_THRESHOLDS,
    DEFAULT_FAR_TARGETS,
    VAL_FAR_TARGET,
    VAL_THRESHOLDS,
    VerificationResult,
    slinear_interpolate,
    verification_metrics,
)
from keras_expface.evaluation.report import format_results_table, plot_roc
from keras_expface.evaluation.verification_callback import VerificationCallback
from keras_expface.evaluation.verification_pairs import VerificationPairs

__all__ = [
    "ACCURACY_THRESHOLDS",
    "DEFAULT_FAR_TARGETS",
    "PREPROCESSING",
    "VAL_FAR_TARGET",
    "VAL_THRESHOLDS",
    "UnsafePickleError",
    "VerificationCallback",
    "VerificationPairs",
    "VerificationResult",
    "compute_embeddings",
    "embedding_model_from",
    "evaluate_model",
    "format_results_table",
    "load_bin",
    "load_pairs",
    "pairs_from_identity_folder",
    "pairs_from_labels",
    "plot_roc",
    "read_lfw_pairs",
    "slinear_interpolate",
    "verification_metrics",
    "write_bin",
]
