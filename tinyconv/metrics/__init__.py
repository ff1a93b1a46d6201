"""Metrics, as Keras 3's ``keras.metrics``: per-sample functions and stateful metric objects.

    model.compile(..., metrics=["accuracy", tinyconv.metrics.AUC(name="auc")])

* ``functions.py``: one value per sample for one batch (``sparse_categorical_accuracy``, ``mse``...);
* ``base.py``: ``Metric`` (``update_state`` / ``result`` / ``reset_state``), ``Mean``, ``Sum``,
  ``MeanMetricWrapper``;
* ``accuracy_metrics.py``, ``regression.py``: means of a per-sample function (``CategoricalAccuracy``,
  ``MeanSquaredError``, ``RootMeanSquaredError``, the cross-entropies);
* ``confusion.py``: counts at thresholds (``TruePositives``...), ``Precision``, ``Recall``, ``AUC``;
* ``f_score.py``: ``F1Score``, ``FBetaScore``;
* ``resolve.py``: what ``compile(metrics=...)`` entries mean, and ``get`` / ``serialize`` / ``deserialize``.
"""
from .accuracy_metrics import (Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                       SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy)
from .base import Mean, MeanMetric, MeanMetricWrapper, Metric, Sum
from .confusion import AUC, FalseNegatives, FalsePositives, Precision, Recall, TrueNegatives, TruePositives
from .f_score import F1Score, FBetaScore
from .functions import (MAE, MAPE, MSE, accuracy, binary_accuracy, binary_crossentropy, categorical_accuracy,
                        categorical_crossentropy, mae, mape, mean_absolute_error, mean_absolute_percentage_error,
                        mean_squared_error, mse, sparse_categorical_accuracy, sparse_categorical_crossentropy,
                        sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from .regression import (BinaryCrossentropy, CategoricalCrossentropy, MeanAbsoluteError,
                         MeanAbsolutePercentageError, MeanSquaredError, RootMeanSquaredError,
                         SparseCategoricalCrossentropy)
from .resolve import _NAMED, _pick_accuracy, deserialize, get, metric_object, resolve, serialize  # noqa: F401
