"""Exercises with a checker: write a kernel yourself, then let ``check`` compare it with the reference.

In the style of cs231n's assignments: you write a function with a fixed signature, and

    result = check("conv2d_forward", my_conv2d_forward)

runs it on fixed small inputs (the decks' own worked examples where there is one) and on random
ones (several shapes, with padding and strides), in float64, against the reference kernels in
``tinyconv/kernels/reference/``.  It prints the relative error of every output and gradient,
``max |e - g| / max(|e| + |g|, 1e-8)``, passes below 1e-7, and when an answer is wrong says which
entry (``dx[0, 2, 3, 1]: expected 0.25, got 0.5``) and the likely cause: a flipped or transposed
kernel, a missing padding, a gradient off by a constant factor, a max-pool gradient sent to the
wrong cell, a forgotten bias, a wrong shape (``tinyconv.teaching.exercise_diagnosis``).

The exercises and their signatures (NHWC arrays, Keras weight layouts; ``list_exercises()`` and
``exercise_signature(name)`` print them with every argument explained):

    conv2d_forward(x, kernel, bias, stride, padding) -> y
    conv2d_backward(dy, x, kernel, stride, padding) -> (dx, dkernel, dbias)
    max_pool2d_forward(x, pool_size, stride) -> y
    max_pool2d_backward(dy, x, pool_size, stride) -> dx
    batch_norm_forward(x, gamma, beta, epsilon) -> y
    batch_norm_backward(dy, x, gamma, epsilon) -> (dx, dgamma, dbeta)
    training_step(weights, x, y, learning_rate) -> (loss, new_weights)
"""
import traceback

import numpy as np

from .. import layers, losses, optimizers
from ..kernels.reference import conv as reference_conv
from ..kernels.reference import normalization as reference_norm
from ..kernels.reference import pooling as reference_pooling
from ..layers import Input
from ..models import Sequential
from .exercise_diagnosis import DIAGNOSES, WEIGHT_NAMES, explain, relative_error, symmetric_pads

__all__ = ["ExerciseResult", "check", "exercise_signature", "list_exercises"]

THRESHOLD = 1e-7  # cs231n's bar; float64 answers agree with the reference to ~1e-14


# --------------------------------------------------------------------------------------------
# Cases and exercises
# --------------------------------------------------------------------------------------------
class Case:
    """One call of the student's function: a label and the arguments, in signature order."""

    def __init__(self, label, **inputs):
        self.label = label
        self.inputs = inputs


class Exercise:
    """What the student writes (signature and documentation) and what is right (cases and answer).

    ``cases(rng)`` lists the cases (fixed ones first); ``answer(**inputs)`` returns the right
    outputs as a dict, computed by the reference kernels; ``unpack(returned)`` turns what the
    student's function returned into the same dict (or raises ``BadReturn``).
    """

    def __init__(self, name, signature, doc, outputs, cases, answer, reference, may_modify=()):
        self.name = name
        self.signature = signature
        self.doc = doc
        self.outputs = outputs
        self.cases = cases
        self.answer = answer
        self.reference = reference
        self.may_modify = may_modify

    def unpack(self, returned):
        """The student's return value as {output name: NumPy array}, or BadReturn saying what is wrong."""
        if returned is None:
            raise BadReturn(f"{self.name} returned None: did you forget the `return` statement?")
        if len(self.outputs) == 1:
            if isinstance(returned, (tuple, list)):
                raise BadReturn(f"{self.name} returned {describe(returned)}; return {self.outputs[0]} alone, one "
                                f"array (no cache)")
            values = [returned]
        else:
            if not isinstance(returned, (tuple, list)) or len(returned) != len(self.outputs):
                raise BadReturn(f"{self.name} returned {describe(returned)}; expected a tuple of "
                                f"{len(self.outputs)} arrays ({', '.join(self.outputs)})")
            values = returned
        return {name: as_array(self.name, name, value) for name, value in zip(self.outputs, values)}


