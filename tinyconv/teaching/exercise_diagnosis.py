"""Why a student's answer to an exercise is wrong: comparisons and the usual mistakes.

``tinyconv.teaching.exercises`` knows what the right answer is; this module explains a wrong one.
For one case of an exercise it gets the inputs, the expected outputs and the student's outputs
and returns hints, most specific first:

1. *known mistakes*: each is a wrong answer computed on purpose (the kernel flipped, the bias
   left out, the gradient shared over a pooling window...).  When the student's output equals
   one of them, that mistake is named.
2. *wrong shapes*: a shape that a known slip produces (the output size without padding, the
   stride ignored, channels first) is named too.
3. *generic* signs: an output that is a constant multiple of the right one (a mean where a sum
   belongs, a flipped sign), all zeros, NaN, float32 rounding.

The comparison is cs231n's relative error, ``max |e - g| / max(|e| + |g|, 1e-8)`` over the
entries, and the first wrong entry is reported by its index: ``dx[0, 2, 3, 1]: expected ...``.
"""
import numpy as np

from ..geometry import output_size
from ..kernels.reference import conv as reference_conv
from ..kernels.reference import normalization as reference_norm
from ..kernels.reference import pooling as reference_pooling

__all__ = ["relative_error", "wrong_entries", "first_wrong_entry", "constant_factor", "explain"]

RELATIVE_FLOOR = 1e-8   # cs231n's floor: two numbers both below ~1e-8 count as equal
MATCH_TOLERANCE = 1e-6  # how closely got must equal c * expected to call c a constant factor


