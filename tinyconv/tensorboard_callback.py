"""The ``TensorBoard`` callback's work: event files that TensorBoard opens, laid out as Keras 3 lays them out.

The files are written with ``tensorboardX`` (a maintained, pure-Python event-file writer on protobuf;
``pip install tensorboardX``).  What goes where, with Keras 3's directory layout and tag names::

    log_dir/train/events.out.tfevents.*        epoch_loss, epoch_accuracy, ..., epoch_learning_rate  (step: epoch)
                                               batch_loss, batch_accuracy, ... (update_freq "batch" or N;
                                                   step: the batch counted from the start of training)
                                               <layer>/<weight>/histogram      (every histogram_freq epochs)
                                               <layer>/<weight>/image          (with write_images)
                                               keras: the model's JSON config  (write_graph; TensorBoard's
                                                   Graphs tab draws it as the "conceptual graph")
    log_dir/validation/events.out.tfevents.*   epoch_loss, epoch_accuracy, ... (the val_ logs, prefix removed)
                                               evaluation_loss_vs_iterations, ... (at on_test_end; step: the
                                                   optimizer's iterations)

``TensorBoardHooks`` holds the hooks; ``tinyconv.callbacks.TensorBoard`` is this class on top of
``Callback`` (kept apart so the callbacks module stays readable and the writer library stays optional).
"""
import json
import os
import logging
import time

import numpy as np

from . import devices

logger = logging.getLogger(__name__)  # "tinyconv.tensorboard_callback", under the "tinyconv" logger

FLUSH_SECS = 10  # how stale TensorBoard's live view of a running fit may be (Keras's writer: 120 s)
INSTALL_HINT = "pip install tensorboardX   (or: pip install 'tinyconv[tensorboard]')"


def _summary_writer_class():
    try:
        from tensorboardX import SummaryWriter
    except ImportError as error:
        raise ImportError(f"the TensorBoard callback writes its event files with the tensorboardX package, "
                          f"which is not installed: {INSTALL_HINT}") from error
    return SummaryWriter


def _check_frequency(value, argument):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"TensorBoard: {argument} must be a non-negative int (0 turns it off), got "
                         f"{argument}={value!r}")
    return value


def _update_frequency(update_freq):
    """"epoch", or how many batches between two batch summaries ("batch" means 1)."""
    if update_freq == "batch":
        return 1
    if update_freq == "epoch":
        return "epoch"
    if isinstance(update_freq, bool) or not isinstance(update_freq, int) or update_freq < 1:
        raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive int (batches), got "
                         f"update_freq={update_freq!r}")
    return update_freq


def keras_model_summary(writer, model, step=0):
    """Write the model's JSON config under the tag ``keras`` with the ``graph_keras_model`` plugin marker:
    the record TensorBoard's Graphs tab reads to draw a Keras model.

    Args:
        writer: a ``tensorboardX.SummaryWriter``.
        model: the model; one without a config (custom code) is logged as a warning and skipped.
        step: the global step of the record.

    Example:

    >>> import tempfile
    >>> from tensorboardX import SummaryWriter
    >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(1)])
    >>> log_dir = tempfile.mkdtemp()
    >>> with SummaryWriter(logdir=log_dir) as writer:
    ...     keras_model_summary(writer, model)
    >>> any(name.startswith("events.out.tfevents") for name in os.listdir(log_dir))
    True
    """
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboardX.proto.tensor_pb2 import TensorProto
    from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto

    try:
        config = model.to_json()
    except Exception as error:  # a model without a config (a subclass with custom code): no graph, as Keras
        logger.warning("TensorBoard: the model's config could not be written, so no graph (%s)", error)
        return
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="graph_keras_model",
                                                                      content=b"1"))
    tensor = TensorProto(dtype="DT_STRING", string_val=[config.encode("utf8")], tensor_shape=TensorShapeProto())
    summary = Summary(value=[Summary.Value(tag="keras", metadata=metadata, tensor=tensor)])
    writer._get_file_writer().add_summary(summary, global_step=step)


