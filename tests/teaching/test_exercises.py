"""The exercise checker: right answers pass, the classic wrong answers fail and are named.

The right answers here are written the way a student would, with plain loops, independently of the
reference kernels the checker compares with.  Each wrong answer is one of them with one classic slip.
"""
import doctest

import numpy as np
import pytest

from tinyconv.teaching import exercise_diagnosis, exercises
from tinyconv.teaching.exercises import check, exercise_signature, list_exercises


# --------------------------------------------------------------------------------------------
# Right answers, written as loops (a student's first version)
# --------------------------------------------------------------------------------------------
def pad(x, padding):
    ph, pw = padding
    return np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))


def conv2d_forward(x, kernel, bias, stride, padding, transpose_kernel=False, pad_first=True, add_bias=True):
    kh, kw, _, filters = kernel.shape
    (sh, sw), (ph, pw) = stride, padding
    if transpose_kernel:
        kernel = kernel.transpose(1, 0, 2, 3)  # reads kernel[q, p] where kernel[p, q] belongs
    if pad_first:
        x = pad(x, padding)
    oh, ow = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    y = np.zeros((x.shape[0], oh, ow, filters))
    for n in range(x.shape[0]):
        for i in range(oh):
            for j in range(ow):
                window = x[n, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
                for f in range(filters):
                    y[n, i, j, f] = np.sum(window * kernel[..., f]) + (bias[f] if add_bias else 0.0)
    return y


def conv2d_backward(dy, x, kernel, stride, padding, average_kernel_gradient=False):
    kh, kw, _, filters = kernel.shape
    (sh, sw), (ph, pw) = stride, padding
    x_pad = pad(x, padding)
    dx_pad, dkernel = np.zeros_like(x_pad), np.zeros_like(kernel)
    for n in range(dy.shape[0]):
        for i in range(dy.shape[1]):
            for j in range(dy.shape[2]):
                rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
                for f in range(filters):
                    dkernel[..., f] += x_pad[n, rows, cols, :] * dy[n, i, j, f]
                    dx_pad[n, rows, cols, :] += kernel[..., f] * dy[n, i, j, f]
    if average_kernel_gradient:
        dkernel /= x.shape[0]  # a mean over the batch where the sum belongs
    dx = dx_pad[:, ph:ph + x.shape[1], pw:pw + x.shape[2], :]
    return dx, dkernel, dy.sum(axis=(0, 1, 2))


def max_pool2d_forward(x, pool_size, stride):
    (ph, pw), (sh, sw) = pool_size, stride
    oh, ow = (x.shape[1] - ph) // sh + 1, (x.shape[2] - pw) // sw + 1
    y = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for i in range(oh):
        for j in range(ow):
            y[:, i, j, :] = x[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :].max(axis=(1, 2))
    return y


def max_pool2d_backward(dy, x, pool_size, stride, route="max"):
    (ph, pw), (sh, sw) = pool_size, stride
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[3]):
            for i in range(dy.shape[1]):
                for j in range(dy.shape[2]):
                    window = x[n, i * sh:i * sh + ph, j * sw:j * sw + pw, c]
                    if route == "shared":  # spread over the window, as average pooling does
                        dx[n, i * sh:i * sh + ph, j * sw:j * sw + pw, c] += dy[n, i, j, c] / window.size
                        continue
                    r, q = np.unravel_index(np.argmax(window), window.shape) if route == "max" else (0, 0)
                    dx[n, i * sh + r, j * sw + q, c] += dy[n, i, j, c]
    return dx


def batch_norm_forward(x, gamma, beta, epsilon):
    rows = x.reshape(-1, x.shape[-1])
    xhat = (rows - rows.mean(axis=0)) / np.sqrt(rows.var(axis=0) + epsilon)
    return (gamma * xhat + beta).reshape(x.shape)


def batch_norm_backward(dy, x, gamma, epsilon):
    rows, dy_rows = x.reshape(-1, x.shape[-1]), dy.reshape(-1, x.shape[-1])
    m = rows.shape[0]
    inv_std = 1.0 / np.sqrt(rows.var(axis=0) + epsilon)
    xhat = (rows - rows.mean(axis=0)) * inv_std
    dbeta, dgamma = dy_rows.sum(axis=0), (dy_rows * xhat).sum(axis=0)
    dx = gamma * inv_std / m * (m * dy_rows - dbeta - xhat * dgamma)
    return dx.reshape(x.shape), dgamma, dbeta


