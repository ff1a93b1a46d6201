"""Teaching tools: look inside the network while it learns.

* ``gradient_check``   is my backward right? (float64 central differences)
* ``trace_step``       one training step, layer by layer: shapes, cached values, gradients, FLOPs
* ``receptive_field``, ``receptive_field_of``, ``conv_cost``   what one output cell sees, and what it costs
* ``summary``          ``model.summary()`` with receptive-field and FLOP columns per layer
* ``saliency_map``, ``confusion_matrix``   and, with matplotlib (``pip install 'tinyconv[viz]'``),
  ``plot_filters``, ``plot_feature_maps``, ``plot_history``, ``plot_confusion_matrix``, ``plot_saliency``
* ``Sobel``, ``Prewitt``, ``Laplacian``, ``Gaussian``, ``Gabor``   hand-designed kernels as initializers
* ``tape_step``        the tape of a custom layer's step, op by op (forward values, backward gradients)
* ``fgsm``             adversarial examples
* ``freeze``, ``unfreeze``   transfer learning (see ``transfer.py`` for the recipe)
"""
from ..initializers.hand_designed import Gabor, Gaussian, Laplacian, Prewitt, Sobel
from .adversarial import fgsm
from .confusion import confusion_matrix
from .flops import layer_flops
from .gradient_check import GradientCheckReport, gradient_check
from .plots import (feature_maps, plot_confusion_matrix, plot_feature_maps, plot_filters, plot_history,
                    plot_saliency)
from .receptive_field import ReceptiveField, conv_cost, receptive_field, receptive_field_of
from .saliency import saliency_map
from .summary_columns import summary
from .tape import TapeReport, tape_step
from .trace import StepTrace, trace_step
from .transfer import freeze, unfreeze

__all__ = ["Gabor", "Gaussian", "GradientCheckReport", "Laplacian", "Prewitt", "ReceptiveField", "Sobel",
           "StepTrace", "TapeReport", "confusion_matrix", "conv_cost", "feature_maps", "fgsm", "freeze", "gradient_check",
           "layer_flops", "plot_confusion_matrix", "plot_feature_maps", "plot_filters", "plot_history",
           "plot_saliency", "receptive_field", "receptive_field_of", "saliency_map", "summary", "tape_step", "trace_step",
           "unfreeze"]
