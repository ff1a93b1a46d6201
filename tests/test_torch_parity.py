"""Parity with PyTorch: tinyconv's layers and whole models against torch's autograd.

tinyconv works in NHWC with Keras's kernel layout (kh, kw, in/groups, filters); torch works
in NCHW with (filters, in/groups, kh, kw).  The helpers below convert between the two.
Skipped (with a reason) when torch is not installed.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is the oracle of these parity tests (pip install torch)")
F = torch.nn.functional

import tinyconv  # noqa: E402
from tinyconv import layers, optimizers  # noqa: E402

torch.set_num_threads(2)

TOL = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-10, atol=1e-12)}
TORCH_DTYPE = {"float32": torch.float32, "float64": torch.float64}


# ------------------------------------------------------------------ helpers
def nchw(x):
    return torch.tensor(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def torch_kernel(k):
    """(kh, kw, in/groups, filters) -> (filters, in/groups, kh, kw)."""
    return torch.tensor(np.ascontiguousarray(np.asarray(k).transpose(3, 2, 0, 1)))


def keras_kernel(t):
    return t.detach().numpy().transpose(2, 3, 1, 0)


def same_pads(size, k, s, d=1):
    """Keras/TF 'same' padding: the extra cell goes at the end (bottom/right)."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def torch_same_pad(t, ksize, strides, dilation=(1, 1), value=0.0):
    (top, bottom) = same_pads(t.shape[2], ksize[0], strides[0], dilation[0])
    (left, right) = same_pads(t.shape[3], ksize[1], strides[1], dilation[1])
    return F.pad(t, (left, right, top, bottom), value=value)


def close(actual, expected, dtype, what):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), err_msg=what, **TOL[dtype])


def tie_free(rng, shape, dtype):
    """Distinct values (a shuffled grid with jitter) so the max of every window is unique."""
    n = int(np.prod(shape))
    values = rng.permutation(n).astype(np.float64) / n * 4 - 2
    return values.reshape(shape).astype(dtype)


TORCH_ACT = {None: lambda t: t, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


# ------------------------------------------------------------------ Conv2D
CONV_CASES = [
    # (input (N, H, W, C), filters, kernel, strides, padding, dilation, groups, activation)
    ((2, 9, 8, 3), 4, (3, 2), (1, 1), "valid", (1, 1), 1, None),
    ((2, 9, 8, 3), 5, (2, 3), (2, 1), "valid", (1, 1), 1, "relu"),
    ((2, 9, 10, 3), 4, (3, 4), (2, 1), "same", (1, 1), 1, "tanh"),
    ((1, 8, 7, 2), 3, (4, 2), (2, 3), "same", (1, 1), 1, "sigmoid"),
    ((2, 10, 9, 3), 4, (3, 3), (1, 1), "valid", (2, 2), 1, "relu"),
    ((2, 9, 9, 2), 3, (2, 3), (1, 1), "same", (2, 1), 1, None),
    ((2, 8, 9, 4), 6, (3, 2), (1, 2), "valid", (1, 1), 2, "tanh"),
    ((2, 7, 8, 4), 4, (3, 3), (2, 2), "same", (1, 1), 2, None),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c[2]}-s{c[3]}-{c[4]}-d{c[5]}-g{c[6]}-{c[7]}")
def test_conv2d_forward_backward(case, dtype):
    shape, filters, ksize, strides, padding, dilation, groups, act = case
    rng = np.random.default_rng(0)
    layer = layers.Conv2D(filters, ksize, strides=strides, padding=padding, dilation_rate=dilation,
                          groups=groups, activation=act, dtype=dtype)
    x = rng.standard_normal(shape).astype(dtype)
    layer.build_for((None,) + shape[1:])
    layer.set_weights([rng.standard_normal(layer.kernel.shape) * 0.5,
                       rng.standard_normal(layer.bias.shape) * 0.5])
    y = layer.forward(x, training=True)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dy)

    xt = nchw(x).requires_grad_(True)
    wt = torch_kernel(layer.kernel).requires_grad_(True)
    bt = torch.tensor(layer.bias.copy()).requires_grad_(True)
    inp = torch_same_pad(xt, ksize, strides, dilation) if padding == "same" else xt
    yt = TORCH_ACT[act](F.conv2d(inp, wt, bt, stride=strides, padding=0, dilation=dilation, groups=groups))
    yt.backward(nchw(dy))

    assert y.dtype == np.dtype(dtype) and dx.dtype == np.dtype(dtype)
    assert y.shape == nhwc(yt).shape
    close(y, nhwc(yt), dtype, "conv2d forward")
    close(dx, nhwc(xt.grad), dtype, "conv2d dx")
    close(layer.grads["kernel"], keras_kernel(wt.grad), dtype, "conv2d dkernel")
    close(layer.grads["bias"], bt.grad.numpy(), dtype, "conv2d dbias")