class TrainingStepExercise(Exercise):
    """The training step returns ``(loss, [w1, b1, w2, b2])``: one number and a list of weights."""

    def unpack(self, returned):
        if returned is None:
            raise BadReturn(f"{self.name} returned None: did you forget the `return` statement?")
        if not isinstance(returned, (tuple, list)) or len(returned) != 2:
            raise BadReturn(f"{self.name} returned {describe(returned)}; expected (loss, new_weights)")
        loss, new_weights = returned
        if not isinstance(new_weights, (tuple, list)) or len(new_weights) != len(WEIGHT_NAMES):
            raise BadReturn(f"{self.name}: new_weights is {describe(new_weights)}; expected a list of 4 arrays "
                            f"[w1, b1, w2, b2] (the order of get_weights())")
        outputs = {"loss": as_array(self.name, "loss", loss)}
        outputs.update({name: as_array(self.name, name, value) for name, value in zip(WEIGHT_NAMES, new_weights)})
        return outputs


class BadReturn(Exception):
    """The student's function returned something that is not the answer's structure."""


def describe(value):
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"


def as_array(exercise, name, value):
    if value is None:
        raise BadReturn(f"{exercise}: {name} is None; return it as a NumPy array")
    try:
        array = np.asarray(value)
    except Exception:  # a ragged list, say: NumPy refuses it
        raise BadReturn(f"{exercise}: {name} is {describe(value)}, not an array of numbers") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise BadReturn(f"{exercise}: {name} is {describe(value)}, not an array of numbers")
    return array


# --------------------------------------------------------------------------------------------
# The decks' worked examples (the fixed cases)
# --------------------------------------------------------------------------------------------
# Deep Learning 1, lecture 8, "Numerical Example": a 5x5 input and a 3x3 weight give
# [[12, 12, 17], [10, 17, 19], [9, 6, 14]].
DECK_5X5_INPUT = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]],
                          dtype=np.float64)
DECK_3X3_WEIGHT = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], dtype=np.float64)
# CIS 4190/5190 lecture 16, "Stride": a 4x4 input padded by one, the 2x2 filter [[1, 0], [0, 0.5]];
# stride 2 gives [[0.5, 0.25, 0], [0, 0.75, 0], [0, 0.5, 1]].
DECK_STRIDE_INPUT = np.array([[1, 0, 0.5, 0.5], [0, 0.5, 1, 0], [0, 1, 0.5, 1], [1, 0.5, 0.5, 1]])
DECK_STRIDE_FILTER = np.array([[1, 0], [0, 0.5]])
# COSC2779, "2D Pooling": the 7x7 matrix, 2x2 max pooling with stride 2 (first row 6 8 2).
DECK_7X7 = np.array([[1, 6, 2, 8, 1, 2, 7], [1, 6, 2, 8, 1, 2, 5], [0, 5, 8, 1, 5, 7, 1], [1, 7, 1, 3, 5, 8, 0],
                     [5, 2, 4, 4, 5, 8, 4], [8, 2, 3, 7, 3, 8, 2], [1, 2, 3, 6, 5, 9, 6]], dtype=np.float64)


def image(matrix):
    """A 2-D matrix as a batch of one single-channel NHWC image."""
    return np.asarray(matrix, dtype=np.float64)[None, :, :, None]


def kernel_of(matrix):
    """A 2-D matrix as a (KH, KW, 1, 1) kernel."""
    return np.asarray(matrix, dtype=np.float64)[:, :, None, None]


# --------------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------------
CONV_DOC = """\
    x:        (N, H, W, C) float64, the input images (channels last).
    kernel:   (KH, KW, C, F) float64, Keras's Conv2D kernel layout: kernel[p, q, c, f] multiplies
              input channel c at kernel row p, column q, for filter f.
    bias:     (F,) float64, one per filter.
    stride:   (sh, sw) ints, how far the window moves down and across.
    padding:  (ph, pw) ints, zeros added above AND below (ph rows) and left AND right (pw columns).
    y:        (N, OH, OW, F) with OH = (H + 2*ph - KH) // sh + 1, OW = (W + 2*pw - KW) // sw + 1:
              y[n, i, j, f] = bias[f] + sum over p, q, c of x_pad[n, i*sh + p, j*sw + q, c] * kernel[p, q, c, f]
              (a cross-correlation: no flip)."""

