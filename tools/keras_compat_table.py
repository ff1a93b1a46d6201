"""Generate docs/keras_compatibility.md: every public name of Keras 3 and tinyconv's status for it.

Both packages are imported (Keras on its torch backend) and compared name by name, so the table cannot
drift from the code: tests/test_keras_compat_table.py regenerates it in memory and fails when the file
is stale.  For each public name of ``keras`` and of its namespaces listed in ``SECTIONS``:

* **same**: tinyconv has the name, and for a function or class the parameter names and defaults of its
  signature match Keras's (a class is compared through its constructor);
* **differs**: tinyconv has the name, but the signatures differ (found automatically and listed) and/or
  the behaviour differs on purpose (explained in ``DIFFERS``);
* **missing**: tinyconv lacks the name; ``MISSING`` says why, else "not yet implemented".

Run it after adding or changing a public name:

    python tools/keras_compat_table.py            # rewrite docs/keras_compatibility.md
    python tools/keras_compat_table.py --check    # exit status 1 when the file is stale
"""
import argparse
import fnmatch
import importlib
import inspect
import os
import re
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "keras_compatibility.md"

# The namespaces compared, in the table's order ("" is the top level: ``keras.X``).
SECTIONS = ["", "layers", "models", "callbacks", "metrics", "losses", "optimizers", "utils", "datasets",
            "applications", "config", "constraints", "activations", "initializers", "regularizers"]

# Deliberate differences, keyed "section.Name" ("Name" alone for the top level; "*" matches any run of
# characters).  Shown after the signature differences found automatically.
DIFFERS = {
    "callbacks.TensorBoard": "event files are written with tensorboardX (no TensorFlow); profile_batch must be 0 "
                             "(there is no profiler); write_graph stores the model's config (TensorBoard's "
                             "conceptual graph), not an op-level graph; weight images are min-max scaled",
    "applications.[A-Z]*": "channels_last images only (Keras also builds channels_first)",
    "applications.imagenet_utils": "preprocess_input returns a new array (Keras may overwrite a float input)",
    "backend": "tinyconv computes with NumPy (and CuPy on a GPU): backend() returns 'numpy'",
}

# Why a name is missing, keyed like DIFFERS.
_NO_TENSORFLOW = "needs TensorFlow, JAX or torch underneath; tinyconv computes with NumPy"
_NO_MIXED_PRECISION = "tinyconv computes in float32 or float64 only: no dtype policies, mixed precision or quantization"
MISSING = {
    "DTypePolicy": _NO_MIXED_PRECISION, "FloatDTypePolicy": _NO_MIXED_PRECISION, "dtype_policies": _NO_MIXED_PRECISION,
    "mixed_precision": _NO_MIXED_PRECISION, "Quantizer": _NO_MIXED_PRECISION, "quantizers": _NO_MIXED_PRECISION,
    "config.*dtype_policy": _NO_MIXED_PRECISION, "config.*flash_attention": "no attention layers yet",
    "distribution": "single-device engine: no data or model parallelism across devices",
    "export": "no SavedModel / TF-Serving export: " + _NO_TENSORFLOW,
    "wrappers": "the scikit-learn wrappers are not yet implemented",
    "remat": "no rematerialisation: backprop keeps each layer's activations", "RematScope": "see remat",
    "StatelessScope": "layers hold their weights in place; no stateless tracing", "SymbolicScope": "no tracing scopes",
    "Function": "no traced functions: the functional graph runs layer by layer",
    "distillation": "not yet implemented",
    "applications.ConvNeXt*": "not yet implemented (the course's families are VGG, ResNet, MobileNet, DenseNet)",
    "applications.EfficientNet*": "not yet implemented (the course's families are VGG, ResNet, MobileNet, DenseNet)",
    "applications.efficientnet*": "not yet implemented", "applications.convnext": "not yet implemented",
    "applications.Inception*": "not yet implemented", "applications.inception_*": "not yet implemented",
    "applications.NASNet*": "not yet implemented", "applications.nasnet": "not yet implemented",
    "applications.MobileNetV3*": "not yet implemented (needs hard-swish and squeeze-excite blocks)",
    "applications.mobilenet_v3": "not yet implemented",
    "applications.ResNet*V2": "not yet implemented (the pre-activation ResNets)",
    "applications.resnet_v2": "not yet implemented",
    "applications.Xception": "not yet implemented", "applications.xception": "not yet implemented",
    "utils.audio_dataset_from_directory": "no audio support", "utils.text_dataset_from_directory": "no text support",
    "utils.FeatureSpace": "no structured-data preprocessing",
}

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_MODULE_NAMES_SHOWN = 12  # a namespace outside SECTIONS lists this many of the names it lacks