def test_conv2d_via_call_matches_torch():
    """``layer(x)`` builds with Keras's initialisers and runs inference; compare the output."""
    rng = np.random.default_rng(1)
    layer = layers.Conv2D(5, (3, 2), strides=(2, 1), padding="same")
    x = rng.standard_normal((3, 11, 6, 2)).astype("float32")
    y = layer(x)
    inp = torch_same_pad(nchw(x), (3, 2), (2, 1))
    yt = F.conv2d(inp, torch_kernel(layer.kernel), torch.tensor(layer.bias), stride=(2, 1))
    close(y, nhwc(yt), "float32", "conv2d __call__")


# ------------------------------------------------------------------ pooling
POOL_CASES = [
    # (input shape, pool, strides, padding)
    ((2, 8, 8, 3), (2, 2), None, "valid"),
    ((2, 9, 7, 2), (3, 2), (2, 1), "valid"),
    ((2, 7, 9, 3), (3, 3), (2, 2), "valid"),
    ((2, 7, 8, 2), (2, 3), (2, 2), "same"),
    ((1, 9, 9, 2), (3, 3), (2, 3), "same"),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{c[1]}-s{c[2]}-{c[3]}")
def test_max_pooling_forward_backward(case, dtype):
    shape, pool, strides, padding = case
    rng = np.random.default_rng(2)
    layer = layers.MaxPooling2D(pool, strides=strides, padding=padding, dtype=dtype)
    x = tie_free(rng, shape, dtype)
    layer.build_for((None,) + shape[1:])
    y = layer.forward(x, training=True)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dy)

    s = strides or pool
    xt = nchw(x).requires_grad_(True)
    inp = torch_same_pad(xt, pool, s, value=-float("inf")) if padding == "same" else xt
    yt = F.max_pool2d(inp, pool, stride=s)
    yt.backward(nchw(dy))
    assert y.shape == nhwc(yt).shape
    close(y, nhwc(yt), dtype, "max pool forward")
    close(dx, nhwc(xt.grad), dtype, "max pool dx")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{c[1]}-s{c[2]}-{c[3]}")
def test_average_pooling_forward_backward(case, dtype):
    shape, pool, strides, padding = case
    rng = np.random.default_rng(3)
    layer = layers.AveragePooling2D(pool, strides=strides, padding=padding, dtype=dtype)
    x = rng.standard_normal(shape).astype(dtype)
    layer.build_for((None,) + shape[1:])
    y = layer.forward(x, training=True)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dy)

    s = strides or pool
    xt = nchw(x).requires_grad_(True)
    if padding == "same":
        # Keras averages over the real cells only: sum over the zero-padded window / count of real cells.
        sums = F.avg_pool2d(torch_same_pad(xt, pool, s), pool, stride=s, divisor_override=1)
        counts = F.avg_pool2d(torch_same_pad(torch.ones_like(xt[:1, :1]), pool, s), pool, stride=s,
                              divisor_override=1)
        yt = sums / counts
    else:
        yt = F.avg_pool2d(xt, pool, stride=s)
    yt.backward(nchw(dy))
    assert y.shape == nhwc(yt).shape
    close(y, nhwc(yt), dtype, "avg pool forward")
    close(dx, nhwc(xt.grad), dtype, "avg pool dx")