# --------------------------------------------------------------------------------------------
# Comparing two arrays
# --------------------------------------------------------------------------------------------
def entrywise_error(expected, got):
    """|e - g| / max(|e| + |g|, 1e-8), entry by entry (inf where ``got`` is NaN or inf)."""
    expected, got = np.asarray(expected, dtype=np.float64), np.asarray(got, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(expected - got) / np.maximum(np.abs(expected) + np.abs(got), RELATIVE_FLOOR)
    return np.where(np.isfinite(got), error, np.inf)


def relative_error(expected, got):
    """The largest entrywise relative error between two arrays of the same shape.

    Args:
        expected: the right answer (array-like).
        got: the answer to judge, same shape.

    Returns:
        A float: ``max |e - g| / max(|e| + |g|, 1e-8)``; 0.0 for empty arrays, inf when ``got``
        holds NaN or inf.

    Example:

    >>> round(relative_error([1.0, 2.0], [1.0, 2.2]), 6)  # 0.2 / (2.0 + 2.2)
    0.047619
    """
    error = entrywise_error(expected, got)
    return float(error.max()) if error.size else 0.0


def wrong_entries(expected, got, threshold):
    """Boolean mask of the entries whose relative error is above ``threshold``.

    Args:
        expected: the right values.
        got: the values to check, same shape.
        threshold: the relative error above which an entry is wrong.

    Returns:
        A boolean array, shape of ``expected``.

    Example:

    >>> wrong_entries(np.array([1.0, 2.0]), np.array([1.0, 2.5]), 1e-6).tolist()
    [False, True]
    """
    return entrywise_error(expected, got) > threshold


def index_text(index):
    return "[" + ", ".join(str(int(i)) for i in index) + "]" if len(index) else ""


def first_wrong_entry(name, expected, got, threshold):
    """``"dx[0, 2, 3, 1]: expected 0.25, got 0.5 (first of 12 wrong entries out of 60)"``, or None.

    Args:
        name: the output's name, printed before the index.
        expected: the right values.
        got: the values to check, same shape.
        threshold: the relative error above which an entry is wrong.

    Returns:
        The text, or None when no entry is wrong.

    Example:

    >>> first_wrong_entry("dx", np.array([1.0, 0.25]), np.array([1.0, 0.5]), 1e-6)
    'dx[1]: expected 0.25, got 0.5 (first of 1 wrong entries out of 2)'
    """
    expected, got = np.asarray(expected), np.asarray(got)
    wrong = wrong_entries(expected, got, threshold)
    if not wrong.any():
        return None
    index = np.unravel_index(int(np.argmax(wrong)), wrong.shape) if wrong.ndim else ()
    count = int(wrong.sum())
    where = f"first of {count} wrong entries out of {wrong.size}" if wrong.size > 1 else "a single number"
    return f"{name}{index_text(index)}: expected {expected[index]:.6g}, got {got[index]:.6g} ({where})"


def matches(expected, got, tolerance=MATCH_TOLERANCE):
    expected, got = np.asarray(expected), np.asarray(got)
    return expected.shape == got.shape and relative_error(expected, got) <= tolerance


def constant_factor(expected, got):
    """The c with ``got == c * expected`` (c != 1), when one exists; else None.

    Args:
        expected: the right values.
        got: the values to check.

    Returns:
        The factor as a float, or None.

    Example:

    >>> constant_factor(np.array([1.0, -2.0]), np.array([0.5, -1.0]))
    0.5
    """
    expected, got = np.asarray(expected, dtype=np.float64), np.asarray(got, dtype=np.float64)
    if expected.shape != got.shape or not np.all(np.isfinite(got)):
        return None
    scale = float(np.dot(expected.ravel(), expected.ravel()))
    if scale == 0.0 or not np.any(got):
        return None
    c = float(np.dot(expected.ravel(), got.ravel())) / scale
    if abs(c - 1.0) < 1e-6 or not matches(c * expected, got):
        return None
    return c


# --------------------------------------------------------------------------------------------
# A known mistake: a deliberately wrong answer and what it means
# --------------------------------------------------------------------------------------------
class Mistake:
    """A wrong answer computed on purpose, and the sentence that explains it.

    ``answer(inputs)`` returns a dict of the outputs this mistake changes (or None when the
    mistake cannot show on these inputs, e.g. a transposed kernel that is symmetric).
    """

    def __init__(self, cause, answer):
        self.cause = cause
        self.answer = answer

    def explains(self, inputs, expected, got, threshold):
        """The outputs this mistake explains: those the student got wrong the way the mistake does.

        An output counts when the mistake changes it (by more than ``threshold``) and the student's
        value is a hundred times closer to the mistake's than to the right one.  Empty unless every
        output the mistake changes counts.
        """
        wrong = self.answer(inputs)
        if not wrong:
            return set()
        explained = set()
        for name, value in wrong.items():
            if relative_error(expected[name], value) <= threshold:
                continue  # on these inputs the mistake changes nothing in this output
            if name not in got or got[name].shape != value.shape:
                return set()
            if not relative_error(value, got[name]) < 0.01 * relative_error(expected[name], got[name]):
                return set()
            explained.add(name)
        return explained


class Diagnosis:
    """Everything that explains wrong answers to one exercise.

    Args:
        mistakes: the exercise's known mistakes (``Mistake``), most telling first.
        shape_hint: ``(output, got_shape, inputs) -> str or None`` for wrong shapes.
        factors: ``(inputs) -> {value: meaning}``, constant factors a slip produces.
        extra: ``(inputs, expected, got) -> list of str``, hints of the exercise's own.
        view: ``(inputs, outputs) -> {output: (label, array)}``, what to compare for constant factors
            (the training step compares each weight's step, not its new value).
    """

    def __init__(self, mistakes=(), shape_hint=None, factors=None, extra=None, view=None):
        self.mistakes = list(mistakes)
        self.shape_hint = shape_hint or (lambda output, shape, inputs: None)
        self.factors = factors or (lambda inputs: {})
        self.extra = extra or (lambda inputs, expected, got: [])
        self.view = view or (lambda inputs, outputs: {name: (name, value) for name, value in outputs.items()})


def describe_factor(name, c, known):
    for value, meaning in known.items():
        if abs(c - value) <= 1e-6 * max(abs(value), 1.0):
            return f"{name} is {c:.6g} times the right answer everywhere: {meaning}"
    if abs(c + 1.0) < 1e-6:
        return f"{name} has the right size but the wrong sign everywhere: look for a minus sign"
    return (f"{name} is {c:.6g} times the right answer everywhere: a constant factor (a mean where a sum "
            f"belongs, a stray 2, a scale applied twice or not at all)")


def generic_hints(name, expected, got, known_factors):
    """Signs any output can show: NaN, all zeros, a constant factor, float32 rounding."""
    expected, got = np.asarray(expected), np.asarray(got)
    if not np.all(np.isfinite(got)):
        return [f"{name} contains NaN or inf: a division by zero or an overflow (check the square roots and "
                f"the exponentials)"]
    if not np.any(got) and np.any(expected):
        return [f"{name} is all zeros where the right answer is not: was it never filled in, or is another "
                f"array returned than the one you filled?"]
    c = constant_factor(expected, got)
    if c is not None:
        return [describe_factor(name, c, known_factors)]
    if got.dtype != np.float64 and relative_error(expected, got) < 1e-3:
        return [f"{name} is {got.dtype}: compute in float64 (the checker passes float64 arrays, and float32 "
                f"rounding alone gives errors of 1e-7 and more)"]
    return []


def explain(diagnosis, inputs, expected, got, threshold):
    """Hints for one case, most specific first, and the first wrong entry of each output.

    Args:
        diagnosis: the exercise's ``Diagnosis``.
        inputs: dict of the case's inputs (what the student's function received).
        expected: dict of the right outputs.
        got: dict of the student's outputs (as float arrays); a missing output is absent.
        threshold: the relative error above which an entry is wrong.

    Returns:
        ``(entries, hints)``: the first-wrong-entry lines and the likely causes.

    Example:

    >>> entries, hints = explain(Diagnosis(), {"x": np.ones(2)}, {"y": np.array([1.0, 2.0])},
    ...                          {"y": np.array([2.0, 4.0])}, 1e-6)
    >>> entries
    ['y[0]: expected 1, got 2 (first of 2 wrong entries out of 2)']
    """
    entries, hints = [], []
    for name, value in expected.items():
        if name in got and got[name].shape != value.shape:
            hint = diagnosis.shape_hint(name, got[name].shape, inputs)
            entries.append(f"{name}: expected shape {value.shape}, got {got[name].shape}")
            if hint:
                hints.append(hint)
        elif name in got:
            line = first_wrong_entry(name, value, got[name], threshold)
            if line:
                entries.append(line)
    explained = set()
    for mistake in diagnosis.mistakes:
        outputs = mistake.explains(inputs, expected, got, threshold)
        if outputs:
            hints.append(mistake.cause)
            explained |= outputs
    hints.extend(diagnosis.extra(inputs, expected, got))
    expected_view, got_view = diagnosis.view(inputs, expected), diagnosis.view(inputs, got)
    known = diagnosis.factors(inputs)
    for name, (label, value) in expected_view.items():
        if name in explained or name not in got_view or got_view[name][1].shape != value.shape:
            continue
        if relative_error(value, got_view[name][1]) > threshold:
            hints.extend(generic_hints(label, value, got_view[name][1], known))
    return entries, list(dict.fromkeys(hints))


# --------------------------------------------------------------------------------------------
# Shared by the convolution and pooling exercises
# --------------------------------------------------------------------------------------------
def symmetric_pads(padding):
    """(ph, pw) -> ((ph, ph), (pw, pw)): the same zeros on both sides of each axis."""
    ph, pw = padding
    return ((ph, ph), (pw, pw))


def conv(x, kernel, bias, stride, pads):
    return reference_conv.conv2d_forward(x, kernel, bias, tuple(stride), pads, (1, 1), 1)


def conv_backward(dy, x, kernel, stride, pads):
    return reference_conv.conv2d_backward(dy, x, kernel, tuple(stride), pads, (1, 1), 1)


def flipped(kernel):
    """The kernel rotated by 180 degrees: what a true convolution multiplies with."""
    return kernel[::-1, ::-1]


def transposed(kernel):
    """Rows and columns swapped (only for a square kernel, or the shapes would change)."""
    return kernel.transpose(1, 0, 2, 3) if kernel.shape[0] == kernel.shape[1] else None


def differs(a, b):
    return b is not None and not np.array_equal(a, b)


def layout_hint(name, shape, expected_shape):
    """Channels first where channels last belongs (N, C, H, W) instead of (N, H, W, C)."""
    n, h, w, c = expected_shape
    if tuple(shape) == (n, c, h, w) and (c, h) != (h, c):
        return (f"{name} has shape {tuple(shape)}, channels first (N, C, H, W); tinyconv and Keras use "
                f"channels_last: (N, H, W, C) = {expected_shape}")
    return None


# --------------------------------------------------------------------------------------------
# conv2d_forward(x, kernel, bias, stride, padding) -> y
# --------------------------------------------------------------------------------------------
CROSS_CORRELATION = ("y[n, i, j, f] = bias[f] + sum over p, q, c of x_pad[n, i*sh + p, j*sw + q, c] * "
                     "kernel[p, q, c, f]")


def conv_output_shape(inputs, stride=None, padding=None):
    x, kernel = inputs["x"], inputs["kernel"]
    (sh, sw), (ph, pw) = stride or inputs["stride"], padding or inputs["padding"]
    return (x.shape[0], output_size(x.shape[1], kernel.shape[0], sh, ph, ph),
            output_size(x.shape[2], kernel.shape[1], sw, pw, pw), kernel.shape[3])


def conv_shape_hint(output, shape, inputs):
    shape, expected = tuple(shape), conv_output_shape(inputs)
    (sh, sw), (ph, pw) = inputs["stride"], inputs["padding"]
    formula = "OH = (H + 2*ph - KH) // sh + 1 and OW = (W + 2*pw - KW) // sw + 1"
    if (ph, pw) != (0, 0) and shape == conv_output_shape(inputs, padding=(0, 0)):
        return (f"{output} has shape {shape}, the output size WITHOUT padding: padding=({ph}, {pw}) adds {ph} "
                f"row(s) of zeros above and below x and {pw} column(s) left and right before the kernel slides; "
                f"{formula} = {expected[1:3]}")
    if (sh, sw) != (1, 1) and shape == conv_output_shape(inputs, stride=(1, 1)):
        return (f"{output} has shape {shape}, the stride-1 size: the window moves by the stride, so output cell "
                f"(i, j) starts at row i*sh and column j*sw; {formula} = {expected[1:3]}")
    if sh != sw and shape == conv_output_shape(inputs, stride=(sw, sh)):
        return f"{output} has shape {shape}: the strides are swapped; stride=(sh, sw) is (rows, columns)"
    return layout_hint(output, shape, expected) or (
        f"{output} must have shape (N, OH, OW, F) = {expected} with {formula}")


def conv_forward_mistakes():
    def flipped_answer(i):
        return {"y": conv(i["x"], flipped(i["kernel"]), i["bias"], i["stride"], symmetric_pads(i["padding"]))}

    def transposed_answer(i):
        kernel_t = transposed(i["kernel"])
        if not differs(i["kernel"], kernel_t):
            return None
        return {"y": conv(i["x"], kernel_t, i["bias"], i["stride"], symmetric_pads(i["padding"]))}

    def no_bias_answer(i):
        return {"y": conv(i["x"], i["kernel"], None, i["stride"], symmetric_pads(i["padding"]))}

    def one_sided_padding(before):
        def answer(i):
            (ph, pw) = i["padding"]
            if (ph, pw) == (0, 0):
                return None
            pads = ((2 * ph, 0), (2 * pw, 0)) if before else ((0, 2 * ph), (0, 2 * pw))
            return {"y": conv(i["x"], i["kernel"], i["bias"], i["stride"], pads)}
        return answer

    return [
        Mistake("y matches a true convolution, with the kernel flipped by 180 degrees. Conv2D (like Keras and "
                "PyTorch) computes a cross-correlation, no flip: " + CROSS_CORRELATION, flipped_answer),
        Mistake("y matches the kernel transposed: your loops read kernel[q, p] where kernel[p, q] belongs "
                "(p walks the kernel's rows with i, q its columns with j); a square kernel hides this from the "
                "shapes but not from the values", transposed_answer),
        Mistake("y is missing the bias: add bias[f] to every output cell of filter f (" + CROSS_CORRELATION + ")",
                no_bias_answer),
        Mistake("the zeros were added only after the image (bottom and right): padding=(ph, pw) puts ph rows "
                "of zeros above AND below x, pw columns left AND right", one_sided_padding(before=False)),
        Mistake("the zeros were added only before the image (top and left): padding=(ph, pw) puts ph rows "
                "of zeros above AND below x, pw columns left AND right", one_sided_padding(before=True)),
    ]


# --------------------------------------------------------------------------------------------
# conv2d_backward(dy, x, kernel, stride, padding) -> (dx, dkernel, dbias)
# --------------------------------------------------------------------------------------------
def conv_backward_shape_hint(output, shape, inputs):
    x, kernel = inputs["x"], inputs["kernel"]
    shape, (ph, pw) = tuple(shape), inputs["padding"]
    n, oh, ow, f = inputs["dy"].shape
    if output == "dx":
        padded = (x.shape[0], x.shape[1] + 2 * ph, x.shape[2] + 2 * pw, x.shape[3])
        if shape == padded and padded != x.shape:
            return (f"dx has the padded shape {shape}: the padding is a constant, its gradient goes nowhere; cut "
                    f"it off at the end, dx = dx_pad[:, {ph}:{ph} + H, {pw}:{pw} + W, :] with x's shape {x.shape}")
        return layout_hint("dx", shape, x.shape) or f"dx must have x's shape {x.shape}"
    if output == "dkernel":
        if shape == (n, *kernel.shape):
            return ("dkernel has one kernel gradient per sample: the kernel is shared by every sample, so sum "
                    f"their contributions over the batch into the kernel's shape {kernel.shape}")
        if shape == (f, kernel.shape[2], kernel.shape[0], kernel.shape[1]):
            return (f"dkernel has the channels-first layout (F, C, KH, KW); it must have the Keras kernel's "
                    f"layout (KH, KW, C, F) = {kernel.shape}")
        return f"dkernel must have the kernel's shape {kernel.shape} (KH, KW, C, F)"
    if shape in {(n, f), (oh, ow, f), (n, oh, ow, f), ()}:
        return (f"dbias has shape {shape}: each bias[f] was added to every output cell of every sample, so "
                f"dbias[f] = dy[..., f] summed over N, OH and OW, shape ({f},)")
    return f"dbias must have shape ({f},), one per filter"


def conv_backward_factors(inputs):
    n, oh, ow, _ = inputs["dy"].shape
    kh, kw = inputs["kernel"].shape[:2]
    factors = {
        1.0 / n: f"1/N with N = {n} the batch size: the kernel and bias gradients are SUMS over the batch and "
                 f"the output cells (the loss's own 1/N is already inside dy)",
        float(n): f"N = {n}, the batch size: a factor the batch should not bring (dy already carries the loss's "
                  f"1/N)",
        1.0 / (oh * ow): f"1/(OH*OW) = 1/{oh * ow}: sum over the output positions, do not average",
        float(kh * kw): f"KH*KW = {kh * kw}: each output cell sends k[p, q] * dy to one input cell per kernel cell; "
                        f"nothing is multiplied by the kernel's size",
    }
    return factors


def conv_backward_mistakes():
    def pads(i):
        return symmetric_pads(i["padding"])

    def dx_flipped(i):
        return {"dx": conv_backward(i["dy"], i["x"], flipped(i["kernel"]), i["stride"], pads(i))[0]}

    def dx_transposed(i):
        kernel_t = transposed(i["kernel"])
        if not differs(i["kernel"], kernel_t):
            return None
        return {"dx": conv_backward(i["dy"], i["x"], kernel_t, i["stride"], pads(i))[0]}

    def dkernel_transposed(i):
        dkernel = conv_backward(i["dy"], i["x"], i["kernel"], i["stride"], pads(i))[1]
        dkernel_t = transposed(dkernel)
        return {"dkernel": dkernel_t} if differs(dkernel, dkernel_t) else None

    def dx_overwritten(i):
        """Windows visited in row-major order, each *assigning* its share: the last one wins."""
        dy, x, kernel = i["dy"], i["x"], i["kernel"]
        (sh, sw), (ph, pw), (kh, kw) = i["stride"], i["padding"], kernel.shape[:2]
        x_pad = reference_conv.pad_image(x, pads(i))
        dx_pad = np.zeros_like(x_pad)
        for r in range(dy.shape[1]):
            for c in range(dy.shape[2]):
                dx_pad[:, r * sh:r * sh + kh, c * sw:c * sw + kw, :] = np.einsum("nf,pqcf->npqc", dy[:, r, c], kernel)
        return {"dx": reference_conv.crop_padding(dx_pad, pads(i))}

    def one_sample_dkernel(index):
        def answer(i):
            if i["x"].shape[0] == 1:
                return None
            sample = slice(index, index + 1) if index >= 0 else slice(index, None)
            return {"dkernel": conv_backward(i["dy"][sample], i["x"][sample], i["kernel"], i["stride"], pads(i))[1]}
        return answer

    def no_bias_gradient(i):
        return {"dbias": np.zeros(i["kernel"].shape[3])}

    return [
        Mistake("dx matches a backward pass with the kernel rotated by 180 degrees. Each output cell sends "
                "kernel[p, q, c, f] * dy[n, i, j, f] back to the input cell it read, x_pad[n, i*sh + p, j*sw + q, c] "
                "(written as a correlation of the padded dy, that is the kernel flipped once): one flip too many "
                "or too few", dx_flipped),
        Mistake("dx matches the kernel transposed: kernel[q, p] was used where kernel[p, q] belongs",
                dx_transposed),
        Mistake("dkernel is transposed: the gradient of kernel[p, q] was stored at dkernel[q, p] (p is the row "
                "offset, q the column offset)", dkernel_transposed),
        Mistake("dx: where windows overlap, an input cell read by several output cells must receive the SUM of "
                "their contributions; yours keeps only the last one (use += rather than =)", dx_overwritten),
        Mistake("dkernel holds only the first sample's gradient: the kernel is shared by every sample, so add "
                "the contributions of all N samples (+= over the batch)", one_sample_dkernel(0)),
        Mistake("dkernel holds only the last sample's gradient: the kernel is shared by every sample, so add "
                "the contributions of all N samples (+= over the batch)", one_sample_dkernel(-1)),
        Mistake("dbias is all zeros: the bias gradient was forgotten. bias[f] was added to every output cell of "
                "filter f, so dbias[f] = dy[..., f] summed over N, OH and OW", no_bias_gradient),
    ]


# --------------------------------------------------------------------------------------------
# max_pool2d_forward(x, pool_size, stride) -> y
# max_pool2d_backward(dy, x, pool_size, stride) -> dx
# --------------------------------------------------------------------------------------------
NO_PADDING = ((0, 0), (0, 0))


def pool_output_shape(inputs, stride=None, rounding=np.floor):
    x = inputs["x"]
    (ph, pw), (sh, sw) = inputs["pool_size"], stride or inputs["stride"]
    oh = int(rounding((x.shape[1] - ph) / sh)) + 1
    ow = int(rounding((x.shape[2] - pw) / sw)) + 1
    return (x.shape[0], oh, ow, x.shape[3])


def pool_shape_hint(output, shape, inputs):
    shape, expected = tuple(shape), pool_output_shape(inputs)
    formula = "OH = (H - PH) // sh + 1 and OW = (W - PW) // sw + 1"
    if output == "dx":
        return f"dx must have x's shape {inputs['x'].shape}: one gradient per input cell"
    if tuple(inputs["stride"]) != (1, 1) and shape == pool_output_shape(inputs, stride=(1, 1)):
        return (f"y has shape {shape}, the stride-1 size: window (i, j) starts at row i*sh and column j*sw; "
                f"{formula} = {expected[1:3]}")
    if shape == pool_output_shape(inputs, rounding=np.ceil):
        return (f"y has shape {shape}: the output size was rounded up. A window that would run off the edge is "
                f"dropped (Keras's padding='valid'), so {formula} = {expected[1:3]}, rounded down")
    return layout_hint("y", shape, expected) or f"y must have shape (N, OH, OW, C) = {expected} with {formula}"


def pool_windows(inputs):
    """(i, j, rows, cols) for each output cell: the window of x it pools."""
    x = inputs["x"]
    out_hw = pool_output_shape(inputs)[1:3]
    return reference_pooling.windows(x.shape[1:3], out_hw, tuple(inputs["pool_size"]), tuple(inputs["stride"]),
                                     NO_PADDING)


def pooled(inputs, reduce):
    x = inputs["x"]
    y = np.zeros(pool_output_shape(inputs), dtype=x.dtype)
    for i, j, rows, cols in pool_windows(inputs):
        y[:, i, j, :] = reduce(x[:, rows, cols, :], axis=(1, 2))
    return y


def max_pool_forward_mistakes():
    return [
        Mistake("y is each window's average: that is average pooling; max pooling keeps the largest value of "
                "each window", lambda i: {"y": pooled(i, np.mean)}),
        Mistake("y is each window's minimum: max pooling keeps the largest value (np.max, not np.min)",
                lambda i: {"y": pooled(i, np.min)}),
        Mistake("y is each window's sum: max pooling keeps the largest value", lambda i: {"y": pooled(i, np.sum)}),
    ]


def routed(inputs, cell_of, accumulate=True):
    """dx when each window's gradient goes to ``cell_of(window) -> (row, col) in the window`` per (n, c)."""
    dy, x = inputs["dy"], inputs["x"]
    dx = np.zeros_like(x)
    n_index, c_index = np.meshgrid(np.arange(x.shape[0]), np.arange(x.shape[3]), indexing="ij")
    for i, j, rows, cols in pool_windows(inputs):
        window_rows, window_cols = cell_of(x[:, rows, cols, :])
        target = (n_index, rows.start + window_rows, cols.start + window_cols, c_index)
        if accumulate:
            dx[target] += dy[:, i, j, :]
        else:
            dx[target] = dy[:, i, j, :]
    return dx


def argmax_cell(window):
    """(row, col) inside the window of each (n, c)'s max, first in row-major order on ties."""
    flat = window.reshape(window.shape[0], -1, window.shape[3]).argmax(axis=1)
    return flat // window.shape[2], flat % window.shape[2]


def max_pool_backward_mistakes():
    def shared(i):
        out_hw = pool_output_shape(i)[1:3]
        return {"dx": reference_pooling.spread_gradient_over_windows(
            i["dy"], i["x"].shape, tuple(i["pool_size"]), tuple(i["stride"]), NO_PADDING, out_hw)}

    def copied(i):
        dx = np.zeros_like(i["x"])
        for r, c, rows, cols in pool_windows(i):
            dx[:, rows, cols, :] += i["dy"][:, r, c, :][:, None, None, :]
        return {"dx": dx}

    def top_left(i):
        def cell(window):
            zeros = np.zeros((window.shape[0], window.shape[3]), dtype=np.int64)
            return zeros, zeros
        return {"dx": routed(i, cell)}

    def overwritten(i):
        return {"dx": routed(i, argmax_cell, accumulate=False)}

    return [
        Mistake("dx spreads each window's gradient evenly over the whole window: that is average pooling's "
                "backward. Max pooling is a switch: all of dy[n, i, j, c] goes to the one cell that held the "
                "window's max, the others get 0", shared),
        Mistake("dx copies each window's gradient to every cell of the window: only the cell that held the max "
                "receives it (the others did not change y), the rest get 0", copied),
        Mistake("dx sends each window's gradient to the window's first (top-left) cell: it belongs to the cell "
                "that held the max (the argmax of the window)", top_left),
        Mistake("dx: a cell that is the max of several overlapping windows must receive the SUM of their "
                "gradients; yours keeps only the last one (use += or np.add.at, not =)", overwritten),
    ]


def max_pool_route_hints(inputs, expected, got):
    """Gradient that landed on a cell which is the max of no window: name that cell."""
    if "dx" not in got or got["dx"].shape != inputs["x"].shape:
        return []
    winners = np.zeros(inputs["x"].shape, dtype=bool)
    for _, _, rows, cols in pool_windows(inputs):
        window = inputs["x"][:, rows, cols, :]
        r, c = argmax_cell(window)
        n_index, c_index = np.meshgrid(np.arange(window.shape[0]), np.arange(window.shape[3]), indexing="ij")
        winners[n_index, rows.start + r, cols.start + c, c_index] = True
    stray = (got["dx"] != 0) & ~winners
    if not stray.any():
        return []
    index = np.unravel_index(int(np.argmax(stray)), stray.shape)
    return [f"dx{index_text(index)} = {got['dx'][index]:.6g}, but x{index_text(index)} = "
            f"{inputs['x'][index]:.6g} is the max of no window: in max pooling only each window's max receives "
            f"gradient (the gradient is routed, not shared)"]


# --------------------------------------------------------------------------------------------
# batch_norm_forward(x, gamma, beta, epsilon) -> y
# batch_norm_backward(dy, x, gamma, epsilon) -> (dx, dgamma, dbeta)
# --------------------------------------------------------------------------------------------
def rows_of(x):
    return x.reshape(-1, x.shape[-1])


def normalised(x, epsilon, ddof=0, epsilon_inside=True, power=0.5, axis=0):
    """xhat with a choice of slips: unbiased variance, epsilon outside the root, no root, wrong axis."""
    mean = x.mean(axis=axis, keepdims=True)
    var = x.var(axis=axis, ddof=ddof, keepdims=True)
    scale = (var + epsilon) ** power if epsilon_inside else var ** power + epsilon
    return (x - mean) / scale


def batch_norm_forward_mistakes():
    def affine(i, xhat):
        return {"y": i["gamma"] * xhat + i["beta"]}

    def with_rows(i, epsilon=None, **slip):
        x = i["x"]
        epsilon = i["epsilon"] if epsilon is None else epsilon
        return affine(i, normalised(rows_of(x), epsilon, **slip).reshape(x.shape))

    def per_position(i):
        x = i["x"]
        if x.ndim < 3:
            return None
        return affine(i, normalised(x, i["epsilon"], axis=0))

    def per_sample(i):
        x = i["x"]
        return affine(i, normalised(rows_of(x), i["epsilon"], axis=1).reshape(x.shape))

    def no_affine(i):
        x = i["x"]
        return {"y": normalised(rows_of(x), i["epsilon"]).reshape(x.shape)}

    def swapped_affine(i):
        x = i["x"]
        return {"y": (i["beta"] * normalised(rows_of(x), i["epsilon"]) + i["gamma"]).reshape(x.shape)}

    return [
        Mistake("y used the unbiased variance (divided by M - 1): batch norm divides by M, the number of values "
                "per channel (Keras's biased variance)", lambda i: with_rows(i, ddof=1)),
        Mistake("y forgot epsilon: xhat = (x - mean) / sqrt(var + epsilon)", lambda i: with_rows(i, epsilon=0.0)),
        Mistake("epsilon is outside the square root: xhat = (x - mean) / sqrt(var + epsilon), not / (sqrt(var) + "
                "epsilon)", lambda i: with_rows(i, epsilon_inside=False)),
        Mistake("y divides by the variance: divide by the standard deviation sqrt(var + epsilon)",
                lambda i: with_rows(i, power=1.0)),
        Mistake("y normalises each sample over its channels (that is layer norm): batch norm's mean and variance "
                "are per channel, over the batch (and, for images, over H and W too)", per_sample),
        Mistake("y has statistics per (h, w, c) position: for images batch norm averages each channel over N, H "
                "and W together (reshape x to (N*H*W, C) first)", per_position),
        Mistake("y forgot the learnt scale and shift: y = gamma * xhat + beta", no_affine),
        Mistake("y swapped gamma and beta: gamma scales (y = gamma * xhat + beta), beta shifts", swapped_affine),
    ]


def batch_norm_parts(i):
    """M, the normalised rows, inv_std and the reference gradients of one case."""
    x, dy, gamma = i["x"], i["dy"], i["gamma"]
    _, mean, _, inv_std = reference_norm.batch_norm_forward_train(x, gamma, np.zeros_like(gamma), i["epsilon"])
    xhat = (rows_of(x) - mean) * inv_std
    return rows_of(x).shape[0], xhat, inv_std, rows_of(dy)


def batch_norm_backward_mistakes():
    def dx_from_terms(i, through_mean=True, through_inv_std=True, gamma=True):
        m, xhat, inv_std, dy = batch_norm_parts(i)
        dxhat = dy * (i["gamma"] if gamma else 1.0)
        dx = dxhat * inv_std
        if through_mean:
            dx = dx - inv_std / m * dxhat.sum(axis=0)
        if through_inv_std:
            dx = dx - inv_std / m * xhat * (dxhat * xhat).sum(axis=0)
        return {"dx": dx.reshape(i["x"].shape)}

    def swapped(i):
        _, xhat, _, dy = batch_norm_parts(i)
        return {"dgamma": dy.sum(axis=0), "dbeta": (dy * xhat).sum(axis=0)}

    def dgamma_with_x(i):
        _, _, _, dy = batch_norm_parts(i)
        return {"dgamma": (dy * rows_of(i["x"])).sum(axis=0)}

    def unbiased(i):
        x, dy, gamma = rows_of(i["x"]), rows_of(i["dy"]), i["gamma"]
        m = x.shape[0]
        inv_std = 1.0 / np.sqrt(x.var(axis=0, ddof=1) + i["epsilon"])
        xhat = (x - x.mean(axis=0)) * inv_std
        dxhat = gamma * dy
        dx = inv_std * (dxhat - dxhat.mean(axis=0)) - inv_std / (m - 1) * xhat * (dxhat * xhat).sum(axis=0)
        return {"dx": dx.reshape(i["x"].shape), "dgamma": (dy * xhat).sum(axis=0)}

    return [
        Mistake("dx has only the direct path gamma * inv_std * dy: the batch's mean and variance depend on every "
                "x too, so dx also gets -inv_std/M * sum(dxhat) (through the mean) and -inv_std/M * xhat * "
                "sum(dxhat * xhat) (through the variance)",
                lambda i: dx_from_terms(i, through_mean=False, through_inv_std=False)),
        Mistake("dx is missing the path through the mean: subtract inv_std/M * sum over the batch of dxhat",
                lambda i: dx_from_terms(i, through_mean=False)),
        Mistake("dx is missing the path through the variance (inv_std): subtract inv_std/M * xhat * sum over the "
                "batch of dxhat * xhat", lambda i: dx_from_terms(i, through_inv_std=False)),
        Mistake("dx forgot gamma: the gradient reaches xhat through y = gamma * xhat + beta, so dxhat = gamma * dy",
                lambda i: dx_from_terms(i, gamma=False)),
        Mistake("dgamma and dbeta are swapped: dbeta = sum of dy (beta is added), dgamma = sum of dy * xhat "
                "(gamma multiplies xhat)", swapped),
        Mistake("dgamma used x where xhat belongs: gamma multiplies the normalised xhat, so dgamma = sum of "
                "dy * xhat", dgamma_with_x),
        Mistake("the backward used the unbiased variance (M - 1): batch norm divides by M", unbiased),
    ]


def batch_norm_factors(inputs):
    m = rows_of(inputs["x"]).shape[0]
    return {float(m): f"M = {m}, the number of values per channel: a sum where a mean belongs, or a 1/M missing",
            1.0 / m: f"1/M with M = {m}: dgamma and dbeta are SUMS over the batch, and dx has its 1/M only in "
                     f"the mean and variance terms"}


def same_shape_hint(names):
    def hint(output, shape, inputs):
        source = names[output]
        return f"{output} must have {source}'s shape {inputs[source].shape}, got {tuple(shape)}"
    return hint


# --------------------------------------------------------------------------------------------
# training_step(weights, x, y, learning_rate) -> (loss, new_weights)
# --------------------------------------------------------------------------------------------
WEIGHT_NAMES = ("w1", "b1", "w2", "b2")


def dense_relu_softmax_step(weights, x, y, learning_rate, relu_derivative=True, error_signal=True):
    """One SGD step of Dense(relu) -> Dense(softmax) with mean cross-entropy; two slips can be switched on."""
    w1, b1, w2, b2 = weights
    h = np.maximum(x @ w1 + b1, 0.0)
    z = h @ w2 + b2
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    loss = float(-(y * np.log(p)).sum(axis=1).mean())
    dz = ((p - y) if error_signal else p) / x.shape[0]
    dh = dz @ w2.T
    if relu_derivative:
        dh = dh * (h > 0)
    grads = (x.T @ dh, dh.sum(axis=0), h.T @ dz, dz.sum(axis=0))
    return loss, [w - learning_rate * g for w, g in zip(weights, grads)]


def step_outputs(loss, new_weights):
    return {"loss": np.asarray(loss), **dict(zip(WEIGHT_NAMES, new_weights))}


def training_step_mistakes():
    def no_relu_derivative(i):
        return step_outputs(*dense_relu_softmax_step(i["weights"], i["x"], i["y"], i["learning_rate"],
                                                     relu_derivative=False))

    def no_error_signal(i):
        return step_outputs(*dense_relu_softmax_step(i["weights"], i["x"], i["y"], i["learning_rate"],
                                                     error_signal=False))

    def loss_after(i):
        _, new = dense_relu_softmax_step(i["weights"], i["x"], i["y"], i["learning_rate"])
        loss_then, _ = dense_relu_softmax_step(new, i["x"], i["y"], i["learning_rate"])
        return {"loss": np.asarray(loss_then)}

    def biases_kept(i):
        return {"b1": i["weights"][1], "b2": i["weights"][3]}

    return [
        Mistake("the hidden layer's gradient ignores the ReLU: dh = (dz @ w2.T) * (h > 0), a unit that was "
                "switched off passes no gradient", no_relu_derivative),
        Mistake("the output's gradient is p, it should be p - y: for softmax with cross-entropy, dL/dz = (p - y) / N",
                no_error_signal),
        Mistake("the loss is the one after the step: return the loss of the forward pass that the gradients came "
                "from (before the update), as train_on_batch does", loss_after),
        Mistake("the biases were not updated: b -= learning_rate * db, with db = dz summed over the batch",
                biases_kept),
    ]


def training_step_view(inputs, outputs):
    """Compare each weight's step (new - old): a factor in the gradient shows there, not in the new value."""
    view = {"loss": ("loss", outputs["loss"])} if "loss" in outputs else {}
    for name, old in zip(WEIGHT_NAMES, inputs["weights"]):
        if name in outputs and np.shape(outputs[name]) == old.shape:
            view[name] = (f"the step of {name} (new {name} - {name})", outputs[name] - old)
    return view


def training_step_factors(inputs):
    n, rate = inputs["x"].shape[0], inputs["learning_rate"]
    return {float(n): f"N = {n}, the batch size: the loss is the MEAN over the batch, so dL/dz = (p - y) / N",
            1.0 / n: f"1/N with N = {n}: the 1/N of the mean was applied twice",
            1.0 / rate: f"1/learning_rate: the step is learning_rate * gradient (learning_rate = {rate})",
            rate: f"learning_rate = {rate}: the learning rate was applied twice",
            -1.0: "a step uphill: gradient descent subtracts, w_new = w - learning_rate * dw"}


def training_step_shape_hint(output, shape, inputs):
    if output == "loss":
        return f"loss must be one number (the batch's mean cross-entropy), got shape {tuple(shape)}"
    old = inputs["weights"][WEIGHT_NAMES.index(output)]
    return (f"new {output} must keep {output}'s shape {old.shape} (return the weights in the order w1, b1, w2, "
            f"b2), got {tuple(shape)}")


# --------------------------------------------------------------------------------------------
# The table the checker reads
# --------------------------------------------------------------------------------------------
DIAGNOSES = {
    "conv2d_forward": Diagnosis(conv_forward_mistakes(), conv_shape_hint),
    "conv2d_backward": Diagnosis(conv_backward_mistakes(), conv_backward_shape_hint, conv_backward_factors),
    "max_pool2d_forward": Diagnosis(max_pool_forward_mistakes(), pool_shape_hint),
    "max_pool2d_backward": Diagnosis(max_pool_backward_mistakes(), pool_shape_hint,
                                     lambda inputs: {}, max_pool_route_hints),
    "batch_norm_forward": Diagnosis(batch_norm_forward_mistakes(), same_shape_hint({"y": "x"})),
    "batch_norm_backward": Diagnosis(batch_norm_backward_mistakes(),
                                     same_shape_hint({"dx": "x", "dgamma": "gamma", "dbeta": "gamma"}),
                                     batch_norm_factors),
    "training_step": Diagnosis(training_step_mistakes(), training_step_shape_hint, training_step_factors,
                               view=training_step_view),
}
