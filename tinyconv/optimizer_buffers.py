"""A model's trainable weights in one flat buffer per dtype, for one fused optimizer step on the GPU.

On the CPU the optimizer updates each weight with a few NumPy operations.  On a GPU every
operation is a kernel launch of a few microseconds, whatever its size, so a model with 60 weights
would pay about 600 launches per step for its optimizer alone.  Laid end to end in one buffer,

    params  [ kernel 1 | pad | bias 1 | pad | kernel 2 | ... ]     each weight a view into it
    grads   [ the gradients, gathered by one concatenate        ]
    m, v... [ the optimizer's slots, laid out as params         ]

the whole step is one elementwise kernel (``kernels/gpu/fused_update.py``).

The layers must keep seeing their weights, so packing *moves* them: each weight's ``Variable``
and every layer attribute that held its array (``layer.kernel``) is repointed to its view, as
``Model.to_device`` does.  The optimizer's per-weight state (``optimizer._state``) keeps its
shape: one entry per weight whose slot arrays are views into the flat slot buffers, so saving,
loading and ``reset`` see what they always saw.

Each weight starts on a 256-byte boundary, where a separately allocated array would start, so the
matrix products and raw kernels reading a weight see no difference; the padding holds zeros.

Everything here is written against the weights' array module (CuPy, or the test suite's
stand-in); nothing synchronises with the device.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import devices
from .devices import DeviceArray
from .variables import Variable

ALIGNMENT_BYTES = 256
FLAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class FlatGroup:
    """The weights of one dtype laid end to end in one buffer, with their gradients and slots.

    Args:
        arrays: the weights' current arrays (all of one float dtype, on one device); their values
            are copied into the new buffer.

    Attributes:
        params: the flat weight buffer; ``views[k]`` is weight ``k`` inside it, in its shape.
        grads: the flat gradient buffer, refilled by ``gather`` each step.
        slots: slot name -> flat buffer laid out as ``params`` (filled by ``pack_slot``).
    """

    def __init__(self, arrays: Sequence[DeviceArray]) -> None:
        self.xp: Any = devices.array_module_of(arrays[0])  # CuPy (or its stand-in): Any to the type checker
        self.dtype = np.dtype(arrays[0].dtype)
        self.shapes = [tuple(a.shape) for a in arrays]
        self.sizes = [int(a.size) for a in arrays]
        align = max(1, ALIGNMENT_BYTES // self.dtype.itemsize)
        self.offsets: list[int] = []
        end = 0
        for size in self.sizes:
            self.offsets.append(end)
            end = -(-(end + size) // align) * align  # the next weight starts on the next boundary
        self.size = end
        self.pads = [next_offset - offset - size for offset, size, next_offset
                     in zip(self.offsets, self.sizes, self.offsets[1:] + [end])]
        self._zeros = self.xp.zeros(max(self.pads + [1]), dtype=self.dtype)
        self.params = self._gather(arrays, self.xp.empty(self.size, dtype=self.dtype))
        self.views = self.views_of(self.params)
        self.grads = self.xp.empty(self.size, dtype=self.dtype)
        self.slots: dict[str, DeviceArray] = {}
        self.slot_views: dict[str, list[DeviceArray]] = {}
        self._segments: tuple[DeviceArray, DeviceArray, DeviceArray] | None = None

    def views_of(self, flat: DeviceArray) -> list[DeviceArray]:
        """Each weight's view into ``flat`` (a buffer laid out as ``params``), in its shape."""
        return [flat[offset:offset + size].reshape(shape)
                for offset, size, shape in zip(self.offsets, self.sizes, self.shapes)]

    def _gather(self, arrays, out):
        """``arrays`` laid end to end into ``out``, zeros in the padding: one concatenate."""
        pieces = []
        for array, pad in zip(arrays, self.pads):
            pieces.append(array.reshape(-1))
            if pad:
                pieces.append(self._zeros[:pad])
        return self.xp.concatenate(pieces, out=out)

    def gather(self, grads: Sequence[DeviceArray]) -> DeviceArray:
        """This step's gradients (one per weight, each in its weight's shape) into ``grads``;
        a gradient of another float dtype is cast to the weights' dtype on the way."""
        return self._gather(grads, self.grads)

    def pack_slot(self, name: str, arrays: Sequence[DeviceArray | None], fill: float) -> list[DeviceArray]:
        """A flat buffer for slot ``name`` from each weight's existing slot array, or ``fill`` where
        ``arrays[k]`` is None; returns the slot's per-weight views."""
        filler: Any = None  # a device array of fill values, where some weight has no slot array yet
        if any(a is None for a in arrays):
            filler = self.xp.full(max(self.sizes), fill, dtype=self.dtype)
        pieces = [filler[:size] if a is None else a for a, size in zip(arrays, self.sizes)]
        self.slots[name] = self._gather(pieces, self.xp.empty(self.size, dtype=self.dtype))
        self.slot_views[name] = self.views_of(self.slots[name])
        return self.slot_views[name]

    def segments(self) -> tuple[DeviceArray, DeviceArray, DeviceArray]:
        """(starts, ends, segment): where each weight lies in the buffer, as device arrays, and
        for every element the index of its weight (padding belongs to the weight before it).
        Built once, for per-weight gradient clipping."""
        if self._segments is None:
            starts = np.asarray(self.offsets, dtype=np.int64)
            ends = starts + np.asarray(self.sizes, dtype=np.int64)
            lengths = np.diff(np.append(starts, self.size))
            segment = np.repeat(np.arange(len(starts), dtype=np.int32), lengths)
            self._segments = tuple(self.xp.asarray(a) for a in (starts, ends, segment))
        return self._segments