# ------------------------------------------------------------------ BatchNormalization
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(6, 5, 4, 3), (16, 7)])
def test_batchnorm_training_forward_backward_and_moving_stats(shape, dtype):
    rng = np.random.default_rng(4)
    layer = layers.BatchNormalization(dtype=dtype)
    x = (rng.standard_normal(shape) * 2 + 1.5).astype(dtype)
    layer.build_for((None,) + shape[1:])
    c = shape[-1]
    gamma, beta = rng.uniform(0.5, 1.5, c), rng.standard_normal(c)
    mm0, mv0 = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    layer.set_weights([gamma, beta, mm0, mv0])
    y = layer.forward(x, training=True)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dy)

    td = TORCH_DTYPE[dtype]
    x2 = torch.tensor(x.reshape(-1, c), dtype=td).requires_grad_(True)  # channels last -> (N*, C)
    gt = torch.tensor(gamma, dtype=td).requires_grad_(True)
    bt = torch.tensor(beta, dtype=td).requires_grad_(True)
    running_mean = torch.tensor(mm0, dtype=td)
    running_var = torch.tensor(mv0, dtype=td)
    yt = F.batch_norm(x2, running_mean, running_var, gt, bt, training=True, momentum=1 - 0.99, eps=1e-3)
    yt.backward(torch.tensor(dy.reshape(-1, c)))
    close(y, yt.detach().numpy().reshape(shape), dtype, "batchnorm forward")
    close(dx, x2.grad.numpy().reshape(shape), dtype, "batchnorm dx")
    close(layer.grads["gamma"], gt.grad.numpy(), dtype, "batchnorm dgamma")
    close(layer.grads["beta"], bt.grad.numpy(), dtype, "batchnorm dbeta")

    # Moving statistics: torch's momentum 0.1 is Keras's 1 - 0.99; the mean rule is the same.
    close(layer.moving_mean, running_mean.numpy(), dtype, "moving mean")
    # torch feeds the UNBIASED batch variance into running_var, Keras the biased one: undo torch's
    # Bessel factor n/(n-1) on the batch-variance term before comparing.
    n = x2.shape[0]
    unbiased = (running_var.numpy() - 0.99 * mv0) / 0.01
    keras_rule = 0.99 * mv0 + 0.01 * unbiased * (n - 1) / n
    close(layer.moving_variance, keras_rule, dtype, "moving variance")
    biased = x.reshape(-1, c).astype(np.float64).var(axis=0)
    close(layer.moving_variance, 0.99 * mv0 + 0.01 * biased, dtype, "moving variance, direct")
    assert not np.allclose(layer.moving_variance, running_var.numpy(), rtol=1e-7, atol=0), \
        "sanity: the unbiased and biased rules must differ on this batch"

    # Inference then uses the moving statistics, as torch does with training=False.
    y_inf = layer.forward(x, training=False)
    yt_inf = F.batch_norm(torch.tensor(x.reshape(-1, c)), torch.tensor(layer.moving_mean),
                          torch.tensor(layer.moving_variance), torch.tensor(gamma, dtype=td),
                          torch.tensor(beta, dtype=td), training=False, eps=1e-3)
    close(y_inf, yt_inf.numpy().reshape(shape), dtype, "batchnorm inference")


# ------------------------------------------------------------------ Dense
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act", [None, "relu", "tanh", "sigmoid"])
def test_dense_forward_backward(act, dtype):
    rng = np.random.default_rng(5)
    layer = layers.Dense(7, activation=act, dtype=dtype)
    x = rng.standard_normal((5, 11)).astype(dtype)
    layer.build_for((None, 11))
    layer.set_weights([rng.standard_normal((11, 7)) * 0.4, rng.standard_normal(7) * 0.3])
    y = layer.forward(x, training=True)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dy)

    xt = torch.tensor(x).requires_grad_(True)
    wt = torch.tensor(layer.kernel.T.copy()).requires_grad_(True)  # torch: (out, in)
    bt = torch.tensor(layer.bias.copy()).requires_grad_(True)
    yt = TORCH_ACT[act](F.linear(xt, wt, bt))
    yt.backward(torch.tensor(dy))
    close(y, yt.detach().numpy(), dtype, "dense forward")
    close(dx, xt.grad.numpy(), dtype, "dense dx")
    close(layer.grads["kernel"], wt.grad.numpy().T, dtype, "dense dkernel")
    close(layer.grads["bias"], bt.grad.numpy(), dtype, "dense dbias")