def training_step(weights, x, y, learning_rate):
    w1, b1, w2, b2 = weights
    n = x.shape[0]
    a = x @ w1 + b1
    h = np.where(a > 0, a, 0.0)
    z = h @ w2 + b2
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = -np.sum(y * log_p) / n
    dz = (np.exp(log_p) - y) / n
    dh = (dz @ w2.T) * (a > 0)
    grads = [x.T @ dh, dh.sum(axis=0), h.T @ dz, dz.sum(axis=0)]
    return loss, [w - learning_rate * g for w, g in zip(weights, grads)]


RIGHT_ANSWERS = {
    "conv2d_forward": conv2d_forward, "conv2d_backward": conv2d_backward,
    "max_pool2d_forward": max_pool2d_forward, "max_pool2d_backward": max_pool2d_backward,
    "batch_norm_forward": batch_norm_forward, "batch_norm_backward": batch_norm_backward,
    "training_step": training_step,
}


def test_every_exercise_has_a_right_answer_here():
    assert sorted(RIGHT_ANSWERS) == sorted(list_exercises())
    assert {"conv2d_forward", "conv2d_backward", "max_pool2d_forward", "max_pool2d_backward", "batch_norm_forward",
            "batch_norm_backward", "training_step"} <= set(list_exercises())


@pytest.mark.parametrize("name", sorted(RIGHT_ANSWERS))
def test_a_right_answer_passes(name, capsys):
    result = check(name, RIGHT_ANSWERS[name])
    assert result.passed and bool(result), result.message
    assert set(result.errors) == set(exercises.EXERCISES[name].outputs)
    assert all(error <= 1e-7 for error in result.errors.values()), result.errors
    assert len(result.cases) >= 4
    printed = capsys.readouterr().out
    assert "PASSED" in printed and "rel. error" in printed


def test_the_cases_cover_padding_strides_and_non_square_windows():
    rng = np.random.default_rng(0)
    conv_cases = exercises.EXERCISES["conv2d_forward"].cases(rng)
    assert any(case.inputs["padding"] != (0, 0) for case in conv_cases)
    assert any(case.inputs["stride"][0] != case.inputs["stride"][1] for case in conv_cases)
    assert any(case.inputs["kernel"].shape[0] != case.inputs["kernel"].shape[1] for case in conv_cases)
    pool_cases = exercises.EXERCISES["max_pool2d_backward"].cases(rng)
    assert any(case.inputs["stride"][0] < case.inputs["pool_size"][0] for case in pool_cases)  # overlapping


def test_the_fixed_case_is_the_decks_5x5_example():
    # Deep Learning 1, lecture 8, "Numerical Example": the 3x3 weight on the 5x5 input.
    case = exercises.EXERCISES["conv2d_forward"].cases(np.random.default_rng(0))[0]
    y = conv2d_forward(**case.inputs)
    np.testing.assert_array_equal(y[0, :, :, 0], [[12, 12, 17], [10, 17, 19], [9, 6, 14]])


# --------------------------------------------------------------------------------------------
# The five classic mistakes: each fails, and the message names it
# --------------------------------------------------------------------------------------------
def failing(name, student_fn):
    result = check(name, student_fn, verbose=False)
    assert not result.passed and not result
    return result.message


def test_a_transposed_kernel_is_named():
    message = failing("conv2d_forward", lambda x, k, b, s, p: conv2d_forward(x, k, b, s, p, transpose_kernel=True))
    assert "case 1" in message  # the deck's 3x3 example already shows it
    assert "y[0, 0, 0, 0]: expected 12, got" in message
    assert "kernel transposed" in message and "kernel[q, p]" in message
    assert "flipped" not in message  # the transpose is not mistaken for the 180-degree flip


def test_a_missing_padding_is_named():
    message = failing("conv2d_forward", lambda x, k, b, s, p: conv2d_forward(x, k, b, s, p, pad_first=False))
    assert "the stride-2 example, padding 1" in message  # the first case with padding
    assert "y: expected shape (1, 3, 3, 1), got (1, 2, 2, 1)" in message
    assert "WITHOUT padding" in message


def test_a_gradient_off_by_a_constant_factor_is_named():
    message = failing("conv2d_backward",
                      lambda dy, x, k, s, p: conv2d_backward(dy, x, k, s, p, average_kernel_gradient=True))
    assert "dkernel[0, 0, 0, 0]: expected" in message
    assert "dkernel is 0.5 times the right answer everywhere" in message
    assert "1/N with N = 2 the batch size" in message
    assert "dx[" not in message  # dx is right: only dkernel is blamed