CONV_BACKWARD_DOC = """\
    dy:       (N, OH, OW, F) float64, dL/dy, the upstream gradient.
    x, kernel, stride, padding: as in conv2d_forward.
    dx:       (N, H, W, C), dL/dx: every output cell sends kernel[p, q, c, f] * dy[n, i, j, f] back to the
              input cell it read, x_pad[n, i*sh + p, j*sw + q, c]; overlapping windows add up; the padding is
              cut off at the end.
    dkernel:  (KH, KW, C, F), dL/dkernel[p, q, c, f] = sum over n, i, j of x_pad[n, i*sh + p, j*sw + q, c] *
              dy[n, i, j, f].
    dbias:    (F,), dL/dbias[f] = sum over n, i, j of dy[n, i, j, f]."""

# (x shape, kernel height and width, filters, stride, padding): square and non-square kernels,
# strides unequal across the axes, padding on one axis only, a 1x1 kernel, a kernel as big as the image.
CONV_GEOMETRIES = [
    ((2, 5, 5, 3), (3, 3), 4, (1, 1), (1, 1)),
    ((2, 7, 6, 2), (3, 2), 3, (2, 1), (1, 0)),
    ((1, 6, 7, 3), (1, 1), 2, (1, 2), (0, 0)),
    ((3, 4, 4, 2), (4, 4), 2, (1, 1), (0, 0)),
    ((1, 7, 7, 2), (3, 3), 3, (2, 2), (2, 1)),
]


def geometry_label(**shapes):
    return "random: " + ", ".join(f"{name} {value}" for name, value in shapes.items())


def conv_cases(rng, backward):
    x = image(DECK_5X5_INPUT)
    stride_x = image(DECK_STRIDE_INPUT)
    fixed = [
        Case("the 5x5 numerical example (Deep Learning 1, lecture 8)", x=x, kernel=kernel_of(DECK_3X3_WEIGHT),
             bias=np.zeros(1), stride=(1, 1), padding=(0, 0)),
        Case("the stride-2 example, padding 1 (CIS 5190, lecture 16)", x=stride_x,
             kernel=kernel_of(DECK_STRIDE_FILTER), bias=np.zeros(1), stride=(2, 2), padding=(1, 1)),
    ]
    random = []
    for x_shape, (kh, kw), filters, stride, padding in CONV_GEOMETRIES:
        kernel_shape = (kh, kw, x_shape[3], filters)
        random.append(Case(geometry_label(x=x_shape, kernel=kernel_shape, stride=stride, padding=padding),
                           x=rng.standard_normal(x_shape), kernel=rng.standard_normal(kernel_shape),
                           bias=rng.standard_normal(filters), stride=stride, padding=padding))
    cases = fixed + random
    if backward:
        for case in cases:
            y = conv_forward_answer(**case.inputs)["y"]
            if case is fixed[0]:
                upstream = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0], [2.0, 0.0, 1.0]])[None, :, :, None]
            else:
                upstream = rng.standard_normal(y.shape)
            inputs = case.inputs
            case.inputs = {"dy": upstream, "x": inputs["x"], "kernel": inputs["kernel"], "stride": inputs["stride"],
                           "padding": inputs["padding"]}
    return cases


def conv_forward_answer(x, kernel, bias, stride, padding):
    return {"y": reference_conv.conv2d_forward(x, kernel, bias, stride, symmetric_pads(padding), (1, 1), 1)}


def conv_backward_answer(dy, x, kernel, stride, padding):
    dx, dkernel, dbias = reference_conv.conv2d_backward(dy, x, kernel, stride, symmetric_pads(padding), (1, 1), 1)
    return {"dx": dx, "dkernel": dkernel, "dbias": dbias}


# --------------------------------------------------------------------------------------------
# Max pooling
# --------------------------------------------------------------------------------------------
POOL_DOC = """\
    x:          (N, H, W, C) float64.
    pool_size:  (PH, PW) ints, the window.
    stride:     (sh, sw) ints; no padding (Keras's padding="valid": a window that would run off the edge
                is dropped).
    y:          (N, OH, OW, C), OH = (H - PH) // sh + 1, OW = (W - PW) // sw + 1:
                y[n, i, j, c] = max of x[n, i*sh : i*sh + PH, j*sw : j*sw + PW, c]."""

POOL_BACKWARD_DOC = """\
    dy:         (N, OH, OW, C) float64, dL/dy.
    x, pool_size, stride: as in max_pool2d_forward (find each window's max again from x).
    dx:         (N, H, W, C): each dy[n, i, j, c] goes to the one cell of its window that held the max (the
                others get nothing); a cell that is the max of several overlapping windows gets their sum.
                The inputs have no ties."""