# ------------------------------------------------------------------ whole models
class NHWCFlatten(torch.nn.Module):
    """Flatten in Keras's channels-last order, so Dense kernels can be copied as they are."""

    def forward(self, t):
        return t.permute(0, 2, 3, 1).flatten(1)


def lenet5(dtype):
    return tinyconv.Sequential([
        tinyconv.Input(shape=(32, 32, 1), dtype=dtype),
        layers.Conv2D(6, 5, activation="tanh", dtype=dtype),
        layers.AveragePooling2D(dtype=dtype),
        layers.Conv2D(16, 5, activation="tanh", dtype=dtype),
        layers.AveragePooling2D(dtype=dtype),
        layers.Conv2D(120, 5, activation="tanh", dtype=dtype),
        layers.Flatten(dtype=dtype),
        layers.Dense(84, activation="tanh", dtype=dtype),
        layers.Dense(10, activation="softmax", dtype=dtype),
    ])


def torch_lenet5(model, dtype):
    """An nn.Sequential with the tinyconv model's weights; it outputs logits."""
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5), torch.nn.Tanh(), torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(6, 16, 5), torch.nn.Tanh(), torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(16, 120, 5), torch.nn.Tanh(), NHWCFlatten(),
        torch.nn.Linear(120, 84), torch.nn.Tanh(), torch.nn.Linear(84, 10),
    ).to(TORCH_DTYPE[dtype])
    load_into_torch(model, [m for m in net if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))])
    return net


def load_into_torch(model, modules):
    weighted = [layer for layer in model.layers if layer.weights]
    assert len(weighted) == len(modules)
    with torch.no_grad():
        for layer, module in zip(weighted, modules):
            if isinstance(module, torch.nn.Conv2d):
                module.weight.copy_(torch_kernel(layer.kernel))
                module.bias.copy_(torch.tensor(layer.bias))
            elif isinstance(module, torch.nn.Linear):
                module.weight.copy_(torch.tensor(layer.kernel.T.copy()))
                module.bias.copy_(torch.tensor(layer.bias))
            else:  # BatchNorm2d
                gamma, beta, mean, var = layer.get_weights()
                module.weight.copy_(torch.tensor(gamma))
                module.bias.copy_(torch.tensor(beta))
                module.running_mean.copy_(torch.tensor(mean))
                module.running_var.copy_(torch.tensor(var))


def torch_weights_as_keras(modules):
    out = []
    for module in modules:
        if isinstance(module, torch.nn.Conv2d):
            out += [keras_kernel(module.weight), module.bias.detach().numpy()]
        elif isinstance(module, torch.nn.Linear):
            out += [module.weight.detach().numpy().T, module.bias.detach().numpy()]
        else:
            out += [module.weight.detach().numpy(), module.bias.detach().numpy()]
    return out


def trainable_arrays(model):
    return [w.copy() for w in model.trainable_weights]


