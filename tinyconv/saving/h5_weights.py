"""Keras 3's ``.weights.h5`` layout (also the ``model.weights.h5`` inside a ``.keras`` zip).

Weights are stored by the model's *structure*, not by layer names::

    vars                          (attrs: name = the model's name; no datasets)
    layers/conv2d/vars/0          the first Conv2D in model.layers: kernel
    layers/conv2d/vars/1                                            bias
    layers/conv2d_1/vars/0        the second Conv2D, and so on
    layers/functional/layers/...  a model used as a layer nests the same way
    layers/my_block/layers/...    so do the layers a custom layer holds (after its own vars)
    optimizer/vars/0, 1, ...      iterations, learning rate, then each weight's slots

The group of a layer is its class name in snake case, numbered by how many layers of that
class came before it in ``model.layers``; inside ``vars`` the arrays are numbered trainable
weights first, then non-trainable ones (Keras's order).

A model on the GPU saves and loads the same files: each array is copied to the host to be written,
and each value read is copied into the weight (or optimizer slot) where it lives.
"""
import numpy as np

from .. import devices, naming, serialization
from . import h5_checks


def weight_slots(layer):
    """A plain layer's ``Weight`` slots in Keras's order: trainable first, then non-trainable."""
    slots = list(getattr(layer, "_weights", []))
    return [w for w in slots if w.trainable] + [w for w in slots if not w.trainable]


def is_model(layer):
    """A model used as a layer (its weights nest under its own layers), known by its registered kind."""
    return serialization.kind_of(layer) == "models"


def layer_keys(layers):
    """(group key, layer) pairs: ``dense``, ``dense_1``, ... by class, as Keras names them."""
    used = {}
    for layer in layers:
        base = naming.to_snake_case(type(layer).__name__)
        count = used.get(base)
        used[base] = 0 if count is None else count + 1
        yield (base if count is None else f"{base}_{used[base]}"), layer


# ------------------------------------------------------------------ writing
def _write_vars(group, name, arrays):
    vars_group = group.create_group("vars")
    vars_group.attrs["name"] = name
    for index, array in enumerate(arrays):
        vars_group.create_dataset(str(index), data=devices.to_host(array))


def _write_layers(group, layers, visited):
    layers_group = group.create_group("layers")
    for key, layer in layer_keys(layers):
        if id(layer) in visited:  # the same object reached twice is stored once
            continue
        visited.add(id(layer))
        layer_group = layers_group.create_group(key)
        if is_model(layer):
            _write_vars(layer_group, layer.name, [])
            _write_layers(layer_group, layer.layers, visited)
        else:
            _write_vars(layer_group, layer.name, [w.value for w in weight_slots(layer)])
            if getattr(layer, "_tracked_layers", None):  # a custom layer's own layers nest under it
                _write_layers(layer_group, layer._tracked_layers, visited)


def optimizer_arrays(optimizer, params):
    """Keras's optimizer variables: iterations, learning rate, then for each weight its slots."""
    arrays = [devices.to_host(optimizer.iterations).astype(np.int64),
              devices.to_host(optimizer.learning_rate).astype(np.float32)]
    for param in params:
        array = getattr(param, "value", param)  # a Variable's array: the optimizer's state is keyed on it
        state = optimizer._state.get(id(array), {})
        arrays.extend(state.get(slot, np.zeros(array.shape, array.dtype)) for slot in optimizer._slots)
    return arrays


def write_model_state(h5, model, include_optimizer=True):
    """Write ``model``'s weights (and its optimizer's state) into an open ``h5py.File``."""
    _write_vars(h5, model.name, [])
    _write_layers(h5, model.layers, set())
    if include_optimizer and model.optimizer is not None:
        optimizer_group = h5.create_group("optimizer")
        _write_vars(optimizer_group, model.optimizer.name,
                    optimizer_arrays(model.optimizer, model.trainable_weights))


# ------------------------------------------------------------------ reading
# Loading is all or nothing, in three steps: (1) walk the file and the model together, checking each
# dataset's link, storage, dtype and declared shape without reading it; (2) read every checked dataset;
# (3) only then copy the values into the model (and its optimizer).  A bad file changes nothing.
def _stored_datasets(h5, path, where):
    """The checked (unread) datasets under ``path/vars`` in index order; None when the file has no such layer."""
    vars_group = h5_checks.child_group(h5, f"{path}/vars", where)
    if vars_group is None:
        return None
    return [h5_checks.plain_dataset(vars_group, str(i), where) for i in range(len(vars_group))]


