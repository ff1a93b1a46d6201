"""Making the ranks' models equal: check they agree, then copy rank 0's weights (and optimizer state).

Synchronous data parallelism only works if every rank starts from the same weights: after that,
identical averaged gradients keep them identical. Rank 0's values are broadcast, in one fused
buffer, into every rank's arrays in place (so the optimizer's per-weight state, keyed on the
array, still finds them).

Before any array moves, the ranks compare what they hold: a different model on one rank (another
layer size, a missing layer) would otherwise pair the wrong arrays, or leave one rank waiting for
bytes that never come. Every rank sees every rank's answer, so all of them raise the same error
and none is left waiting.
"""
from .fused import FusedBuffer, array_of, layout_of


def all_layers(model):
    """Every layer of ``model``, nested models walked into, each once."""
    found, seen = [], set()

    def walk(layers):
        for layer in layers:
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            if hasattr(layer, "layers") and hasattr(layer, "compile"):
                walk(layer.layers)
            else:
                found.append(layer)

    walk(model.layers)
    return found


def _described_layout(model):
    return [(f"weight {i} of layer '{layer.name}'", shape, dtype) for layer in all_layers(model)
            for i, (shape, dtype, _) in enumerate(layout_of(layer.weights))]


def first_difference(mine, root):
    """Where two weight layouts (lists of (name, shape, dtype)) first differ, in words; '' when equal."""
    if [entry[1:] for entry in mine] == [entry[1:] for entry in root]:
        return ""  # the names may differ (a model loaded from a file, another naming counter)
    for index, (a, b) in enumerate(zip(mine, root)):
        if a[1:] != b[1:]:
            return f"{a[0]} is {a[1]} {a[2]} here but {b[1]} {b[2]} on rank 0 ({b[0]})"
    return f"{len(mine)} weight arrays here but {len(root)} on rank 0"


def agree_or_raise(communicator, facts, checks):
    """Gather ``facts`` (a small dict) from every rank; raise the same ValueError everywhere if a check fails.

    ``checks``: functions of the list of every rank's facts, returning an error message or ''.
    """
    everyone = communicator.allgather_object(facts)
    for check in checks:
        message = check(everyone)
        if message:
            raise ValueError(f"data parallel training over {communicator.size} ranks: {message}")


def check_same_models(everyone):
    """The check of ``agree_or_raise`` that compares the ranks' weight layouts with rank 0's."""
    root = everyone[0]["layout"]
    wrong = [(rank, first_difference(f["layout"], root)) for rank, f in enumerate(everyone)]
    wrong = [(rank, why) for rank, why in wrong if why]
    if wrong:
        return ("the ranks hold different models, so rank 0's weights cannot be broadcast: "
                + "; ".join(f"rank {rank}: {why}" for rank, why in wrong))
    return ""


def broadcast_model_state(model, communicator, facts=None, checks=()):
    """Check every rank holds the same model, then give every rank rank 0's weights and optimizer state.

    The optimizer state (step count, learning rate, slot arrays such as momentum) travels only when
    rank 0's optimizer has taken steps already, i.e. when training resumes from a saved file that rank 0
    loaded; a fresh optimizer's state is zeros everywhere anyway.

    Args:
        model: a built model.
        communicator: the ranks to make equal.
        facts: more facts for ``checks`` (a small dict), gathered in the same exchange.
        checks: more ``agree_or_raise`` checks, run on every rank's facts.

    Raises:
        ValueError: when the model is not built, or a check fails: the ranks' models differ (on every rank).
    """
    if not model.built or not model.weights:
        raise ValueError(f"{model.describe()}: build the model before data parallel training starts "
                         f"(give it a keras.Input, or call model.build(input_shape)) so that rank 0's weights "
                         f"can be broadcast before the first step")
    if communicator.size < 2:
        return
    agree_or_raise(communicator, {"layout": _described_layout(model), **(facts or {})},
                   [check_same_models, *checks])
    _broadcast_arrays(model.weights, communicator)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        _broadcast_optimizer(model, optimizer, communicator)
        if hasattr(optimizer, "_weights_broadcast"):
            optimizer._weights_broadcast = True


def _broadcast_arrays(arrays, communicator):
    if not arrays:
        return
    fused = FusedBuffer(arrays)
    fused.pack(arrays)
    for buffer in fused.buffers:
        communicator.broadcast(buffer, root=0)
    fused.unpack_into(arrays)


def _broadcast_optimizer(model, optimizer, communicator):
    rate = optimizer.__dict__.get("_learning_rate")
    scalars = {"iterations": optimizer.iterations,
               "learning_rate": rate if isinstance(rate, float) else None,
               "mu_product": getattr(optimizer, "_mu_product", None)}  # Nadam's running product
    scalars = communicator.broadcast_object(scalars, root=0)
    if isinstance(rate, float) and scalars["learning_rate"] is not None:
        optimizer.learning_rate = scalars["learning_rate"]
    if scalars["mu_product"] is not None and hasattr(optimizer, "_mu_product"):
        optimizer._mu_product = scalars["mu_product"]
    optimizer.iterations = scalars["iterations"]
    if scalars["iterations"] == 0 or not optimizer._slots:
        return  # a fresh optimizer: its slots are zeros on every rank
    slots = [optimizer._state_for(param)[slot] for param in model.trainable_weights for slot in optimizer._slots]
    _broadcast_arrays(slots, communicator)


def average_moving_statistics(model, communicator):
    """Average the non-trainable weights (batch norm's moving mean and variance) over the ranks.

    Each rank's moving statistics follow its own batches; averaging them at the end of each epoch
    keeps the ranks' models identical (and the checkpoint rank 0 writes representative). Layers that
    reduce their statistics over all ranks already (``synchronized=True``) are equal and left alone.
    """
    if communicator.size < 2:
        return
    # Frozen layers never change after the broadcast: averaging equal values could still move them
    # by a rounding step (three ranks: (a + a + a) / 3), so they are left out too.
    arrays = [w for layer in all_layers(model) if layer.trainable and not getattr(layer, "synchronized", False)
              for w in layer.non_trainable_weights if array_of(w).dtype.kind == "f"]
    if not arrays:
        return
    fused = FusedBuffer(arrays)
    fused.pack(arrays)
    for buffer in fused.buffers:
        communicator.allreduce_sum(buffer)
        buffer /= communicator.size
    fused.unpack_into(arrays)
