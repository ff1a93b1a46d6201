"""The flat-buffer optimizer step on the host: the buffer layout, and every fused rule's NumPy twin
against the per-weight rule it stands for.

On the GPU a model's weights live in one flat buffer per dtype and an optimizer step is one fused
kernel (``tinyconv/optimizer_buffers.py``, ``tinyconv/kernels/gpu/fused_update.py``).  The same
code runs here on NumPy arrays - the twins are what the CuPy stand-in runs too - so each rule's
flat step is checked against the per-weight step of ``tinyconv/optimizers.py`` for several steps,
with clipping, weight decay and schedules.  The device tests are in tests/gpu/test_fused_optimizer.py.
"""
import numpy as np
import pytest

from tinyconv import optimizers, schedules
from tinyconv.kernels.gpu import fused_update
from tinyconv.optimizer_buffers import ALIGNMENT_BYTES, FlatGroup, FlatWeights

TOLERANCE = {np.float32: 1e-6, np.float64: 1e-12}

# Every optimizer with a fused rule, in each of its variants, and the options every rule shares.
CONFIGS = [
    ("SGD", {"learning_rate": 0.1}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"learning_rate": 0.01}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True, "clipnorm": 0.5}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.05, "global_clipnorm": 1.0}),
    ("RMSprop", {"learning_rate": 0.01, "clipvalue": 0.2}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True, "decay": 0.1}),
    ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.2}),
    ("Adamax", {"learning_rate": 0.01, "clipnorm": 0.3}),
    ("Nadam", {"learning_rate": 0.01, "weight_decay": 0.01}),
    ("Adadelta", {"learning_rate": 1.0, "global_clipnorm": 0.5}),
    ("Adam", {"learning_rate": schedules.ExponentialDecay(0.02, decay_steps=2, decay_rate=0.5)}),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kwargs.items() if k != 'learning_rate')}" for name, kwargs in CONFIGS]
SHAPES = [(3, 3, 2, 4), (4,), (5, 7), (), (7,)]


def _problem(dtype, steps=4, seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=shape).astype(dtype) for shape in SHAPES]
    grads = [[rng.normal(scale=2.0, size=shape).astype(dtype) for shape in SHAPES] for _ in range(steps)]
    return params, grads


def _flat_step(optimizer, flat, grads):
    """What ``Optimizer.apply`` does on the GPU once the weights are packed (here on NumPy arrays)."""
    flat.sync_slots(optimizer._state, optimizer._slots, optimizer._slot_initial_value)
    optimizer._apply_flat(flat, flat.arrays, grads, optimizer._current_learning_rate())
    optimizer.iterations += 1


def _flat_on_numpy(params):
    group = FlatGroup([p.copy() for p in params])
    return FlatWeights(list(group.views), [group], [(0, j) for j in range(len(params))])