def test_a_wrong_pooling_route_is_named():
    top_left = failing("max_pool2d_backward", lambda dy, x, ps, s: max_pool2d_backward(dy, x, ps, s, route="first"))
    assert "first (top-left) cell" in top_left
    assert "is the max of no window" in top_left  # and the stray gradient's cell is named
    shared = failing("max_pool2d_backward", lambda dy, x, ps, s: max_pool2d_backward(dy, x, ps, s, route="shared"))
    assert "average pooling's backward" in shared and "all of dy[n, i, j, c] goes to the one cell" in shared


def test_a_forgotten_bias_is_named():
    message = failing("conv2d_forward", lambda x, k, b, s, p: conv2d_forward(x, k, b, s, p, add_bias=False))
    assert "case 3" in message  # the decks' examples have no bias: the first random case shows it
    assert "y is missing the bias" in message


# --------------------------------------------------------------------------------------------
# More mistakes the diagnosis knows
# --------------------------------------------------------------------------------------------
def test_a_flipped_kernel_is_a_true_convolution():
    message = failing("conv2d_forward",
                      lambda x, k, b, s, p: conv2d_forward(x, k[::-1, ::-1], b, s, p))
    assert "true convolution" in message and "cross-correlation" in message


def test_overlapping_windows_must_add_up():
    def overwriting(dy, x, pool_size, stride):
        (ph, pw), (sh, sw) = pool_size, stride
        dx = np.zeros_like(x)
        for i in range(dy.shape[1]):
            for j in range(dy.shape[2]):
                for n in range(x.shape[0]):
                    for c in range(x.shape[3]):
                        window = x[n, i * sh:i * sh + ph, j * sw:j * sw + pw, c]
                        r, q = np.unravel_index(np.argmax(window), window.shape)
                        dx[n, i * sh + r, j * sw + q, c] = dy[n, i, j, c]  # = where += belongs
        return dx

    message = failing("max_pool2d_backward", overwriting)
    assert "a 5x5 peak" in message and "dx[0, 2, 2, 0]: expected" in message
    assert "SUM of their gradients" in message


@pytest.mark.parametrize("slip, words", [
    (lambda x, g, b, e: g * (x - x.mean(0)) / np.sqrt(x.var(0, ddof=1) + e) + b, "unbiased variance"),
    (lambda x, g, b, e: g * (x - x.mean(0)) / np.sqrt(x.var(0)) + b, "forgot epsilon"),
    (lambda x, g, b, e: (x - x.mean(0)) / np.sqrt(x.var(0) + e), "scale and shift"),
])
def test_batch_norm_forward_slips(slip, words):
    assert words in failing("batch_norm_forward", slip)


def test_batch_norm_backward_without_the_statistics_paths():
    def direct_only(dy, x, gamma, epsilon):
        dx, dgamma, dbeta = batch_norm_backward(dy, x, gamma, epsilon)
        return gamma * dy / np.sqrt(x.reshape(-1, x.shape[-1]).var(axis=0) + epsilon), dgamma, dbeta

    message = failing("batch_norm_backward", direct_only)
    assert "dx has only the direct path" in message
    assert "dgamma[" not in message and "dbeta[" not in message  # those two are right


def test_training_step_slips():
    def no_relu_derivative(weights, x, y, rate):
        return exercise_diagnosis.dense_relu_softmax_step(weights, x, y, rate, relu_derivative=False)

    assert "ignores the ReLU" in failing("training_step", no_relu_derivative)

    def summed_loss(weights, x, y, rate):
        """Gradients of the SUM of the losses: N times the mean's, so N times the step."""
        loss, _ = training_step(weights, x, y, rate)
        return loss, training_step(weights, x, y, rate * x.shape[0])[1]

    message = failing("training_step", summed_loss)
    assert "the step of w1 (new w1 - w1) is 2 times the right answer everywhere: N = 2, the batch size" in message

    def frozen_biases(weights, x, y, rate):
        loss, (w1, _, w2, _) = training_step(weights, x, y, rate)
        return loss, [w1, weights[1], w2, weights[3]]

    assert "biases were not updated" in failing("training_step", frozen_biases)


def test_float32_rounding_is_named():
    def in_float32(dy, x, gamma, epsilon):
        return tuple(gradient.astype(np.float32) for gradient in batch_norm_backward(
            dy.astype(np.float32), x.astype(np.float32), gamma.astype(np.float32), epsilon))

    message = failing("batch_norm_backward", in_float32)
    assert "is float32: compute in float64" in message