# (x shape, pool, stride): non-overlapping, overlapping 3x3 / 2 (AlexNet's), a non-square pool, one window.
POOL_GEOMETRIES = [
    ((2, 6, 6, 3), (2, 2), (2, 2)),
    ((1, 7, 5, 2), (3, 3), (2, 2)),
    ((2, 5, 7, 1), (2, 3), (1, 2)),
    ((1, 4, 4, 2), (4, 4), (4, 4)),
]


def tie_free(rng, shape):
    """Distinct values, shuffled: with no ties the max of every window is one clear cell."""
    return rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64) / np.prod(shape) + 0.1


# Sixteen different numbers: each 2x2 window's max (6, 8, 12, 15) is one clear cell.
NO_TIES_4X4 = np.array([[1, 6, 2, 8], [3, 5, 7, 4], [0, 9, 10, 13], [12, 11, 14, 15]], dtype=np.float64)
# A peak: its centre (9) is the max of all four overlapping 3x3 windows (stride 2), so its
# gradient is the sum of four.
PEAK_5X5 = np.array([[1, 2, 3, 4, 0.5], [8, 7, 6, 5, 1.5], [2.5, 3.5, 9, 4.5, 5.5], [6.5, 0.25, 7.5, 0.75, 1.25],
                     [2.25, 3.25, 4.25, 5.25, 6.25]])


def pool_cases(rng, backward):
    if backward:
        fixed = [Case("a 4x4 image without ties, 2x2 pool, stride 2", x=image(NO_TIES_4X4), pool_size=(2, 2),
                      stride=(2, 2)),
                 Case("a 5x5 peak that wins four overlapping 3x3 windows, stride 2", x=image(PEAK_5X5),
                      pool_size=(3, 3), stride=(2, 2))]
    else:
        fixed = [Case("the 7x7 matrix, 2x2 pool, stride 2 (COSC2779, 2D Pooling)", x=image(DECK_7X7),
                      pool_size=(2, 2), stride=(2, 2))]
    random = [Case(geometry_label(x=shape, pool_size=pool, stride=stride), x=tie_free(rng, shape),
                   pool_size=pool, stride=stride) for shape, pool, stride in POOL_GEOMETRIES]
    cases = fixed + random
    if backward:
        for case in cases:
            y = max_pool_forward_answer(**case.inputs)["y"]
            case.inputs = {"dy": rng.standard_normal(y.shape), **case.inputs}
    return cases


def max_pool_forward_answer(x, pool_size, stride):
    y, _ = reference_pooling.max_pool2d_forward(x, pool_size, stride, ((0, 0), (0, 0)))
    return {"y": y}


def max_pool_backward_answer(dy, x, pool_size, stride):
    _, argmax = reference_pooling.max_pool2d_forward(x, pool_size, stride, ((0, 0), (0, 0)))
    return {"dx": reference_pooling.max_pool2d_backward(dy, argmax, x.shape)}


# --------------------------------------------------------------------------------------------
# Batch normalisation
# --------------------------------------------------------------------------------------------
BATCH_NORM_DOC = """\
    x:        (..., C) float64: (N, C) after a Dense layer, (N, H, W, C) after a Conv2D.
    gamma:    (C,) float64, the learnt scale;  beta: (C,), the learnt shift.
    epsilon:  float, added to the variance under the square root.
    y:        x's shape; training mode, statistics per channel over every other axis (M values each):
              mean = sum x / M,  var = sum (x - mean)^2 / M (biased, as Keras),
              xhat = (x - mean) / sqrt(var + epsilon),  y = gamma * xhat + beta."""

BATCH_NORM_BACKWARD_DOC = """\
    dy:       x's shape, float64, dL/dy.
    x, gamma, epsilon: as in batch_norm_forward (recompute mean, var and xhat from x).
    dx:       x's shape; the mean and the variance depend on every x too:
              dx = gamma / sqrt(var + epsilon) / M * (M * dy - sum dy - xhat * sum(dy * xhat)), sums per channel.
    dgamma:   (C,), sum of dy * xhat over every axis but the last.
    dbeta:    (C,), sum of dy over every axis but the last."""

