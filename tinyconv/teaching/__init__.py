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
* ``check``, ``list_exercises``, ``exercise_signature``   exercises: write a kernel yourself, compare it
  with the reference (the labs in ``labs/`` use them)
* ``layer_cost``, ``model_cost``, ``matrix_vs_convolution``   FLOPs as MACs, 2 x MACs or muls + adds (say which)
* ``step_graph``       one training step as a graph: text, Graphviz (``to_dot``), matplotlib (``draw``)
* ``compare_kernels``  reference against compiled kernels: both timed, their results compared
* ``alexnet``, ``googlenet``, ``resnet``, ``vgg16``, ``unet``, ...   classic architectures, full size;
  ``mobilenet_cost``, ``inception_bottleneck_saving``   what the design choices cost
* ``top_activating_patches``, ``kmeans_filters``, ``accuracy_vs_training_size``   what filters respond to,
  filters learned without labels, and sample efficiency
"""
from ..initializers.hand_designed import Gabor, Gaussian, Laplacian, Prewitt, Sobel
from .adversarial import fgsm
from .architecture_costs import (CostComparison, bottleneck_block_cost, inception_bottleneck_saving, mobilenet_cost,
                                 multiply_adds, units_per_layer, weight_layer_depth)
from .architectures import (alexnet, basic_block, bottleneck_block, dense_block, googlenet, inception_module, lenet5,
                            resnet, small_googlenet, small_resnet, unet, vgg16, vgg19)
from .confusion import confusion_matrix
from .exercises import ExerciseResult, check, exercise_signature, list_exercises
from .flops import (CONVENTIONS, LayerCost, ModelCost, layer_cost, layer_flops, matrix_vs_convolution,
                    model_cost)
from .graph_picture import StepGraph, step_graph
from .kernel_timing import KernelComparison, compare_kernels
from .patches import TopPatches, kmeans_filters, top_activating_patches
from .gradient_check import GradientCheckReport, gradient_check
from .plots import (feature_maps, plot_confusion_matrix, plot_feature_maps, plot_filters, plot_history,
                    plot_saliency)
from .receptive_field import ReceptiveField, conv_cost, receptive_field, receptive_field_of
from .saliency import saliency_map
from .sample_efficiency import SampleEfficiency, accuracy_vs_training_size
from .summary_columns import summary
from .tape import TapeReport, tape_step
from .trace import StepTrace, trace_step
from .transfer import freeze, unfreeze

__all__ = ["CONVENTIONS", "CostComparison", "ExerciseResult", "Gabor", "Gaussian", "GradientCheckReport",
           "KernelComparison", "Laplacian", "LayerCost", "ModelCost", "Prewitt", "ReceptiveField",
           "SampleEfficiency", "Sobel", "StepGraph", "StepTrace", "TapeReport", "TopPatches",
           "accuracy_vs_training_size", "alexnet", "basic_block", "bottleneck_block", "bottleneck_block_cost",
           "check", "compare_kernels", "confusion_matrix", "conv_cost", "dense_block", "exercise_signature",
           "feature_maps", "fgsm", "freeze", "googlenet", "gradient_check", "inception_bottleneck_saving",
           "inception_module", "kmeans_filters", "layer_cost", "layer_flops", "lenet5", "list_exercises",
           "matrix_vs_convolution", "mobilenet_cost", "model_cost", "multiply_adds", "plot_confusion_matrix",
           "plot_feature_maps", "plot_filters", "plot_history", "plot_saliency", "receptive_field",
           "receptive_field_of", "resnet", "saliency_map", "small_googlenet", "small_resnet", "step_graph",
           "summary", "tape_step", "top_activating_patches", "trace_step", "unet", "unfreeze", "units_per_layer",
           "vgg16", "vgg19", "weight_layer_depth"]