# --------------------------------------------------------------------------------------------
# What a student's function can do wrong besides the numbers
# --------------------------------------------------------------------------------------------
def test_not_written_yet():
    def stub(x, kernel, bias, stride, padding):
        raise NotImplementedError("write your code here")

    message = failing("conv2d_forward", stub)
    assert "raised NotImplementedError: write your code here" in message
    assert "not written yet" in message and "NOT WRITTEN YET (case 1 of 7" in message
    assert len(check("conv2d_forward", stub, verbose=False).cases) == 1  # the other cases are not run


def test_an_exception_names_its_line():
    def broken(x, kernel, bias, stride, padding):
        return x[0, 99]

    message = failing("conv2d_forward", broken)
    assert "raised IndexError" in message and "test_exercises.py, line" in message


@pytest.mark.parametrize("returned, words", [
    (lambda *args: None, "did you forget the `return` statement"),
    (lambda *args: (conv2d_forward(*args), "cache"), "return y alone"),
    (lambda *args: "y", "not an array of numbers"),
    (lambda *args: conv2d_forward(*args)[..., 0], "expected shape"),
])
def test_a_bad_return_is_explained(returned, words):
    assert words in failing("conv2d_forward", returned)


def test_a_backward_returning_too_few_gradients():
    message = failing("conv2d_backward", lambda dy, x, k, s, p: conv2d_backward(dy, x, k, s, p)[:2])
    assert "expected a tuple of 3 arrays (dx, dkernel, dbias)" in message
    message = failing("conv2d_backward", lambda dy, x, k, s, p: (*conv2d_backward(dy, x, k, s, p)[:2], None))
    assert "dbias is None" in message


def test_changing_an_input_in_place_fails():
    def centre_in_place(x, gamma, beta, epsilon):
        y = batch_norm_forward(x, gamma, beta, epsilon)
        x -= x.mean(axis=0)
        return y

    assert "changed its input x in place" in failing("batch_norm_forward", centre_in_place)


def test_check_refuses_a_wrong_call():
    with pytest.raises(ValueError, match="unknown exercise 'conv2d'.*conv2d_forward"):
        check("conv2d", conv2d_forward)
    with pytest.raises(TypeError, match="expected the function to check"):
        check("conv2d_forward", np.zeros(3))


def test_the_seed_changes_only_the_random_cases():
    first = exercises.EXERCISES["conv2d_forward"].cases(np.random.default_rng(0))
    second = exercises.EXERCISES["conv2d_forward"].cases(np.random.default_rng(1))
    np.testing.assert_array_equal(first[0].inputs["x"], second[0].inputs["x"])
    assert not np.array_equal(first[-1].inputs["x"], second[-1].inputs["x"])


# --------------------------------------------------------------------------------------------
# The signatures are documented, and the documentation runs
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(RIGHT_ANSWERS))
def test_each_signature_is_documented_in_check_and_the_module(name):
    text = exercise_signature(name)
    signature = text.splitlines()[0]
    assert signature.startswith(name + "(")
    assert signature in check.__doc__ and signature in exercises.__doc__
    assert "reference: tinyconv/" in text
    with pytest.raises(ValueError, match="unknown exercise"):
        exercise_signature("nope")


@pytest.mark.parametrize("module", [exercises, exercise_diagnosis], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, extraglobs={"np": np}, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# --------------------------------------------------------------------------------------------
# Every known mistake, made on purpose, is named
# --------------------------------------------------------------------------------------------
def answer_with_mistake(name, mistake):
    """A student function returning the right answer with ``mistake``'s wrong outputs put in."""
    spec = exercises.EXERCISES[name]
    argument_names = list(spec.cases(np.random.default_rng(0))[0].inputs)

    def student(*args):
        inputs = dict(zip(argument_names, args))
        outputs = spec.answer(**inputs)
        outputs.update(mistake.answer(inputs) or {})
        if name == "training_step":
            return outputs["loss"], [outputs[weight] for weight in exercise_diagnosis.WEIGHT_NAMES]
        values = [outputs[output] for output in spec.outputs]
        return values[0] if len(values) == 1 else tuple(values)
    return student


KNOWN_MISTAKES = [(name, index) for name, diagnosis in exercise_diagnosis.DIAGNOSES.items()
                  for index in range(len(diagnosis.mistakes))]


@pytest.mark.parametrize("name, index", KNOWN_MISTAKES, ids=[f"{n}-{i}" for n, i in KNOWN_MISTAKES])
def test_every_known_mistake_is_named(name, index):
    mistake = exercise_diagnosis.DIAGNOSES[name].mistakes[index]
    result = check(name, answer_with_mistake(name, mistake), verbose=False)
    assert not result.passed, f"{name}: the mistake changes nothing on any case: {mistake.cause}"
    assert mistake.cause in result.message