# --------------------------------------------------------------------------------------------------
# the layout
# --------------------------------------------------------------------------------------------------
def test_each_weight_is_an_aligned_view_holding_its_values():
    params, _ = _problem(np.float32)
    group = FlatGroup(params)
    assert group.params.shape == (group.size,) and group.size % (ALIGNMENT_BYTES // 4) == 0
    for offset, view, param in zip(group.offsets, group.views, params):
        assert offset * 4 % ALIGNMENT_BYTES == 0  # where a separate allocation would start
        assert view.shape == param.shape and np.shares_memory(view, group.params)
        np.testing.assert_array_equal(view, param)
    group.views[1][...] = 7.0  # writing through a view lands in the buffer
    assert np.all(group.params[group.offsets[1]:group.offsets[1] + 4] == 7.0)


def test_gather_lays_the_gradients_out_as_the_weights_with_zeros_between():
    params, grads = _problem(np.float64)
    group = FlatGroup(params)
    group.grads[...] = np.nan  # whatever was there before
    group.gather([g.astype(np.float32) for g in grads[0]])  # cast to the weights' dtype on the way
    assert group.grads.dtype == np.float64
    expected = np.zeros(group.size)
    for offset, grad in zip(group.offsets, grads[0]):
        expected[offset:offset + grad.size] = grad.astype(np.float32).reshape(-1)
    np.testing.assert_array_equal(group.grads, expected)


def test_a_slot_buffer_takes_existing_arrays_and_fills_the_rest():
    params, _ = _problem(np.float32)
    group = FlatGroup(params)
    existing = [None, np.full(4, 3.0, np.float32), None, None, np.arange(7, dtype=np.float32)]
    views = group.pack_slot("acc", existing, 0.25)
    assert all(np.shares_memory(view, group.slots["acc"]) for view in views)
    np.testing.assert_array_equal(views[1], 3.0)
    np.testing.assert_array_equal(views[4], np.arange(7))
    np.testing.assert_array_equal(views[0], np.full((3, 3, 2, 4), 0.25))
    assert views[3].shape == () and views[3] == np.float32(0.25)


def test_segments_say_which_weight_each_element_belongs_to():
    params, _ = _problem(np.float32)
    group = FlatGroup(params)
    starts, ends, segment = group.segments()
    np.testing.assert_array_equal(starts, group.offsets)
    np.testing.assert_array_equal(ends - starts, [p.size for p in params])
    assert segment.shape == (group.size,) and segment.dtype == np.int32
    for k, (start, end) in enumerate(zip(starts, ends)):
        assert np.all(segment[start:end] == k)
    assert np.all(np.diff(segment) >= 0)  # padding belongs to the weight before it


def test_sync_slots_keeps_one_state_entry_per_weight_whose_slots_are_views():
    params, grads = _problem(np.float32)
    flat = _flat_on_numpy(params)
    optimizer = optimizers.Adam(0.01)
    _flat_step(optimizer, flat, grads[0])
    group = flat.groups[0]
    for j, view in enumerate(group.views):
        entry = optimizer._state[id(view)]
        assert entry["param"] is view
        assert entry["m"] is group.slot_views["m"][j] and np.shares_memory(entry["m"], group.slots["m"])
    buffers = dict(group.slots)
    _flat_step(optimizer, flat, grads[1])
    assert all(group.slots[name] is buffers[name] for name in buffers)  # a usual step builds nothing
    optimizer.reset()  # forgets the state: the next step starts the slots afresh
    _flat_step(optimizer, flat, grads[2])
    assert group.slots["m"] is not buffers["m"]


# --------------------------------------------------------------------------------------------------
# every fused rule equals the per-weight rule
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=IDS)
def test_the_flat_step_equals_the_per_weight_step(name, kwargs, dtype):
    params, grads = _problem(dtype)
    per_weight, fused = getattr(optimizers, name)(**kwargs), getattr(optimizers, name)(**kwargs)
    assert fused._has_fused_rule()
    separate = [p.copy() for p in params]
    flat = _flat_on_numpy(params)
    for step_grads in grads:
        per_weight.apply(separate, step_grads)
        _flat_step(fused, flat, step_grads)
    assert fused.iterations == per_weight.iterations == len(grads)
    for mine, theirs in zip(flat.arrays, separate):
        np.testing.assert_allclose(mine, theirs, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
    for theirs_state, view in zip([per_weight._state[id(p)] for p in separate], flat.arrays):
        for slot in fused._slots:  # the slots agree too
            np.testing.assert_allclose(fused._state[id(view)][slot], theirs_state[slot],
                                       rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


def test_the_weights_moved_at_all():
    # the comparison above would pass if neither path changed anything
    params, grads = _problem(np.float32)
    flat = _flat_on_numpy(params)
    _flat_step(optimizers.Adam(0.1), flat, grads[0])
    assert all(not np.array_equal(mine, before) for mine, before in zip(flat.arrays, params))


def test_a_subclass_with_its_own_rule_keeps_the_per_weight_loop():
    class Halving(optimizers.SGD):
        def _update(self, param, grad, state, lr):
            param *= param.dtype.type(0.5)

    assert not Halving(0.1)._has_fused_rule()
    assert optimizers.AdamW(0.1)._has_fused_rule()  # inherits Adam's rule and its kernel together


def test_run_elementwise_names_a_missing_scalar():
    g = np.ones(3, np.float32)
    with pytest.raises(TypeError, match="optimizer_sgd needs the scalars \\['decay'\\]"):
        fused_update.run_elementwise(fused_update.SGD, g, g.copy(), lr=0.1)


def test_the_cuda_translation_unit_binds_every_argument():
    text = fused_update.cuda_translation_unit(fused_update.CLIP_BY_NORM, "float64")
    assert "typedef double T;" in text
    assert "const double* sum_of_squares" in text and "const int segment = segment_array[i];" in text
    assert "T& g = g_array[i];" in text and "const double clipnorm" in text
    with pytest.raises(ValueError, match="float32' or 'float64', got 'float16'"):
        fused_update.cuda_translation_unit(fused_update.SGD, "float16")