def weight_image(values):
    """A weight as images ``(N, H, W, 1)`` scaled to [0, 1], or None when it has no image form.

    A bias becomes one 1-pixel-high row, a Dense kernel one image (wide side horizontal), a conv kernel
    one image per input channel; each is min-max scaled, so the picture shows the pattern, not the sign.

    Args:
        values: the weight's values (host or device array).

    Returns:
        A float32 array (N, H, W, 1) in [0, 1], or None for weights of 4 or more axes.

    Example:

    >>> weight_image(np.arange(3.0)).tolist()          # a bias: one row of 3 pixels
    [[[[0.0], [0.5], [1.0]]]]
    >>> weight_image(np.zeros((3, 3, 2, 1))).shape     # a one-filter conv kernel: one image per input channel
    (2, 3, 3, 1)
    >>> weight_image(np.zeros((3, 3, 2, 4))) is None   # more filters: no image (as in Keras)
    True
    """
    image = np.squeeze(devices.to_host(values).astype(np.float32, copy=False))
    if image.ndim == 1:
        image = image.reshape(1, 1, -1)
    elif image.ndim == 2:
        image = (image.T if image.shape[0] > image.shape[1] else image)[None]
    elif image.ndim == 3:
        image = np.transpose(image, (2, 0, 1))  # (kh, kw, in) -> one (kh, kw) image per input channel
    else:
        return None
    low, high = float(image.min()), float(image.max())
    image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return image[..., None]


def named_weights(layer):
    """(``layer/weight`` path, values) of each weight of a layer; a model used as a layer gives its layers'.

    Args:
        layer: a layer, or a model (whose layers' weights are listed).

    Yields:
        ``(path, values)`` with the values as a NumPy array, wherever the weights live.

    Example:

    >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2, name="out")])
    >>> [(path, values.shape) for path, values in named_weights(model)]
    [('out/kernel', (3, 2)), ('out/bias', (2,))]
    """
    if hasattr(layer, "layers") and not getattr(layer, "_weights", None):
        for inner in layer.layers:
            yield from named_weights(inner)
        return
    for weight in getattr(layer, "_weights", []):
        path = getattr(weight, "path", None) or f"{layer.name}/{weight.name}"
        yield path, devices.to_host(weight.value)


