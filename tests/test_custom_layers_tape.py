"""Custom layers and models that define only ``call()``: the tape derives their backward.

Checked: the tape itself (fan-out sums, unreached values, NumPy refused on taped values), layers written
with ``tinyconv.ops`` train to the same weights as the same model built from built-in layers, gradients
agree with finite differences (float64) and PyTorch autograd, subclassed models train and round-trip
through ``.keras``, ops on functional-API tensors become saved graph nodes, ``Lambda`` and its safe mode,
``add_loss``, and the hand-written training loop with ``GradientTape``.
"""
import numpy as np
import pytest

import tinyconv as keras
from tinyconv import layers, ops, teaching
from tinyconv.ops.tape import Tape

RNG = np.random.default_rng(0)
X = RNG.standard_normal((24, 5)).astype("float32")
Y = RNG.standard_normal((24, 3)).astype("float32")


# ------------------------------------------------------------------ the tape
def test_fan_out_gradients_are_summed_and_unreached_values_get_none():
    with Tape() as tape:
        x = tape.watch(np.array([1.0, 2.0, 3.0]))
        unused = tape.watch(np.array([5.0]))
        y = ops.sum(x * x + x)  # x feeds two ops: dy/dx = 2x + 1
    dx, dunused = tape.gradient(y, [x, unused])
    np.testing.assert_allclose(dx, [3.0, 5.0, 7.0])
    assert dunused is None


def test_numpy_functions_on_taped_values_are_refused_with_the_op_to_use():
    with Tape() as tape:
        x = tape.watch(np.ones(3))
        with pytest.raises(TypeError, match=r"tinyconv\.ops\.mean"):
            np.mean(x)


def test_numpy_ufunc_on_a_weight_while_recording_keeps_its_gradient():
    w = keras.Variable(np.array([2.0, 3.0]))
    with Tape() as tape:
        y = ops.sum(np.multiply(w, np.array([4.0, 5.0])))  # NumPy's spelling, sent to ops.multiply
    np.testing.assert_allclose(tape.gradient(y, [w])[0], [4.0, 5.0])
    assert isinstance(np.multiply(w, 2.0), np.ndarray)  # no tape: plain NumPy on the value


# ------------------------------------------------------------------ custom layers train like built-in ones
class Linear(layers.Layer):
    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="kernel")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