# (x shape, per-channel scale): a Dense-style batch, images, and a channel whose tiny variance
# makes epsilon matter.
BATCH_NORM_GEOMETRIES = [((8, 3), (1.0, 3.0, 0.5)), ((2, 3, 4, 5), (1.0,) * 5), ((16, 2), (0.01, 2.0))]


def batch_norm_cases(rng, backward):
    fixed = Case("a batch of 4 samples, 2 channels", x=np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0], [7.0, 30.0]]),
                 gamma=np.array([1.0, 2.0]), beta=np.array([0.0, 1.0]), epsilon=1e-5)
    cases = [fixed]
    for shape, scale in BATCH_NORM_GEOMETRIES:
        channels = shape[-1]
        cases.append(Case(geometry_label(x=shape), x=rng.standard_normal(shape) * np.array(scale) + 3.0,
                          gamma=rng.uniform(0.5, 2.0, channels), beta=rng.standard_normal(channels), epsilon=1e-5))
    if backward:
        for case in cases:
            inputs = case.inputs
            case.inputs = {"dy": rng.standard_normal(inputs["x"].shape), "x": inputs["x"], "gamma": inputs["gamma"],
                           "epsilon": inputs["epsilon"]}
    return cases


def batch_norm_forward_answer(x, gamma, beta, epsilon):
    y, _, _, _ = reference_norm.batch_norm_forward_train(x, gamma, beta, epsilon)
    return {"y": y}


def batch_norm_backward_answer(dy, x, gamma, epsilon):
    _, mean, _, inv_std = reference_norm.batch_norm_forward_train(x, gamma, np.zeros_like(gamma), epsilon)
    dx, dgamma, dbeta = reference_norm.batch_norm_backward(dy, x, gamma, mean, inv_std)
    return {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}


# --------------------------------------------------------------------------------------------
# A training step
# --------------------------------------------------------------------------------------------
TRAINING_STEP_DOC = """\
    The model: Dense(H, activation="relu") -> Dense(K, activation="softmax"), loss: categorical
    cross-entropy averaged over the batch, optimizer: plain SGD.
    weights:        [w1 (D, H), b1 (H,), w2 (H, K), b2 (K,)], the order of model.get_weights().
    x:              (N, D) float64;  y: (N, K) one-hot labels.
    learning_rate:  float.
    loss:           the batch's mean cross-entropy before the step, -mean over n of sum_k y[n, k] * log p[n, k].
    new_weights:    [w - learning_rate * dL/dw for each weight], same order and shapes (updating in place
                    and returning the same arrays is fine)."""

# (N, D, H, K, learning rate)
TRAINING_GEOMETRIES = [(4, 3, 5, 3, 0.1), (8, 6, 4, 4, 0.5), (16, 10, 8, 5, 0.05)]


def training_step_cases(rng):
    # Small enough to follow by hand: 2 samples, 2 features, 2 hidden units (the first is off for
    # the second sample), 2 classes.
    weights = [np.array([[0.5, -1.0], [0.25, 0.5]]), np.array([0.0, 0.1]), np.array([[1.0, -1.0], [0.5, 2.0]]),
               np.array([0.0, 0.0])]
    cases = [Case("2 samples, 2 features, 2 hidden units, 2 classes", weights=weights,
                  x=np.array([[1.0, 2.0], [-1.0, 0.5]]), y=np.array([[1.0, 0.0], [0.0, 1.0]]), learning_rate=0.1)]
    for n, d, h, k, rate in TRAINING_GEOMETRIES:
        weights = [rng.standard_normal((d, h)) * 0.8, rng.standard_normal(h) * 0.3,
                   rng.standard_normal((h, k)) * 0.8, rng.standard_normal(k) * 0.3]
        labels = np.eye(k)[rng.integers(0, k, n)]
        cases.append(Case(geometry_label(x=(n, d), hidden=h, classes=k, learning_rate=rate), weights=weights,
                          x=rng.standard_normal((n, d)), y=labels, learning_rate=rate))
    return cases


