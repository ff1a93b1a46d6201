"""Teaching tools: look inside the network while it learns.

* ``gradient_check``   is my backward right? (float64 central differences)
* ``trace_step``       one training step, layer by layer: shapes, cached values, gradients, FLOPs
* ``receptive_field``, ``receptive_field_of``, ``conv_cost``   what one output cell sees, and what it costs
* ``saliency_map``, ``confusion_matrix``   and, with matplotlib, the ``plot_*`` functions
* ``Sobel``, ``Prewitt``, ``Laplacian``, ``Gaussian``, ``Gabor``   hand-designed kernels as initializers
* ``fgsm``             adversarial examples
* ``freeze``, ``unfreeze``   transfer learning
"""
from .flops import layer_flops
from .gradient_check import GradientCheckReport, gradient_check
from .receptive_field import ReceptiveField, conv_cost, receptive_field, receptive_field_of
from .trace import StepTrace, trace_step

__all__ = ["GradientCheckReport", "ReceptiveField", "StepTrace", "conv_cost", "gradient_check", "layer_flops",
           "receptive_field", "receptive_field_of", "trace_step"]