def lenet_data(dtype, n=8):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((n, 32, 32, 1)).astype(dtype)
    y = rng.integers(0, 10, n)
    return x, y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lenet5_predictions_and_one_sgd_step(dtype):
    model = lenet5(dtype)
    assert model.count_params() == 61706
    net = torch_lenet5(model, dtype)
    x, y = lenet_data(dtype)

    probs = model.predict(x, verbose=0)
    probs_t = torch.softmax(net(nchw(x)), dim=1).detach().numpy()
    assert probs.dtype == np.dtype(dtype)
    close(probs, probs_t, dtype, "LeNet-5 predictions")

    model.compile(optimizer=optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    loss = model.train_on_batch(x, y)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    opt.zero_grad()
    loss_t = torch.nn.CrossEntropyLoss()(net(nchw(x)), torch.tensor(y))
    loss_t.backward()
    opt.step()
    close(loss, loss_t.item(), dtype, "LeNet-5 loss")
    modules = [m for m in net if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    for i, (mine, theirs) in enumerate(zip(trainable_arrays(model), torch_weights_as_keras(modules))):
        close(mine, theirs, dtype, f"LeNet-5 weight {i} after one SGD step")


def test_sgd_nesterov_momentum_matches_torch_two_steps():
    """Keras:  m = mu m - lr g;  w += mu m - lr g.   torch:  b = mu b + g;  w -= lr (g + mu b).
    With b = -m / lr the two coincide for a constant learning rate; check it on LeNet-5."""
    dtype = "float64"
    model = lenet5(dtype)
    net = torch_lenet5(model, dtype)
    x, y = lenet_data(dtype)
    model.compile(optimizer=optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                  loss="sparse_categorical_crossentropy")
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    before = trainable_arrays(model)
    for step in range(2):
        model.train_on_batch(x, y)
        opt.zero_grad()
        torch.nn.CrossEntropyLoss()(net(nchw(x)), torch.tensor(y)).backward()
        opt.step()
    modules = [m for m in net if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    after = trainable_arrays(model)
    assert any(not np.allclose(a, b) for a, b in zip(after, before))
    for i, (mine, theirs) in enumerate(zip(after, torch_weights_as_keras(modules))):
        close(mine, theirs, dtype, f"weight {i} after two nesterov steps")


def test_conv_bn_relu_pool_dense_gradients_in_training_mode():
    dtype = "float64"
    model = tinyconv.Sequential([
        tinyconv.Input(shape=(10, 10, 3), dtype=dtype),
        layers.Conv2D(4, 3, padding="same", dtype=dtype),
        layers.BatchNormalization(dtype=dtype),
        layers.ReLU(dtype=dtype),
        layers.MaxPooling2D(2, dtype=dtype),
        layers.Flatten(dtype=dtype),
        layers.Dense(5, activation="softmax", dtype=dtype),
    ])
    rng = np.random.default_rng(8)
    bn = model.layers[1]
    bn.set_weights([rng.uniform(0.5, 1.5, 4), rng.standard_normal(4) * 0.1, np.zeros(4), np.ones(4)])
    x = rng.standard_normal((6, 10, 10, 3))
    y = rng.integers(0, 5, 6)

    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4, eps=1e-3, momentum=0.01),
        torch.nn.ReLU(), torch.nn.MaxPool2d(2), NHWCFlatten(), torch.nn.Linear(100, 5),
    ).double()
    mods = [net[0], net[1], net[5]]
    load_into_torch(model, mods)
    before = trainable_arrays(model)

    lr = 0.05
    model.compile(optimizer=optimizers.SGD(lr), loss="sparse_categorical_crossentropy")
    loss = model.train_on_batch(x, y)
    net.train()
    loss_t = torch.nn.CrossEntropyLoss()(net(nchw(x)), torch.tensor(y))
    loss_t.backward()
    close(loss, loss_t.item(), dtype, "loss")

    # Gradients = (w_before - w_after) / lr for plain SGD, and the layers' stored grads.
    torch_grads = []
    for m in mods:
        if isinstance(m, torch.nn.Conv2d):
            torch_grads += [keras_kernel(m.weight.grad), m.bias.grad.numpy()]
        elif isinstance(m, torch.nn.Linear):
            torch_grads += [m.weight.grad.numpy().T, m.bias.grad.numpy()]
        else:
            torch_grads += [m.weight.grad.numpy(), m.bias.grad.numpy()]
    stored = [g for layer in model.layers for g in (layer.trainable_gradients() if layer.weights else [])]
    assert len(stored) == len(torch_grads) == 6
    for i, (g, gt, b, a) in enumerate(zip(stored, torch_grads, before, trainable_arrays(model))):
        close(g, gt, dtype, f"gradient {i}")
        close((b - a) / lr, gt, dtype, f"update {i}")
    # Moving mean follows the same rule (torch momentum 0.01 = 1 - Keras's 0.99).
    close(bn.moving_mean, net[1].running_mean.numpy(), dtype, "moving mean")