def load_packages():
    """(keras, tinyconv), Keras on its torch backend."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = importlib.import_module("keras")
    sys.path.insert(0, str(ROOT))
    tinyconv = importlib.import_module("tinyconv")
    return keras, tinyconv


def namespace(package, section):
    return package if not section else getattr(package, section, None)


def public_names(module):
    return sorted(name for name in dir(module) if not name.startswith("_"))


def lookup(table, section, name):
    key = f"{section}.{name}" if section else name
    for pattern, text in table.items():
        if pattern == key or ("*" in pattern and fnmatch.fnmatchcase(key, pattern)):
            return text
    return None


def kind(obj):
    if isinstance(obj, types.ModuleType):
        return "module"
    if inspect.isclass(obj):
        return "class"
    if callable(obj):
        return "function"
    return "constant"


def signature(obj):
    """The parameters of a function, or of a class's ``__init__`` (without ``self``); None when Python
    cannot tell, or when the signature is only ``(*args, **kwargs)`` and so says nothing."""
    try:
        if inspect.isclass(obj):
            parameters = list(inspect.signature(obj.__init__).parameters.values())[1:]
            found = inspect.Signature(parameters)
        else:
            found = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    opaque = all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in found.parameters.values())
    return None if opaque and found.parameters else found


def _normal(value):
    """A default in a comparable form: a tuple of one repeated value is that value (Keras writes
    ``strides=(1, 1)`` where an int means the same), lists are tuples."""
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, tuple) and value and all(v == value[0] for v in value):
        return value[0]
    return value


def _same_default(a, b):
    if a is inspect.Parameter.empty or b is inspect.Parameter.empty:
        return a is b
    a, b = _normal(a), _normal(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)  # 1e-07 and 1e-7, 0 and 0.0
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # objects whose == raises or returns an array
        return False


def _show(value):
    return "required" if value is inspect.Parameter.empty else _ADDRESS.sub("", repr(value))


def signature_differences(theirs, ours):
    """What differs between two signatures: parameters Keras has that tinyconv's lacks, extra ones, defaults."""
    mine, keras_sig = signature(ours), signature(theirs)
    if mine is None or keras_sig is None:
        return []
    named = lambda sig: {p.name: p for p in sig.parameters.values()
                         if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    catch_all = lambda sig: any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    keras_params, our_params = named(keras_sig), named(mine)
    notes = []
    missing = [name for name in keras_params if name not in our_params]
    if missing:
        notes.append(f"parameters not in tinyconv's signature: {', '.join(missing)}"
                     + (" (tinyconv takes **kwargs)" if catch_all(mine) else ""))
    extra = [name for name in our_params if name not in keras_params]
    if extra:
        notes.append(f"extra parameters: {', '.join(extra)}")
    defaults = [f"{name}={_show(keras_params[name].default)} in Keras, {_show(our_params[name].default)} here"
                for name in keras_params if name in our_params
                and not _same_default(keras_params[name].default, our_params[name].default)]
    if defaults:
        notes.append("defaults differ: " + "; ".join(defaults))
    return notes


def status(section, name, theirs, ours_module, ours_root):
    """(status, note) of one Keras name."""
    ours = getattr(ours_module, name, None) if ours_module is not None else None
    if ours is None:
        elsewhere = [f"tinyconv.{other}.{name}" for other in SECTIONS[1:]
                     if other != section and kind(getattr(namespace(ours_root, other), name, None)) == kind(theirs)
                     and hasattr(namespace(ours_root, other), name)]
        reason = lookup(MISSING, section, name) or "not yet implemented"
        if section == "" and elsewhere and kind(theirs) != "module":
            reason = f"not at the top level yet; available as {', '.join(elsewhere)}"
        return "missing", reason
    notes = []
    if kind(theirs) != kind(ours) and {kind(theirs), kind(ours)} != {"class", "function"}:
        notes.append(f"a {kind(theirs)} in Keras, a {kind(ours)} here")
    if kind(theirs) in ("class", "function") and kind(ours) in ("class", "function"):
        notes.extend(signature_differences(theirs, ours))
    if kind(theirs) == "module" and kind(ours) == "module":
        lacking = [n for n in public_names(theirs) if not hasattr(ours, n)]
        if lacking and section == "" and name in SECTIONS:
            notes.append(f"lacks {len(lacking)} of its {len(public_names(theirs))} names: see `keras.{name}` below")
        elif lacking:
            shown = ", ".join(lacking[:_MODULE_NAMES_SHOWN]) + (", ..." if len(lacking) > _MODULE_NAMES_SHOWN else "")
            notes.append(f"lacks {len(lacking)} of its {len(public_names(theirs))} names: {shown}")
    explained = lookup(DIFFERS, section, name)
    if explained:
        notes.append(explained)
    return ("differs" if notes else "same"), "; ".join(notes)


def compare(keras, tinyconv):
    """{section: [(name, kind, status, note), ...]} for every public Keras name."""
    table = {}
    for section in SECTIONS:
        theirs = namespace(keras, section)
        ours = namespace(tinyconv, section)
        rows = []
        for name in public_names(theirs):
            if section == "" and name == "src":  # Keras's private implementation package
                continue
            state, note = status(section, name, getattr(theirs, name), ours, tinyconv)
            rows.append((name, kind(getattr(theirs, name)), state, note))
        table[section] = rows
    return table


def _cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def render(table, keras_version):
    """The Markdown page."""
    lines = [
        "# Keras compatibility: every public Keras name, and tinyconv's status",
        "",
        f"Generated by `python tools/keras_compat_table.py` from keras {keras_version} (torch backend) and tinyconv;",
        "`tests/test_keras_compat_table.py` fails when this file no longer matches the code. Do not edit it by hand:",
        "add deliberate differences and reasons to the dictionaries in the script, then regenerate.",
        "",
        "* **same**: tinyconv has the name; for a function or a class, its parameter names and defaults match Keras's.",
        "* **differs**: tinyconv has the name, and its signature differs (listed, found automatically) or its",
        "  behaviour differs on purpose (explained).",
        "* **missing**: tinyconv does not have the name (why, where known).",
        "",
        "## Summary",
        "",
        "| namespace | names | same | differs | missing |",
        "|---|---:|---:|---:|---:|",
    ]
    for section, rows in table.items():
        counts = {state: sum(row[2] == state for row in rows) for state in ("same", "differs", "missing")}
        lines.append(f"| `keras{'.' + section if section else ''}` | {len(rows)} | {counts['same']} | "
                     f"{counts['differs']} | {counts['missing']} |")
    for section, rows in table.items():
        title = f"keras.{section}" if section else "keras (top level)"
        lines += ["", f"## `{title}`", "", "| name | kind | status | notes |", "|---|---|---|---|"]
        for name, what, state, note in rows:
            lines.append(f"| `{name}` | {what} | {state} | {_cell(note)} |")
    return "\n".join(lines) + "\n"


def generate():
    keras, tinyconv = load_packages()
    return render(compare(keras, tinyconv), keras.__version__)


def recorded_keras_version(text):
    """The Keras version a generated page was made from (None if the page does not say)."""
    found = re.search(r"from keras (\S+) \(torch backend\)", text)
    return found.group(1) if found else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(OUTPUT), help="the Markdown file to write")
    parser.add_argument("--check", action="store_true", help="only compare; exit status 1 when the file is stale")
    args = parser.parse_args(argv)
    text = generate()
    path = Path(args.output)
    if args.check:
        current = path.read_text() if path.exists() else ""
        if current != text:
            print(f"{path} is stale: run python tools/keras_compat_table.py")
            return 1
        print(f"{path} is up to date")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