def training_step_answer(weights, x, y, learning_rate):
    """The same step through tinyconv's public API: Sequential, Dense, SGD and train_on_batch."""
    hidden, classes = weights[0].shape[1], weights[2].shape[1]
    model = Sequential([Input((x.shape[1],), dtype="float64"),
                        layers.Dense(hidden, activation="relu", kernel_initializer="zeros", dtype="float64",
                                     name="hidden"),
                        layers.Dense(classes, activation="softmax", kernel_initializer="zeros", dtype="float64",
                                     name="output")], name="training_step")
    model.set_weights([np.array(w) for w in weights])
    model.compile(optimizer=optimizers.SGD(learning_rate=learning_rate), loss=losses.CategoricalCrossentropy())
    loss = model.train_on_batch(x, y)
    return {"loss": np.asarray(loss, dtype=np.float64), **dict(zip(WEIGHT_NAMES, model.get_weights()))}


# --------------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------------
EXERCISES = {exercise.name: exercise for exercise in [
    Exercise("conv2d_forward", "conv2d_forward(x, kernel, bias, stride, padding) -> y", CONV_DOC, ("y",),
             lambda rng: conv_cases(rng, backward=False), conv_forward_answer, "tinyconv/kernels/reference/conv.py"),
    Exercise("conv2d_backward", "conv2d_backward(dy, x, kernel, stride, padding) -> (dx, dkernel, dbias)",
             CONV_BACKWARD_DOC, ("dx", "dkernel", "dbias"), lambda rng: conv_cases(rng, backward=True),
             conv_backward_answer, "tinyconv/kernels/reference/conv.py"),
    Exercise("max_pool2d_forward", "max_pool2d_forward(x, pool_size, stride) -> y", POOL_DOC, ("y",),
             lambda rng: pool_cases(rng, backward=False), max_pool_forward_answer,
             "tinyconv/kernels/reference/pooling.py"),
    Exercise("max_pool2d_backward", "max_pool2d_backward(dy, x, pool_size, stride) -> dx", POOL_BACKWARD_DOC,
             ("dx",), lambda rng: pool_cases(rng, backward=True), max_pool_backward_answer,
             "tinyconv/kernels/reference/pooling.py"),
    Exercise("batch_norm_forward", "batch_norm_forward(x, gamma, beta, epsilon) -> y", BATCH_NORM_DOC, ("y",),
             lambda rng: batch_norm_cases(rng, backward=False), batch_norm_forward_answer,
             "tinyconv/kernels/reference/normalization.py"),
    Exercise("batch_norm_backward", "batch_norm_backward(dy, x, gamma, epsilon) -> (dx, dgamma, dbeta)",
             BATCH_NORM_BACKWARD_DOC, ("dx", "dgamma", "dbeta"), lambda rng: batch_norm_cases(rng, backward=True),
             batch_norm_backward_answer, "tinyconv/kernels/reference/normalization.py"),
    TrainingStepExercise("training_step", "training_step(weights, x, y, learning_rate) -> (loss, new_weights)",
                         TRAINING_STEP_DOC, ("loss",) + WEIGHT_NAMES, training_step_cases, training_step_answer,
                         "tinyconv/teaching/exercise_diagnosis.py (dense_relu_softmax_step)",
                         may_modify=("weights",)),
]}


def exercise(name):
    if name not in EXERCISES:
        raise ValueError(f"check: unknown exercise {name!r}; the exercises are {', '.join(EXERCISES)}")
    return EXERCISES[name]


def list_exercises():
    """The names of the exercises ``check`` knows, in the course's order.

    Returns:
        A list of str.

    Example:

    >>> list_exercises()[:2]
    ['conv2d_forward', 'conv2d_backward']
    """
    return list(EXERCISES)


def exercise_signature(name):
    """The signature of the function an exercise asks for, with every argument explained.

    Args:
        name: an exercise name from ``list_exercises()``.

    Returns:
        A str: the signature line, then one line per argument and output (shapes and layouts).

    Raises:
        ValueError: for an unknown name.

    Example:

    >>> print(exercise_signature("max_pool2d_forward").splitlines()[0])
    max_pool2d_forward(x, pool_size, stride) -> y
    """
    spec = exercise(name)
    return f"{spec.signature}\n{spec.doc}\n    reference: {spec.reference}"


