"""Keras 3's ``.weights.h5`` layout (also the ``model.weights.h5`` inside a ``.keras`` zip).

Weights are stored by the model's *structure*, not by layer names::

    vars                          (attrs: name = the model's name; no datasets)
    layers/conv2d/vars/0          the first Conv2D in model.layers: kernel
    layers/conv2d/vars/1                                            bias
    layers/conv2d_1/vars/0        the second Conv2D, and so on
    layers/functional/layers/...  a model used as a layer nests the same way
    optimizer/vars/0, 1, ...      iterations, learning rate, then each weight's slots

The group of a layer is its class name in snake case, numbered by how many layers of that
class came before it in ``model.layers``; inside ``vars`` the arrays are numbered trainable
weights first, then non-trainable ones (Keras's order).
"""
import numpy as np

from .. import naming, serialization


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
        vars_group.create_dataset(str(index), data=np.asarray(array))


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


def optimizer_arrays(optimizer, params):
    """Keras's optimizer variables: iterations, learning rate, then for each weight its slots."""
    arrays = [np.asarray(optimizer.iterations, dtype=np.int64),
              np.asarray(optimizer.learning_rate, dtype=np.float32)]
    for param in params:
        state = optimizer._state.get(id(param), {})
        arrays.extend(state.get(slot, np.zeros_like(param)) for slot in optimizer._slots)
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
def _stored_arrays(group, path):
    """The arrays under ``path/vars`` in index order ([] when the layer stored none)."""
    if path not in group or "vars" not in group[path]:
        return None
    vars_group = group[path]["vars"]
    return [np.asarray(vars_group[str(i)]) for i in range(len(vars_group))]


def _plan_layers(h5, path, layers, plan, visited):
    for key, layer in layer_keys(layers):
        if id(layer) in visited:
            continue
        visited.add(id(layer))
        layer_path = f"{path}/{key}"
        if is_model(layer):
            _plan_layers(h5, f"{layer_path}/layers", layer.layers, plan, visited)
            continue
        slots = weight_slots(layer)
        arrays = _stored_arrays(h5, layer_path)
        if arrays is None:
            if slots:
                raise ValueError(f"{layer.describe()}: the weights file has no entry '{layer_path}' for its "
                                 f"{len(slots)} weight(s); it was saved from a different architecture")
            continue
        plan_layer(layer, slots, arrays, plan)


def plan_layer(layer, slots, arrays, plan):
    """Check one layer's stored arrays against its weights; queue the copies."""
    if len(arrays) != len(slots):
        raise ValueError(f"{layer.describe()}: expected {len(slots)} weight(s) "
                         f"{[(w.name, w.value.shape) for w in slots]}, the file has {len(arrays)} "
                         f"with shapes {[a.shape for a in arrays]}")
    for slot, array in zip(slots, arrays):
        if array.shape != slot.value.shape:
            raise ValueError(f"{layer.describe()}: weight '{slot.name}' has shape {slot.value.shape} in the "
                             f"model but {array.shape} in the file")
        plan.append((slot, array))


def apply_plan(plan):
    """Copy every checked array in place (only after all of them passed, so a bad file changes nothing)."""
    for slot, array in plan:
        slot.value[...] = array


def read_model_state(h5, model, load_optimizer=True):
    """Load weights written by ``write_model_state`` (or by Keras 3) into ``model``."""
    if not model.built:
        raise ValueError(f"{model.describe()} is not built yet: build it (or give it an Input) before "
                         "loading weights")
    if "layers" not in h5:
        raise ValueError("not a Keras 3 weights file: it has no 'layers' group")
    plan = []
    _plan_layers(h5, "layers", model.layers, plan, set())
    apply_plan(plan)
    if load_optimizer and model.optimizer is not None and "optimizer" in h5:
        read_optimizer_state(_stored_arrays(h5, "optimizer") or [], model.optimizer, model.trainable_weights)


def read_optimizer_state(arrays, optimizer, params):
    """Restore iterations and, when the layout matches this optimizer, each weight's slots."""
    if len(arrays) < 1:
        return
    optimizer.iterations = int(arrays[0])
    slot_arrays = arrays[2:]
    if len(slot_arrays) != len(params) * len(optimizer._slots) or not optimizer._slots:
        return  # a different optimizer or an unbuilt Keras one: start its slots afresh
    values = iter(slot_arrays)
    for param in params:
        state = optimizer._state_for(param)
        for slot in optimizer._slots:
            value = next(values)
            if value.shape == param.shape:
                state[slot][...] = value