class TensorBoardHooks:
    """Enable visualisations for TensorBoard: event files written during ``fit`` (and ``evaluate``).

    Start TensorBoard on the folder to see them: ``tensorboard --logdir logs``.  The files are written with
    the ``tensorboardX`` package (``pip install tensorboardX``); the layout and the tag names are Keras 3's
    (see the module's docstring), so runs logged by Keras and by tinyconv compare side by side.

    Args:
        log_dir: the folder of the run; ``train/`` and ``validation/`` are written inside it.
        histogram_freq: every how many epochs to write each weight's histogram (0: never).
        write_graph: write the model's config, which TensorBoard's Graphs tab draws.
        write_images: with ``histogram_freq``, also write each weight as an image.
        write_steps_per_second: also log training steps per second (``epoch_steps_per_second``,
            ``batch_steps_per_second``).
        update_freq: ``"epoch"`` (epoch summaries only), ``"batch"`` or an int N: also write the running
            batch logs (``batch_loss``, ...) every N training batches.
        profile_batch: must be 0: tinyconv has no profiler to trace batches with.
        embeddings_freq: every how many epochs to save the weights for the embedding projector (0: never);
            a ``projector_config.pbtxt`` names the ``Embedding`` layers.
        embeddings_metadata: a file of labels for every embedding, or ``{layer name: file}``.

    Raises:
        ImportError: when ``tensorboardX`` is not installed (the message gives the pip command).
        ValueError: for a negative frequency, an unknown ``update_freq``, or a ``profile_batch`` other than 0.

    Example:

    >>> import tempfile
    >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> log_dir = tempfile.mkdtemp()
    >>> history = model.fit(np.ones((8, 3)), np.ones(8), epochs=2, verbose=0,
    ...                     callbacks=[tinyconv.callbacks.TensorBoard(log_dir)])
    >>> sorted(os.listdir(log_dir))
    ['train']
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        self._writer_class = _summary_writer_class()  # fail now, with the pip command, not mid-training
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = _check_frequency(histogram_freq, "histogram_freq")
        self.write_graph = bool(write_graph)
        self.write_images = bool(write_images)
        self.write_steps_per_second = bool(write_steps_per_second)
        self.update_freq = _update_frequency(update_freq)
        if profile_batch not in (0, None, "0", (0, 0), [0, 0]):
            raise ValueError(f"TensorBoard: profiling is not available in tinyconv (it has no profiler), so "
                             f"profile_batch must be 0, got profile_batch={profile_batch!r}")
        self.embeddings_freq = _check_frequency(embeddings_freq, "embeddings_freq")
        self.embeddings_metadata = embeddings_metadata
        self._writers = {}
        self._training = False  # between on_train_begin and on_train_end
        self._global_train_batch = 0
        self._batch_start_time = 0.0
        self._epoch_start = (0.0, 0)

    # ------------------------------------------------------------- writers
    @property
    def _train_dir(self):
        return os.path.join(self.log_dir, "train")

    @property
    def _val_dir(self):
        return os.path.join(self.log_dir, "validation")

    def _writer(self, which):
        """The writer of ``log_dir/train`` or ``log_dir/validation``, opened on first use."""
        if which not in self._writers:
            folder = self._train_dir if which == "train" else self._val_dir
            # tensorboardX writes from a background thread: what is queued reaches the disk within
            # flush_secs, and all of it when the writer is closed (at the end of fit or evaluate)
            self._writers[which] = self._writer_class(logdir=folder, flush_secs=FLUSH_SECS)
        return self._writers[which]

    def _close_writers(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    # ------------------------------------------------------------- hooks
    def set_model(self, model):
        """Keras's hook: opens the writers and writes the graph (and the projector config).

        Args:
            model: the model being trained.
        """
        super().set_model(model)
        self._close_writers()
        if self.write_graph and hasattr(model, "to_json"):
            keras_model_summary(self._writer("train"), model, step=0)
        if self.embeddings_freq:
            self._write_projector_config()

    def on_train_begin(self, logs=None):
        """Keras's hook: counting of training batches restarts.

        Args:
            logs: unused.
        """
        self._training = True
        self._global_train_batch = 0

    def on_train_end(self, logs=None):
        """Keras's hook: everything queued is written out and the files closed.

        Args:
            logs: unused.
        """
        self._training = False
        self._close_writers()

    def on_epoch_begin(self, epoch, logs=None):
        """Keras's hook: the clock for ``epoch_steps_per_second`` starts.

        Args:
            epoch: the epoch index.
            logs: unused.
        """
        if self.write_steps_per_second:
            self._epoch_start = (time.time(), self._iterations())

    def on_train_batch_begin(self, batch, logs=None):
        """Keras's hook: one more training batch (and its clock, for ``batch_steps_per_second``).

        Args:
            batch: the batch index within the epoch.
            logs: unused.
        """
        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start_time = time.time()

    def on_train_batch_end(self, batch, logs=None):
        """Keras's hook: every ``update_freq`` batches, the running logs as ``batch_<name>`` scalars.

        Args:
            batch: the batch index within the epoch.
            logs: the running metrics.
        """
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        writer = self._writer("train")
        step = self._global_train_batch
        if self.write_steps_per_second:
            elapsed = max(time.time() - self._batch_start_time, 1e-9)
            writer.add_scalar("batch_steps_per_second", 1.0 / elapsed, step)
        for name, value in (logs or {}).items():
            if np.ndim(value) == 0:
                writer.add_scalar(f"batch_{name}", float(value), step)

    def on_test_end(self, logs=None):
        """Keras's hook: evaluation results as ``evaluation_<name>_vs_iterations`` scalars.

        Args:
            logs: the evaluation's metrics.
        """
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or not hasattr(optimizer, "iterations"):
            return
        writer = self._writer("validation")
        for name, value in (logs or {}).items():
            if np.ndim(value) == 0:
                writer.add_scalar(f"evaluation_{name}_vs_iterations", float(value), int(optimizer.iterations))
        if not self._training:  # a plain evaluate() ends here: write everything out now
            self._close_writers()

    def on_epoch_end(self, epoch, logs=None):
        """Keras's hook: the epoch's metrics (``epoch_<name>``), histograms, images and embeddings as set.

        Args:
            epoch: the epoch index.
            logs: the epoch's metrics (``val_`` ones go to ``validation/``).
        """
        self._log_epoch_metrics(epoch, logs or {})
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        if self.embeddings_freq and epoch % self.embeddings_freq == 0:
            self.model.save_weights(os.path.join(self._train_dir, f"keras_embedding.ckpt-{epoch}.weights.h5"))
        for writer in self._writers.values():
            writer.flush()  # what the writer thread has written so far; the rest within FLUSH_SECS

    # ------------------------------------------------------------- what is written
    def _iterations(self):
        return int(getattr(getattr(self.model, "optimizer", None), "iterations", 0) or 0)

    def _log_epoch_metrics(self, epoch, logs):
        if not logs:
            return
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        validation = {k[len("val_"):]: v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "learning_rate"):
            train["learning_rate"] = float(optimizer.learning_rate)
        if self.write_steps_per_second:
            started, iterations = self._epoch_start
            train["steps_per_second"] = (self._iterations() - iterations) / max(time.time() - started, 1e-9)
        for which, values in (("train", train), ("validation", validation)):
            for name, value in values.items():
                if np.ndim(value) == 0:
                    self._writer(which).add_scalar(f"epoch_{name}", float(value), epoch)

    def _log_weights(self, epoch):
        writer = self._writer("train")
        # Keras's Sequential models own their weights' paths ("sequential/dense/kernel")
        prefix = f"{self.model.name}/" if type(self.model).__name__ == "Sequential" else ""
        for layer in self.model.layers:
            for path, values in named_weights(layer):
                tag = (prefix + path).replace(":", "_")
                writer.add_histogram(f"{tag}/histogram", values, epoch)
                if self.write_images:
                    image = weight_image(values)
                    if image is not None:
                        writer.add_images(f"{tag}/image", image, epoch, dataformats="NHWC")

    def _write_projector_config(self):
        """``projector_config.pbtxt``: which weights are embeddings, and their label files (Keras's layout)."""
        metadata = self.embeddings_metadata
        pending = dict(metadata) if isinstance(metadata, dict) else None
        entries = []
        for layer in self.model.layers:
            if type(layer).__name__ != "Embedding":
                continue
            entry = ['  tensor_name: "layer_with_weights-0/embeddings/.ATTRIBUTES/VARIABLE_VALUE"']
            label_file = metadata if isinstance(metadata, str) else (pending or {}).pop(layer.name, None)
            if label_file is not None:
                entry.append(f"  metadata_path: {json.dumps(os.fspath(label_file))}")
            entries.append("embeddings {\n" + "\n".join(entry) + "\n}\n")
        if pending:
            raise ValueError(f"TensorBoard: embeddings_metadata names layers that are not Embedding layers of the "
                             f"model: {sorted(pending)}")
        os.makedirs(self.log_dir, exist_ok=True)
        with open(os.path.join(self.log_dir, "projector_config.pbtxt"), "w") as handle:
            handle.write("".join(entries))
