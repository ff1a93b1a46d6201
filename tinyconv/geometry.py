"""Output sizes and padding, shared by every kernel and layer.

The course's formula for one spatial axis is

    out = floor((N + P_before + P_after - D*(F - 1) - 1) / S) + 1

with N the input size, F the kernel (or pool) size, S the stride, D the dilation and P the
padding.  ``D*(F-1)+1`` is the *effective* kernel size: a 3x3 kernel with dilation 2 sees 5x5.

Keras's ``padding="same"`` picks the padding that makes ``out = ceil(N / S)`` and, when the
total is odd, puts the extra cell at the end (bottom / right), as TensorFlow does.

Every layer and kernel takes its sizes from here: convolutions and pooling (``output_size``,
``same_padding``), locally connected layers (``locally_connected_output_hw``) and transposed
convolutions (``keras_transpose_pads``, ``transpose_axis_geometry``).  This module imports
nothing from tinyconv, so kernels and layers alike may import it.
"""


def effective_kernel_size(kernel, dilation=1):
    """Size of the window a dilated kernel spans: D*(F-1)+1."""
    return dilation * (kernel - 1) + 1


def same_padding(size, kernel, stride, dilation=1):
    """(before, after) padding for Keras's 'same' on one axis."""
    out = -(-size // stride)  # ceil(size / stride)
    total = max((out - 1) * stride + effective_kernel_size(kernel, dilation) - size, 0)
    return total // 2, total - total // 2


def resolve_padding(padding, input_hw, kernel_hw, strides, dilation=(1, 1)):
    """Turn a padding spec into ((top, bottom), (left, right)).

    ``padding`` is 'valid', 'same', an int, a pair (pad_h, pad_w) or a pair of pairs
    ((top, bottom), (left, right)).
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0), (0, 0))
        if mode == "same":
            return tuple(same_padding(n, k, s, d) for n, k, s, d in zip(input_hw, kernel_hw, strides, dilation))
        raise ValueError(f"padding must be 'valid', 'same' or explicit sizes, got {padding!r}")
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    pads = tuple(padding)
    if len(pads) != 2:
        raise ValueError(f"explicit padding needs two entries (height, width), got {padding!r}")
    resolved = tuple((p, p) if isinstance(p, int) else tuple(p) for p in pads)
    if any(len(p) != 2 or min(p) < 0 for p in resolved):
        raise ValueError(f"explicit padding must be non-negative (before, after) pairs, got {padding!r}")
    return resolved


def output_size(size, kernel, stride, pad_before, pad_after, dilation=1):
    """The course's formula: floor((N + P - D*(F-1) - 1) / S) + 1."""
    span = size + pad_before + pad_after - effective_kernel_size(kernel, dilation)
    if span < 0:
        return 0
    return span // stride + 1


def output_hw(input_hw, kernel_hw, strides, pads, dilation=(1, 1)):
    return tuple(
        output_size(n, k, s, p[0], p[1], d) for n, k, s, p, d in zip(input_hw, kernel_hw, strides, pads, dilation)
    )


def locally_connected_output_hw(input_hw, kernel_size, strides):
    """Valid padding: OH = floor((H - KH) / SH) + 1, and the same for OW."""
    return tuple(output_size(n, k, s, 0, 0) for n, k, s in zip(input_hw, kernel_size, strides))


# --- transposed convolution --------------------------------------------------------------------
#
# Output size per axis (Keras's arithmetic, as TensorFlow and JAX compute it), with
# K = d*(k-1) + 1 the dilated kernel:
#
#     stamped ("full") size   (N - 1)*S + K
#     valid                   (N - 1)*S + K + output_padding       output_padding defaults to max(K, S) - K
#     same                    N*S                                  when output_padding is None
#                             (N - 1)*S + K % 2 + output_padding   otherwise
#
# which is the course's  (N - 1)*S - 2P + F + output_padding  with the padding P cropped from
# the full stamp.  Keras (like JAX) states it as the padding of the equivalent direct convolution
# over the stride-dilated input, per axis:
#
#     pad_len = S + K - 2                         (same, no output_padding)
#               K + K % 2 - 2 + output_padding    (same, with output_padding)
#     left    = min(ceil(pad_len / 2), K - 1)     right = pad_len - left
#     valid:  left = K - 1,  right = K - 1 + output_padding
#
# and the stamp keeps K-1-left cells fewer on the left and K-1-right fewer on the right.  When
# that count is negative the output has cells no stamp reaches: they hold only the bias.


def keras_transpose_pads(kernel, stride, dilation, padding, output_padding):
    """Keras's (left, right) padding on one axis of a transposed convolution, seen from the
    equivalent direct convolution (see the comment above)."""
    effective = effective_kernel_size(kernel, dilation)
    if padding == "valid":
        if output_padding is None:
            output_padding = max(effective, stride) - effective
        return effective - 1, effective - 1 + output_padding
    if output_padding is None:
        pad_len = stride + effective - 2
    else:
        pad_len = effective + effective % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, effective - 1)
    return left, pad_len - left


def transpose_axis_geometry(size, kernel, stride, dilation, padding, output_padding):
    """For one axis of a transposed convolution: (output size, conv pads (before, after),
    bias-only cells (before, after)).

    The stamped output has (size-1)*stride + K cells.  Keras crops ``K-1-left`` of them at the
    start and ``K-1-right`` at the end; a negative crop adds cells no input reaches.  Seen from
    the convolution, a crop is padding of its input, an added cell is simply not convolved.
    """
    effective = effective_kernel_size(kernel, dilation)
    left, right = keras_transpose_pads(kernel, stride, dilation, padding, output_padding)
    crop_before, crop_after = effective - 1 - left, effective - 1 - right
    out = (size - 1) * stride + effective - crop_before - crop_after
    conv_pads = (max(crop_before, 0), max(crop_after, 0))
    unreached = (max(-crop_before, 0), max(-crop_after, 0))
    return out, conv_pads, unreached
