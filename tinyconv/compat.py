"""Run a Keras script on tinyconv without editing it.

``install_keras_aliases()`` makes ``import keras``, ``from keras.layers import Conv2D``,
``from tensorflow import keras`` and ``from tensorflow.keras.layers import Dense`` (and the
other submodules scripts import) resolve to tinyconv.  From the shell:

    python -m tinyconv.compat my_keras_script.py [its arguments]

Only for scripts: a process that also needs the real Keras or TensorFlow should use
``import tinyconv as keras`` instead.
"""
import contextlib
import importlib
import runpy
import sys
import types

# Submodules scripts import, and older Keras 2 paths that held the same classes.
_SUBMODULES = {
    "layers": "layers", "models": "models", "optimizers": "optimizers", "losses": "losses",
    "metrics": "metrics", "callbacks": "callbacks", "utils": "utils", "datasets": "datasets",
    "backend": "backend", "initializers": "initializers", "activations": "activations",
    "regularizers": "regularizers", "preprocessing": "preprocessing",
    "preprocessing.image": "preprocessing.image", "preprocessing.sequence": "preprocessing.sequence",
    "datasets.mnist": "datasets.mnist", "datasets.fashion_mnist": "datasets.fashion_mnist",
    "datasets.cifar10": "datasets.cifar10", "optimizers.schedules": "optimizers.schedules",
    "saving": "saving",
    "layers.core": "layers", "layers.convolutional": "layers", "layers.pooling": "layers",
    "layers.normalization": "layers", "layers.merge": "layers", "utils.np_utils": "utils",
}

# tf.<name> -> tinyconv.ops.<name>: only where the two agree on arguments and results.
_TENSORFLOW_FUNCTIONS = {"GradientTape": "GradientTape", "concat": "concatenate", "shape": "shape", "ones": "ones",
                         "zeros": "zeros"}


def _alias_table():
    import tinyconv

    table = {"keras": tinyconv, "tensorflow.keras": tinyconv}
    for alias, target in _SUBMODULES.items():
        try:
            module = importlib.import_module(f"tinyconv.{target}")
        except ImportError:
            continue  # a part this installation does not have
        table[f"keras.{alias}"] = module
        table[f"tensorflow.keras.{alias}"] = module
    tensorflow = types.ModuleType("tensorflow", "tinyconv standing in for tensorflow.keras")
    tensorflow.keras = tinyconv
    # The few TensorFlow functions Keras's TensorFlow guides use around a custom train_step, each the keras.ops
    # function (or tape) that does the same: tf.GradientTape is tinyconv's tape.
    for name, value in _TENSORFLOW_FUNCTIONS.items():
        setattr(tensorflow, name, getattr(tinyconv.ops, value))
    table["tensorflow"] = tensorflow
    return table


def install_keras_aliases():
    """Point the ``keras`` / ``tensorflow.keras`` module names at tinyconv.  Returns what was
    there before, for ``remove_keras_aliases``."""
    table = _alias_table()
    previous = {name: sys.modules.get(name) for name in table}
    sys.modules.update(table)
    return previous


def remove_keras_aliases(previous):
    for name, module in previous.items():
        if module is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module


@contextlib.contextmanager
def keras_aliases():
    """``with keras_aliases(): runpy.run_path("script.py")``."""
    previous = install_keras_aliases()
    try:
        yield
    finally:
        remove_keras_aliases(previous)


def run_script(path, argv=()):
    """Run a Keras script as ``__main__`` with the aliases in place."""
    saved_argv = sys.argv
    sys.argv = [str(path), *argv]
    try:
        with keras_aliases():
            return runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = saved_argv


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m tinyconv.compat SCRIPT.py [ARGS...]")
    run_script(sys.argv[1], sys.argv[2:])
