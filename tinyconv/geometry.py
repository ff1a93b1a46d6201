"""Output sizes and padding, shared by every kernel and layer.

The course's formula for one spatial axis is

    out = floor((N + P_before + P_after - D*(F - 1) - 1) / S) + 1

with N the input size, F the kernel (or pool) size, S the stride, D the dilation and P the
padding.  ``D*(F-1)+1`` is the *effective* kernel size: a 3x3 kernel with dilation 2 sees 5x5.

Keras's ``padding="same"`` picks the padding that makes ``out = ceil(N / S)`` and, when the
total is odd, puts the extra cell at the end (bottom / right), as TensorFlow does.
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