class Residual(layers.Layer):
    """x + relu(dense(x)), the dense layer held by the custom layer."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = layers.Dense(5, dtype=self.dtype)  # (float64 for the gradient check)

    def call(self, x):
        return x + ops.relu(self.inner(x))


def _train(model, epochs=3, loss="mse", optimizer=None):
    model.compile(optimizer=optimizer or keras.optimizers.Adam(0.01), loss=loss)
    history = model.fit(X, Y, epochs=epochs, batch_size=8, shuffle=False, verbose=0)
    return history.history["loss"]


def test_a_layer_written_with_ops_trains_to_the_same_weights_as_dense(fresh_names):
    custom = keras.Sequential([layers.Input((5,)), Linear(3)])
    builtin = keras.Sequential([layers.Input((5,)), layers.Dense(3)])
    builtin.set_weights(custom.get_weights())
    losses = [_train(custom), _train(builtin)]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)
    for a, b in zip(custom.get_weights(), builtin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_residual_block_with_call_only_matches_the_functional_one(fresh_names):
    block = Residual()
    custom = keras.Sequential([layers.Input((5,)), block, layers.Dense(3)])
    inputs = layers.Input((5,))
    dense = layers.Dense(5)
    hidden = layers.Add()([inputs, layers.ReLU()(dense(inputs))])
    builtin = keras.Model(inputs, layers.Dense(3)(hidden))
    assert [w.name for w in block.weights] == ["kernel", "bias"]  # the held Dense's weights are the block's
    builtin.set_weights(custom.get_weights())
    _train(custom, optimizer=keras.optimizers.SGD(0.05))
    _train(builtin, optimizer=keras.optimizers.SGD(0.05))
    for a, b in zip(custom.get_weights(), builtin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


class LearnedScale(layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

    def call(self, x):
        return x * self.scale


class FeatureAttention(layers.Layer):
    """Weights each feature by a softmax over learned scores of the input: x * softmax(x W)."""

    def build(self, input_shape):
        n = input_shape[-1]
        self.w = self.add_weight(shape=(n, n), initializer="glorot_uniform", name="scores")

    def call(self, x):
        return x * ops.softmax(ops.matmul(x, self.w), axis=-1)


@pytest.mark.parametrize("make", [LearnedScale, FeatureAttention, Residual], ids=lambda c: c.__name__)
def test_tape_gradients_agree_with_finite_differences(make):
    layer = make(dtype="float64")
    report = teaching.gradient_check(layer, RNG.standard_normal((4, 5)), tol=1e-6)
    assert report.passed, str(report)


def test_tape_gradients_agree_with_pytorch_autograd():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((4, 5))
    layer = FeatureAttention(dtype="float64")
    layer(x)
    dy = RNG.standard_normal((4, 5))
    layer.forward(x, training=True)
    dx = layer.backward(dy)
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(layer.w.numpy(), requires_grad=True)
    (tx * torch.softmax(tx @ tw, dim=-1)).backward(torch.tensor(dy))
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(layer.grads["scores"], tw.grad.numpy(), rtol=1e-10)


def test_a_custom_loss_layer_trains_a_model_compiled_without_a_loss(fresh_names):
    class Penalty(layers.Layer):
        def call(self, x):
            self.add_loss(ops.mean(ops.square(x)))  # pull the outputs towards zero
            return x

    inputs = layers.Input((5,))
    model = keras.Model(inputs, Penalty()(layers.Dense(3)(inputs)))
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    before = float(np.mean(model.predict(X, verbose=0) ** 2))
    history = model.fit(X, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][0] == pytest.approx(before, rel=0.2)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_weights_of_a_layer_holding_layers_follow_keras_order(fresh_names):
    keras_ = pytest.importorskip("keras")

    def block(k):
        class Block(k.layers.Layer):
            def __init__(self):
                super().__init__()
                self.first = k.layers.Dense(4)
                self.norm = k.layers.BatchNormalization()

            def build(self, input_shape):
                self.gain = self.add_weight(shape=(4,), initializer="ones", name="gain")

            def call(self, x):
                return self.norm(self.first(x)) * self.gain
        layer = Block()
        layer(np.ones((2, 3), "float32"))
        return [(w.name, tuple(w.shape), w.trainable) for w in layer.weights]

    assert block(keras) == block(keras_)


# ------------------------------------------------------------------ subclassed models
class ResNetBlockModel(keras.Model):
    def __init__(self, classes=3, **kwargs):
        super().__init__(**kwargs)
        self.classes = classes
        self.stem = layers.Conv2D(4, 3, padding="same")
        self.conv = layers.Conv2D(4, 3, padding="same", activation="relu")
        self.norm = layers.BatchNormalization()
        self.pool = layers.GlobalAveragePooling2D()
        self.head = layers.Dense(classes)

    def call(self, x, training=False):
        x = self.stem(x)
        x = ops.relu(x + self.norm(self.conv(x), training=training))
        return self.head(self.pool(x))


def test_a_subclassed_resnet_block_trains_and_round_trips_through_a_keras_file(tmp_path, fresh_names):
    images = RNG.standard_normal((16, 8, 8, 2)).astype("float32")
    labels = RNG.integers(0, 3, 16)
    model = ResNetBlockModel(classes=3)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(images, labels, epochs=4, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert [type(l).__name__ for l in model.layers] == ["Conv2D", "Conv2D", "BatchNormalization",
                                                        "GlobalAveragePooling2D", "Dense"]
    assert model.get_config()["classes"] == 3
    model.save(tmp_path / "net.keras")
    loaded = keras.models.load_model(tmp_path / "net.keras", custom_objects={"ResNetBlockModel": ResNetBlockModel})
    assert type(loaded) is ResNetBlockModel and loaded.count_params() == model.count_params()
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-6)
    loaded.fit(images, labels, epochs=1, verbose=0)  # the optimizer came back too


def test_summary_of_a_subclassed_model_after_build(capsys, fresh_names):
    model = ResNetBlockModel()
    model.build((None, 8, 8, 2))
    model.summary()
    out = capsys.readouterr().out
    assert "conv2d (Conv2D)" in out and f"Total params: {model.count_params()}" in out


# ------------------------------------------------------------------ ops on functional-API tensors
def test_tensor_arithmetic_between_layer_calls_is_saved_and_differentiated(tmp_path, fresh_names):
    a, b = layers.Input((4,)), layers.Input((4,))
    h = layers.Dense(4)(a)
    joined = ops.concatenate([(h + b)[:, 1:3], -(2.0 - h[:, :2]) ** 2], axis=-1)
    model = keras.Model([a, b], joined)
    assert [type(l).__name__ for l in model.layers] == ["InputLayer", "Dense", "InputLayer"]
    config_entry = {e["class_name"] for e in model.get_config()["layers"]}
    assert {"Add", "GetItem", "Concatenate", "Power"} <= config_entry
    xs = [RNG.standard_normal((6, 4)).astype("float32") for _ in range(2)]
    kernel, bias = model.get_weights()
    h_np = xs[0] @ kernel + bias
    expected = np.concatenate([(h_np + xs[1])[:, 1:3], -(2.0 - h_np[:, :2]) ** 2], axis=-1)
    np.testing.assert_allclose(model.predict(xs, verbose=0), expected, rtol=1e-5)
    model.save(tmp_path / "ops.keras")
    loaded = keras.models.load_model(tmp_path / "ops.keras")
    np.testing.assert_allclose(loaded.predict(xs, verbose=0), expected, rtol=1e-5)
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(xs, np.zeros((6, 4)))
    assert np.abs(model.trainable_gradients()[0]).sum() > 0  # the gradient went back through the op nodes


def test_x_plus_y_trains_exactly_like_the_add_layer(fresh_names):
    def build(use_operator):
        inputs = layers.Input((5,))
        d1, d2 = layers.Dense(3, name="d1"), layers.Dense(3, name="d2")
        out = d1(inputs) + d2(inputs) if use_operator else layers.Add()([d1(inputs), d2(inputs)])
        return keras.Model(inputs, out)

    with_op, with_layer = build(True), build(False)
    with_layer.set_weights(with_op.get_weights())
    _train(with_op), _train(with_layer)
    for a, b in zip(with_op.get_weights(), with_layer.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ Lambda
def test_lambda_trains_and_loading_its_code_needs_safe_mode_off(tmp_path, fresh_names):
    model = keras.Sequential([layers.Input((5,)), layers.Lambda(lambda t: t * 2.0 + 1.0), layers.Dense(3)])
    _train(model, epochs=1)
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match=r"safe_mode=False"):
        keras.models.load_model(tmp_path / "lambda.keras")
    loaded = keras.models.load_model(tmp_path / "lambda.keras", safe_mode=False)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)


# ------------------------------------------------------------------ a hand-written training loop
def test_a_gradient_tape_loop_takes_the_same_steps_as_train_on_batch(fresh_names):
    looped = keras.Sequential([layers.Input((5,)), layers.Dense(4, activation="tanh"), Linear(3)])
    fitted = keras.Sequential([layers.Input((5,)), layers.Dense(4, activation="tanh"), layers.Dense(3)])
    fitted.set_weights(looped.get_weights())
    fitted.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    optimizer, loss_fn = keras.optimizers.SGD(0.1), keras.losses.MeanSquaredError()
    for start in range(0, 24, 8):
        batch_x, batch_y = X[start:start + 8], Y[start:start + 8]
        with keras.GradientTape() as tape:
            loss = loss_fn(batch_y, looped(batch_x, training=True))
        grads = tape.gradient(loss, looped.trainable_weights)
        optimizer.apply(grads, looped.trainable_weights)  # Keras 3's order: (grads, variables)
        assert float(loss) == pytest.approx(float(fitted.train_on_batch(batch_x, batch_y)), rel=1e-6)
    for a, b in zip(looped.get_weights(), fitted.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ the teaching printer
def test_tape_step_prints_each_op_and_each_gradient_share():
    report = teaching.tape_step(LearnedScale(dtype="float64"), np.array([[1.0, -2.0]]))
    text = str(report)
    assert "multiply" in text and "scale" in text
    shares = report.backward_rows()
    assert [row[2] for row in shares] == ["x", "scale"]
    np.testing.assert_allclose(report.gradient_of(report.inputs[0]), [[1.0, 1.0]])  # d(x s)/dx = s = 1


def test_a_model_called_twice_in_a_subclassed_model_sums_both_calls_gradients(fresh_names):
    encoder = keras.Sequential([layers.Input((4,)), layers.Dense(3, activation="tanh", dtype="float64")],)

    class Siamese(keras.Model):
        def __init__(self, encoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder = encoder

        def call(self, x):
            return self.encoder(x[:, :4]) - self.encoder(x[:, 4:])

    model = Siamese(encoder)
    x = RNG.standard_normal((6, 8))
    target = RNG.standard_normal((6, 3))
    loss_fn = keras.losses.MeanSquaredError()
    with keras.GradientTape() as tape:
        loss = loss_fn(target, model(x, training=True))
    kernel_grad = tape.gradient(loss, model.trainable_weights)[0]
    kernel = encoder.layers[0].kernel
    numeric = np.zeros_like(kernel)
    for index in np.ndindex(kernel.shape):
        kernel[index] += 1e-6
        plus = loss_fn(target, model(x))
        kernel[index] -= 2e-6
        minus = loss_fn(target, model(x))
        kernel[index] += 1e-6
        numeric[index] = (plus - minus) / 2e-6
    np.testing.assert_allclose(kernel_grad, numeric, rtol=1e-5, atol=1e-8)
