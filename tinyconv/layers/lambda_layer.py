"""``Lambda``: a Python function used as a layer, its backward from the tape.

``layers.Lambda(lambda x: x * 2.0)`` wraps any function written with ``tinyconv.ops`` (or the
operators on tensors); like a custom layer with only ``call``, its gradient comes from the tape.

Saving stores the function's code (marshal bytes, base64) as Keras does.  Loading that back means
running code from a file, so, as Keras, a loader refuses unless the user says the file is trusted:
``load_model(path, safe_mode=False)`` (or ``tinyconv.config.enable_unsafe_deserialization()``).
"""
import base64
import marshal
import types

from .. import serialization
from .base import Layer
from .taped import probe_output_shape


class Lambda(Layer):
    """Wraps a function as a layer: ``Lambda(lambda x: x ** 2)``.

    Args:
        function: the function, called as ``function(inputs, **arguments)`` (and ``mask=`` is not passed).
        output_shape: the output shape without the batch axis, or a function of the input shape; by
            default it is found by running ``function`` on a small dummy batch.
        mask: Keras's masking argument; tinyconv has no masks, so it must be None.
        arguments: extra keyword arguments for ``function``.
        **kwargs: the base layer's arguments (``name``, ``dtype``, ...).

    Example:

    >>> square = layers.Lambda(lambda x: x ** 2, name="square")
    >>> square(np.array([[1.0, -2.0]])).tolist()
    [[1.0, 4.0]]
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda: function must be callable, got {function!r}")
        if mask is not None:
            raise ValueError("Lambda: mask= is not supported (tinyconv has no masking); leave it None")
        self.function = function
        self._output_shape_spec = output_shape
        self.arguments = dict(arguments or {})

    def call(self, inputs):
        return self.function(inputs, **self.arguments)

    def compute_output_shape(self, input_shape):
        spec = self._output_shape_spec
        if spec is None:
            return probe_output_shape(self, input_shape)
        if callable(spec):
            return tuple(spec(input_shape))
        batch = input_shape[0][0] if isinstance(input_shape, list) else input_shape[0]
        return (batch,) + tuple(spec)

    def get_config(self):
        config = super().get_config()
        config.update({"function": _serialize_function(self.function), "arguments": self.arguments,
                       "output_shape": (None if self._output_shape_spec is None or callable(self._output_shape_spec)
                                        else list(self._output_shape_spec))})
        return config

    @classmethod
    def from_config(cls, config, safe_mode=None):
        config = dict(config)
        config["function"] = _deserialize_function(config["function"], config.get("name"), safe_mode)
        if isinstance(config.get("output_shape"), list):
            config["output_shape"] = tuple(config["output_shape"])
        return cls(**config)


def _serialize_function(function):
    """Keras's form of a function: a registered name, or its bytecode (a lambda)."""
    if isinstance(function, types.LambdaType) and function.__name__ == "<lambda>" or \
            function.__module__ == "__main__":
        code = base64.b64encode(marshal.dumps(function.__code__)).decode("ascii")
        return {"class_name": "__lambda__", "config": {"code": code, "defaults": function.__defaults__,
                                                       "closure": None}}
    return {"class_name": "function", "config": function.__name__, "module": function.__module__}


def _deserialize_function(spec, layer_name, safe_mode):
    if not isinstance(spec, dict):
        raise ValueError(f"Lambda '{layer_name}': cannot read its function from {spec!r}")
    if spec.get("class_name") == "function":
        # A named function: only tinyconv's own (ops, activations) are looked up; a file never imports a module.
        import importlib
        module_name = str(spec.get("module", ""))
        if not (module_name == "tinyconv" or module_name.startswith("tinyconv.")):
            raise ValueError(f"Lambda '{layer_name}': its function {spec.get('config')!r} lives in module "
                             f"{module_name!r}; pass it in custom_objects, or rebuild the layer in code")
        function = getattr(importlib.import_module(module_name), str(spec["config"]), None)
        if function is None:
            raise ValueError(f"Lambda '{layer_name}': {module_name} has no function {spec.get('config')!r}")
        return function
    if spec.get("class_name") != "__lambda__":
        raise ValueError(f"Lambda '{layer_name}': unknown function record {spec.get('class_name')!r}")
    if not serialization.unsafe_loading_allowed(safe_mode):
        raise ValueError(
            f"Lambda '{layer_name}': the file holds the bytecode of a Python lambda, and loading it would run that "
            "code. Only do this for a file you trust: load_model(path, safe_mode=False), or "
            "tinyconv.config.enable_unsafe_deserialization()."
        )
    code = marshal.loads(base64.b64decode(spec["config"]["code"]))
    defaults = spec["config"].get("defaults")
    from .. import ops
    return types.FunctionType(code, {"ops": ops, "keras": __import__("tinyconv")}, None,
                              tuple(defaults) if defaults else None)


serialization.register("layers", Lambda)