# --------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------
class CaseReport:
    """One case: its label, the relative error of each output, and what went wrong (or None)."""

    def __init__(self, label, errors, problem=None, details=()):
        self.label = label
        self.errors = errors
        self.problem = problem
        self.details = list(details)
        self.not_written = False  # the function raised NotImplementedError: the exercise is still open

    @property
    def passed(self):
        return self.problem is None and all(error <= THRESHOLD for error in self.errors.values())


class ExerciseResult:
    """What ``check`` found: ``passed``, the worst relative error of each output, and the message.

    ``errors`` maps each output (``"y"``, ``"dx"``, ``"dkernel"``...) to its largest relative error
    over all cases (inf when an output was missing or had the wrong shape).  ``message`` is the
    summary ``check`` prints; on failure it names the first failing case, its first wrong entry
    and the likely cause.  ``cases`` holds one ``CaseReport`` per case.  A result is truthy when
    it passed.

    Args:
        name: the exercise's name.
        passed: True when every output agreed with the reference.
        errors: {output name: largest relative error}.
        message: the summary text.
        cases: one ``CaseReport`` per case.

    Example:

    >>> result = check("batch_norm_forward", lambda x, gamma, beta, epsilon: x, verbose=False)
    >>> result.passed, sorted(result.errors)
    (False, ['y'])
    """

    def __init__(self, name, passed, errors, message, cases):
        self.name = name
        self.passed = passed
        self.errors = errors
        self.message = message
        self.cases = cases

    def __bool__(self):
        return self.passed

    def __str__(self):
        return self.message

    def __repr__(self):
        worst = ", ".join(f"{name}={error:.1e}" for name, error in self.errors.items())
        return f"ExerciseResult({self.name!r}, passed={self.passed}, errors: {worst})"


# --------------------------------------------------------------------------------------------
# The checker
# --------------------------------------------------------------------------------------------
def check(name, student_fn, *, seed=0, verbose=True):
    """Run a student's function on an exercise's cases and compare it with the reference kernels.

    The exercises (NHWC arrays, Keras weight layouts, float64; ``exercise_signature(name)`` explains
    every argument):

        conv2d_forward(x, kernel, bias, stride, padding) -> y
        conv2d_backward(dy, x, kernel, stride, padding) -> (dx, dkernel, dbias)
        max_pool2d_forward(x, pool_size, stride) -> y
        max_pool2d_backward(dy, x, pool_size, stride) -> dx
        batch_norm_forward(x, gamma, beta, epsilon) -> y
        batch_norm_backward(dy, x, gamma, epsilon) -> (dx, dgamma, dbeta)
        training_step(weights, x, y, learning_rate) -> (loss, new_weights)

    Each case calls ``student_fn`` with fresh copies of its inputs.  An output passes when its
    relative error ``max |e - g| / max(|e| + |g|, 1e-8)`` is at most 1e-7.  A function that
    raises, returns the wrong structure or changes its inputs in place fails that case with a
    message saying so; ``check`` itself does not raise for anything the student's function does.

    Args:
        name: the exercise, one of ``list_exercises()``.
        student_fn: the function to check, with the exercise's signature.
        seed: seed of the random cases (the fixed cases never change).
        verbose: print one line per case and the summary.

    Returns:
        An ``ExerciseResult`` with ``passed``, ``errors`` (worst relative error per output) and
        ``message``.

    Raises:
        ValueError: for an unknown exercise name.
        TypeError: when ``student_fn`` is not callable.

    Example:

    >>> from tinyconv.kernels.reference.pooling import max_pool2d_forward
    >>> result = check("max_pool2d_forward",
    ...                lambda x, pool, stride: max_pool2d_forward(x, pool, stride, ((0, 0), (0, 0)))[0],
    ...                verbose=False)
    >>> result.passed
    True
    """
    spec = exercise(name)
    if not callable(student_fn):
        raise TypeError(f"check: expected the function to check (e.g. check({name!r}, my_{name})), "
                        f"got {describe(student_fn)}")
    cases = spec.cases(np.random.default_rng(seed))
    reports = []
    for case in cases:
        reports.append(run_case(spec, student_fn, case))
        if reports[-1].not_written:
            break  # the other cases would only say the same
    errors = {output: max(report.errors.get(output, np.inf) for report in reports) for output in spec.outputs}
    passed = len(reports) == len(cases) and all(report.passed for report in reports)
    message = summary(spec, reports, errors, len(cases))
    if verbose:
        print_reports(spec, reports)
        print(message)
    return ExerciseResult(name, passed, errors, message, reports)