class FlatWeights:
    """Trainable weights packed into one ``FlatGroup`` per dtype, in the order they were given.

    Make one with ``pack``; ``holds(arrays)`` says whether a step's weights are exactly these.
    """

    def __init__(self, variables: list[Variable], groups: list[FlatGroup], places: list[tuple[int, int]]) -> None:
        self.variables = variables
        self.groups = groups
        self.places = places  # weight k is groups[g].views[j] for (g, j) = places[k]
        self.arrays = [groups[g].views[j] for g, j in places]
        self._ids = [id(a) for a in self.arrays]

    def holds(self, arrays: Sequence[DeviceArray]) -> bool:
        """True when ``arrays`` are this packing's weight views, in its order (the views are kept
        alive here, so their ids cannot be reused by other arrays)."""
        return len(arrays) == len(self._ids) and all(id(a) == i for a, i in zip(arrays, self._ids))

    def gather(self, grads: Sequence[DeviceArray]) -> None:
        """Each group's gradients into its flat buffer (one concatenate per dtype)."""
        for g, group in enumerate(self.groups):
            group.gather([grad for grad, (place, _) in zip(grads, self.places) if place == g])

    def sync_slots(self, state: dict[int, dict[str, Any]], slot_names: Sequence[str],
                   fill: Callable[[str], float]) -> None:
        """Make each weight's entry in the optimizer's per-weight ``state`` hold views into the flat
        slot buffers, building a buffer where any entry does not (the first step, after ``reset``,
        after state was loaded into separate arrays).

        Args:
            state: the optimizer's ``{id(weight array): {"param": array, slot name: array}}``.
            slot_names: the optimizer's slots (``("m", "v")`` for Adam).
            fill: ``fill(slot name)`` is the initial value of a slot that has no array yet.
        """
        for group in self.groups:
            for name in slot_names:
                views = group.slot_views.get(name)
                entries = [state.get(id(view)) for view in group.views]
                if views is not None and all(entry is not None and entry.get(name) is view
                                             for entry, view in zip(entries, views)):
                    continue  # the usual step: nothing to do
                existing = [None if entry is None else entry.get(name) for entry in entries]
                views = group.pack_slot(name, existing, fill(name))
                for param, entry, view in zip(group.views, entries, views):
                    if entry is None:
                        entry = state[id(param)] = {"param": param}
                    entry[name] = view

    @classmethod
    def pack(cls, variables: Sequence[Any], holders: Sequence[Any] | None, previous: FlatWeights | None = None,
             state: dict[int, dict[str, Any]] | None = None) -> FlatWeights | None:
        """Move ``variables`` into new flat buffers and repoint everything that held their arrays.

        Args:
            variables: the trainable weights, as ``Variable``s on the GPU.
            holders: the layers or models whose attributes may hold the weights' arrays; the layers
                they contain are searched too.
            previous: the packing this one replaces: its weights left out now (frozen since, say)
                get arrays of their own again, so its buffers can be freed.
            state: the optimizer's per-weight state, re-keyed to the moved arrays (the slots of
                weights left out are copied off the old buffers; ``sync_slots`` gathers the others).

        Returns:
            A ``FlatWeights``, or None when the weights cannot be packed (not all ``Variable``s of
            float32/float64, repeated, or held by a layer that ``holders`` does not reach - repointing
            would leave that layer with a stale copy).
        """
        if not variables or not all(isinstance(v, Variable) for v in variables):
            return None
        if len({id(v) for v in variables}) != len(variables):
            return None
        if not all(devices.is_device_array(v.value) and np.dtype(v.value.dtype) in FLAT_DTYPES
                   for v in variables):
            return None
        layers = _layers_reached(holders)
        owned = {id(w) for layer in layers for w in getattr(layer, "_weights", ())}
        if not all(id(v) in owned or not _belongs_to_a_layer(v) for v in variables):
            return None
        by_dtype: dict[np.dtype[Any], list[Variable]] = {}
        places: list[tuple[int, int]] = []
        for v in variables:
            members = by_dtype.setdefault(np.dtype(v.value.dtype), [])
            places.append((list(by_dtype).index(np.dtype(v.value.dtype)), len(members)))
            members.append(v)
        groups = [FlatGroup([v.value for v in members]) for members in by_dtype.values()]
        # old array id -> (old array, its new array); the weights packed now, then those left out
        moved = {id(v.value): (v.value, groups[g].views[j]) for v, (g, j) in zip(variables, places)}
        packed = set(moved)
        # Weights of the old packing left out now (a layer frozen since) get an array of their own
        # again, off the old buffer - where a reached layer holds them, so it can be repointed.
        left_out = [v for v in (previous.variables if previous is not None else ())
                    if id(v.value) not in moved and id(v) in owned]
        for v in left_out:
            moved[id(v.value)] = (v.value, v.value.copy())
        for v in list(variables) + left_out:
            v.value = moved[id(v.value)][1]
        _repoint(layers, moved)
        if state is not None:
            _rekey(state, moved, packed)
        return cls(list(variables), groups, places)