def _plan_layers(h5, path, layers, plan, visited, where):
    for key, layer in layer_keys(layers):
        if id(layer) in visited:
            continue
        visited.add(id(layer))
        layer_path = f"{path}/{key}"
        if is_model(layer):
            _plan_layers(h5, f"{layer_path}/layers", layer.layers, plan, visited, where)
            continue
        slots = weight_slots(layer)
        datasets = _stored_datasets(h5, layer_path, where)
        if datasets is None:
            if slots or getattr(layer, "_tracked_layers", None):
                raise ValueError(f"{layer.describe()}: the weights file has no entry '{layer_path}' for its "
                                 f"{len(slots)} weight(s); it was saved from a different architecture")
            continue
        plan_layer(layer, slots, datasets, plan)
        if getattr(layer, "_tracked_layers", None):
            _plan_layers(h5, f"{layer_path}/layers", layer._tracked_layers, plan, visited, where)


def plan_layer(layer, slots, datasets, plan):
    """Check one layer's stored datasets (declared shapes, nothing read) against its weights; queue the copies."""
    if len(datasets) != len(slots):
        raise ValueError(f"{layer.describe()}: expected {len(slots)} weight(s) "
                         f"{[(w.name, w.value.shape) for w in slots]}, the file has {len(datasets)} "
                         f"with shapes {[d.shape for d in datasets]}")
    for slot, dataset in zip(slots, datasets):
        h5_checks.check_shape(dataset, slot.value.shape, f"{layer.describe()}: weight '{slot.name}'")
        plan.append((slot, dataset))


def read_plan(plan):
    """(slot, values) pairs: every queued dataset read, nothing assigned yet."""
    return [(slot, h5_checks.read(dataset)) for slot, dataset in plan]


def apply_plan(values):
    """Copy every read array in place (only after all of them were checked and read)."""
    for slot, array in values:
        devices.assign(slot.value, array)   # in place, on the weight's device


def read_model_state(h5, model, load_optimizer=True, where="weights file"):
    """Load weights written by ``write_model_state`` (or by Keras 3) into ``model``, all or nothing."""
    if not model.built:
        raise ValueError(f"{model.describe()} is not built yet: build it (or give it an Input) before "
                         "loading weights")
    if h5_checks.child_group(h5, "layers", where) is None:
        raise ValueError(f"{where}: not a Keras 3 weights file: it has no 'layers' group")
    plan = []
    _plan_layers(h5, "layers", model.layers, plan, set(), where)
    optimizer_plan = None
    if load_optimizer and model.optimizer is not None:
        optimizer_plan = plan_optimizer_state(h5, model.optimizer, model.trainable_weights, where)
    weights = read_plan(plan)
    optimizer_values = read_optimizer_plan(optimizer_plan) if optimizer_plan else None
    apply_plan(weights)
    if optimizer_values:
        apply_optimizer_values(optimizer_values, model.optimizer)


def _scalar(dataset, where):
    if dataset.size != 1:
        raise ValueError(f"{where}: '{dataset.name}' should hold one number, the file declares shape "
                         f"{dataset.shape}")
    return dataset


def plan_optimizer_state(h5, optimizer, params, where):
    """Checked datasets for iterations and, when the layout matches this optimizer, each weight's slots.

    None when the file has no optimizer state.  A different optimizer (or an unbuilt Keras one) keeps
    only the iteration count: its slots start afresh.
    """
    datasets = _stored_datasets(h5, "optimizer", where)
    if not datasets:
        return None
    iterations = _scalar(datasets[0], where)
    if len(datasets) > 1:
        _scalar(datasets[1], where)  # the learning rate: checked, not read (the compiled one stays)
    slot_datasets = datasets[2:]
    slots = []
    if optimizer._slots and len(slot_datasets) == len(params) * len(optimizer._slots):
        stored = iter(slot_datasets)
        for param in params:
            for slot in optimizer._slots:
                dataset = next(stored)
                if tuple(dataset.shape) == tuple(param.shape):
                    slots.append((param, slot, dataset))
    return iterations, slots


def read_optimizer_plan(optimizer_plan):
    iterations, slots = optimizer_plan
    count = h5_checks.read(iterations).reshape(-1)[0]
    if not np.isfinite(count) or count < 0:
        raise ValueError(f"weights file: the optimizer's iteration count '{iterations.name}' is {count}")
    return int(count), [(param, slot, h5_checks.read(dataset)) for param, slot, dataset in slots]


def apply_optimizer_values(values, optimizer):
    iterations, slots = values
    optimizer.iterations = iterations
    for param, slot, value in slots:
        devices.assign(optimizer._state_for(param)[slot], value)