def run_case(spec, student_fn, case):
    expected = spec.answer(**{key: copy_of(value) for key, value in case.inputs.items()})
    given = {key: copy_of(value) for key, value in case.inputs.items()}
    try:
        returned = student_fn(*given.values())
    except Exception as error:  # the student's code: any failure becomes a message
        report = CaseReport(case.label, {}, raised(spec.name, error))
        report.not_written = isinstance(error, NotImplementedError)
        return report
    try:
        got = spec.unpack(returned)
    except BadReturn as error:
        return CaseReport(case.label, {}, str(error))
    errors = {output: (relative_error(value, got[output]) if got[output].shape == value.shape else np.inf)
              for output, value in expected.items()}
    report = CaseReport(case.label, errors)
    changed = [key for key, value in case.inputs.items()
               if key not in spec.may_modify and not same_value(value, given[key])]
    if changed:
        report.problem = (f"{spec.name} changed its input {changed[0]} in place ({changed[0]} -= ..., or "
                          f"{changed[0]}[...] = ...): work on a copy; a layer keeps its input for the backward pass")
    if not report.passed:
        # Diagnose with the original inputs: the student's copies may have been changed in place.
        originals = {key: copy_of(value) for key, value in case.inputs.items()}
        entries, hints = explain(DIAGNOSES[spec.name], originals, expected, got, THRESHOLD)
        report.details = entries + [f"Likely cause: {hint}" for hint in hints]
        if not hints and report.problem is None:
            report.details.append(f"No common mistake matches: compare your code line by line with the formula in "
                                  f"{spec.reference}")
    return report


def copy_of(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [copy_of(item) for item in value]
    return value


def same_value(original, given):
    if isinstance(original, np.ndarray):
        return isinstance(given, np.ndarray) and original.shape == given.shape and np.array_equal(original, given)
    if isinstance(original, list):
        return isinstance(given, list) and len(given) == len(original) and all(
            same_value(a, b) for a, b in zip(original, given))
    return original == given


def raised(name, error):
    """'conv2d_forward raised IndexError: ... (my_lab.py, line 42)' plus what to do about it."""
    where = traceback.extract_tb(error.__traceback__)[-1]
    text = f"{name} raised {type(error).__name__}: {error} ({where.filename}, line {where.lineno})"
    if isinstance(error, NotImplementedError):
        text += (f"\nThe exercise is not written yet: replace the `raise NotImplementedError(...)` line with your "
                 f"code.")
    return text


# --------------------------------------------------------------------------------------------
# What is printed
# --------------------------------------------------------------------------------------------
def case_line(number, spec, report):
    if report.errors:
        errors = "  ".join(f"{output} {report.errors.get(output, np.inf):.1e}" for output in spec.outputs)
    else:
        first_line = report.problem.splitlines()[0]
        errors = "none: " + (first_line if len(first_line) <= 90 else first_line[:87] + "...")
    status = "ok" if report.passed else "WRONG"
    return f"  case {number}  {report.label}\n          rel. error {errors}   {status}"


def print_reports(spec, reports):
    print(f"{spec.name}: {len(reports)} cases, pass when the relative error is <= {THRESHOLD:.0e}")
    for number, report in enumerate(reports, 1):
        print(case_line(number, spec, report))


def summary(spec, reports, errors, case_count):
    worst = ", ".join(f"{output} {error:.1e}" for output, error in errors.items())
    failed = [(number, report) for number, report in enumerate(reports, 1) if not report.passed]
    if not failed:
        return f"{spec.name}: PASSED all {len(reports)} cases (largest relative error: {worst})"
    number, first = failed[0]
    if first.not_written:
        lines = [f"{spec.name}: NOT WRITTEN YET (case {number} of {case_count} raised NotImplementedError; the "
                 f"others were not run)"]
    else:
        lines = [f"{spec.name}: FAILED {len(failed)} of {case_count} cases; the first is case {number}, "
                 f"{first.label}"]
    if first.problem:
        lines.extend("  " + line for line in first.problem.splitlines())
    lines.extend("  " + line for line in first.details)
    return "\n".join(lines)