def _belongs_to_a_layer(variable):
    """Layer weights have a path ``layer/name``; a bare ``Variable`` of a custom loop has none."""
    return "/" in getattr(variable, "path", "")


def _layers_reached(holders):
    """Every layer or model in ``holders`` and, recursively, the layers they hold."""
    found, seen, stack = [], set(), list(holders or ())
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        found.append(obj)
        inner = getattr(obj, "layers", None)
        if isinstance(inner, (list, tuple)):
            stack.extend(inner)
        stack.extend(getattr(obj, "__dict__", {}).get("_tracked_layers", ()))
    return found


def _repoint(objects, moved):
    """Every attribute of ``objects`` that *is* a moved array now names its new array."""
    for obj in objects:
        attributes = getattr(obj, "__dict__", None)
        if not attributes:
            continue
        for name, value in list(attributes.items()):
            entry = moved.get(id(value))
            if entry is not None and entry[0] is value:
                attributes[name] = entry[1]


def _rekey(state, moved, packed):
    """Per-weight optimizer state follows its weight to the new array; a weight that left the
    flat buffers takes copies of its slots (the old slot buffers are then unreferenced)."""
    for key, (old, new) in moved.items():
        entry = state.pop(key, None)
        if entry is None or entry.get("param") is not old:
            if entry is not None:
                state[key] = entry  # an entry of some other array that reused the id: not ours
            continue
        copy = key not in packed
        state[id(new)] = {name: new if name == "param" else
                          (value.copy() if copy and hasattr(value, "shape") else value)
                          for name, value in entry.items()}
