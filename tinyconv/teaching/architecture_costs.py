"""What an architecture's design choices cost: weights and multiplications, side by side, and its depth.

Counts follow the lectures' convention (CE40717, slide "Power of small filters": one 7x7 layer has 49 C^2
weights, three 3x3 layers 27 C^2): a k x k convolution from M to N channels has k * k * M * N weights (biases
left out) and does that many multiplications for each output cell, so on a D x D output

    multiplications = D * D * k * k * M * N.

* ``inception_bottleneck_saving``  a 5x5 convolution straight on the input, or behind a 1x1 "reduce"
  (GoogLeNet's inception module)
* ``bottleneck_block_cost``        ResNet's basic block against its bottleneck block (CIS5190, slide
  "Residual block designs")
* ``mobilenet_cost``               a standard convolution against a depthwise separable one (MobileNet): the
  channel-wise counterpart of the separable kernels of the Goodfellow ch. 9 deck ("Efficient Convolution
  Algorithms": O(w^d) -> O(w d)) and of its partial connectivity between channels
* ``weight_layer_depth``           the "8 / 19 / 22 / 152 layers" of the decks: layers with weights on the
  longest path
* ``units_per_layer``              the neurons per layer that the AlexNet paper lists
* ``multiply_adds``                a whole network's multiply-adds per image, the papers' cost measure
"""
from ..layers.conv import _WindowedConv
from ..layers.core import Dense
from ..models.model import Model
from .flops import layer_flops
from .table import format_table


class CostComparison:
    """Weights and multiplications of the parts of two designs, and how many times cheaper one is.

    ``comparison[description]`` is {'weights': ..., 'multiplications': ...} of that row.

    Attributes:
        times_fewer_weights: baseline weights / alternative weights.
        times_fewer_multiplications: baseline multiplications / alternative multiplications.

    Args:
        title: what is compared.
        rows: ``[(description, weights, multiplications)]``, parts and totals.
        baseline: the description of the row compared against.
        alternative: the description of the cheaper design's row.
        note: a remark printed under the table.

    Example:

    >>> comparison = tinyconv.teaching.CostComparison(
    ...     "one 5x5 or two 3x3", [("5x5", 25, 25), ("two 3x3", 18, 18)], "5x5", "two 3x3")
    >>> round(comparison.times_fewer_weights, 3), comparison["two 3x3"]["weights"]
    (1.389, 18)
    """

    def __init__(self, title, rows, baseline, alternative, note=""):
        self.title, self.rows, self.note = title, [tuple(row) for row in rows], note
        self.baseline, self.alternative = baseline, alternative
        base, alt = self[baseline], self[alternative]
        self.times_fewer_weights = base["weights"] / alt["weights"]
        self.times_fewer_multiplications = base["multiplications"] / alt["multiplications"]

    def __getitem__(self, description):
        for name, weights, multiplications in self.rows:
            if name == description:
                return {"weights": weights, "multiplications": multiplications}
        raise KeyError(f"CostComparison: no row {description!r}; rows: {[row[0] for row in self.rows]}")

    def as_dict(self):
        """The comparison as plain data: title, rows (dicts), the two rows compared and the ratios.

        Returns:
            A dict.
        """
        return {"title": self.title, "rows": [{"description": n, "weights": w, "multiplications": m}
                                              for n, w, m in self.rows],
                "times_fewer_weights": self.times_fewer_weights,
                "times_fewer_multiplications": self.times_fewer_multiplications}

    def __str__(self):
        table = format_table(["", "Weights", "Multiplications"],
                             [[n, f"{w:,}", f"{m:,}"] for n, w, m in self.rows])
        lines = [self.title, table,
                 f"{self.alternative}: {self.times_fewer_weights:.2f}x fewer weights, "
                 f"{self.times_fewer_multiplications:.2f}x fewer multiplications than {self.baseline}"]
        return "\n".join(lines + ([self.note] if self.note else []))

    __repr__ = __str__


def _count(value, what, function):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{function}: {what} must be a positive int, got {what}={value!r}")
    return value


def _conv_row(description, cells, kernel, c_in, c_out):
    weights = kernel * kernel * c_in * c_out
    return description, weights, cells * weights


def inception_bottleneck_saving(input_size=28, in_channels=192, reduce_channels=16, out_channels=32,
                                kernel_size=5):
    """A k x k convolution on all the input channels, against a 1x1 "reduce" convolution followed by the k x k.

    The defaults are the 5x5 branch of GoogLeNet's inception (3a) (Szegedy et al., 2015, Table 1): 28x28 maps
    with 192 channels, reduced to 16, then 32 filters of 5x5: 153,600 weights and 120,422,400
    multiplications without the 1x1, 15,872 and 12,443,648 with it, about 9.7 times fewer.  The output has the
    same shape both ways ('same' convolutions, stride 1).

    Args:
        input_size: rows (= cols) of the square maps.
        in_channels: channels of the module's input.
        reduce_channels: filters of the 1x1 reduction.
        out_channels: filters of the k x k convolution.
        kernel_size: k.

    Returns:
        A ``CostComparison``; ``print`` it for the table.

    Raises:
        ValueError: a size that is not a positive int.

    Example:

    >>> saving = inception_bottleneck_saving()
    >>> saving["5x5, 192 -> 32"]["multiplications"], saving["1x1 reduce then 5x5"]["multiplications"]
    (120422400, 12443648)
    """
    function = "inception_bottleneck_saving"
    for what, value in (("input_size", input_size), ("in_channels", in_channels),
                        ("reduce_channels", reduce_channels), ("out_channels", out_channels),
                        ("kernel_size", kernel_size)):
        _count(value, what, function)
    cells, k = input_size * input_size, kernel_size
    direct = _conv_row(f"{k}x{k}, {in_channels} -> {out_channels}", cells, k, in_channels, out_channels)
    reduce = _conv_row(f"1x1 reduce, {in_channels} -> {reduce_channels}", cells, 1, in_channels, reduce_channels)
    main = _conv_row(f"{k}x{k}, {reduce_channels} -> {out_channels}", cells, k, reduce_channels, out_channels)
    total = (f"1x1 reduce then {k}x{k}", reduce[1] + main[1], reduce[2] + main[2])
    return CostComparison(f"{k}x{k} convolution on {input_size}x{input_size}x{in_channels} maps, with and without "
                          f"a 1x1 bottleneck to {reduce_channels} channels", [direct, reduce, main, total],
                          direct[0], total[0])


def bottleneck_block_cost(input_size=56, basic_channels=64, bottleneck_channels=256, bottleneck_width=64):
    """ResNet's basic block against its bottleneck block (He et al., 2016, Figure 5; CIS5190 "Residual block
    designs": "a building block (on 56x56 feature maps) as in Fig. 3 for ResNet-34 ... a bottleneck building
    block for ResNet-50/101/152").

    The basic block: two 3x3 convolutions on ``basic_channels`` (2 * 9 * 64 * 64 = 73,728 weights).  The
    bottleneck block: 1x1 from ``bottleneck_channels`` down to ``bottleneck_width``, 3x3, 1x1 back up
    (256*64 + 9*64*64 + 64*256 = 69,632 weights): slightly cheaper although its input and output are four
    times as wide.

    Args:
        input_size: rows (= cols) of the maps (the blocks keep the size).
        basic_channels: the basic block's channels.
        bottleneck_channels: the bottleneck block's input and output channels.
        bottleneck_width: the channels inside the bottleneck.

    Returns:
        A ``CostComparison`` (baseline: the basic block).

    Raises:
        ValueError: a size that is not a positive int.

    Example:

    >>> cost = bottleneck_block_cost()
    >>> cost["basic block"]["weights"], cost["bottleneck block"]["weights"]
    (73728, 69632)
    """
    function = "bottleneck_block_cost"
    for what, value in (("input_size", input_size), ("basic_channels", basic_channels),
                        ("bottleneck_channels", bottleneck_channels), ("bottleneck_width", bottleneck_width)):
        _count(value, what, function)
    cells, c, wide, narrow = input_size * input_size, basic_channels, bottleneck_channels, bottleneck_width
    basic = _conv_row(f"basic: 3x3, {c} -> {c} (each of two)", cells, 3, c, c)
    bottleneck = [_conv_row(f"bottleneck: 1x1, {wide} -> {narrow}", cells, 1, wide, narrow),
                  _conv_row(f"bottleneck: 3x3, {narrow} -> {narrow}", cells, 3, narrow, narrow),
                  _conv_row(f"bottleneck: 1x1, {narrow} -> {wide}", cells, 1, narrow, wide)]
    rows = [basic, ("basic block", 2 * basic[1], 2 * basic[2])] + bottleneck + \
        [("bottleneck block", sum(r[1] for r in bottleneck), sum(r[2] for r in bottleneck))]
    return CostComparison(f"ResNet blocks on {input_size}x{input_size} maps: basic ({c} channels) against "
                          f"bottleneck ({wide} channels, {narrow} inside)", rows, "basic block", "bottleneck block")


def mobilenet_cost(input_size=14, in_channels=512, out_channels=512, kernel_size=3, stride=1):
    """A standard k x k convolution against MobileNet's depthwise separable one (Howard et al., 2017).

    Depthwise: one k x k filter per input channel (k*k*M weights: where to look); pointwise: a 1x1 convolution
    mixing the channels (M*N weights: what to combine).  On a D x D output (D = ceil(input_size / stride),
    'same' padding) the multiplications are

        standard   D*D * k*k * M * N
        separable  D*D * k*k * M  +  D*D * M * N,    a fraction 1/N + 1/k^2 of the standard cost.

    The defaults are the MobileNet paper's example layer (Table 3: 14x14x512 maps, 3x3, 512 filters): 2.36
    million weights and 462 million multiply-adds for the standard convolution, 0.27 million and 52.3 million
    for the separable one, 8.8 times fewer.  The decks give no MobileNet numbers: the nearest ideas are the
    Goodfellow ch. 9 deck's separable kernels and partial connectivity between channels.

    Args:
        input_size: rows (= cols) of the input maps.
        in_channels: M.
        out_channels: N.
        kernel_size: k.
        stride: the convolutions' stride.

    Returns:
        A ``CostComparison`` (baseline: the standard convolution).

    Raises:
        ValueError: a size that is not a positive int.

    Example:

    >>> cost = mobilenet_cost()
    >>> cost["standard 3x3, 512 -> 512"]["multiplications"], cost["depthwise separable"]["multiplications"]
    (462422016, 52283392)
    """
    function = "mobilenet_cost"
    for what, value in (("input_size", input_size), ("in_channels", in_channels), ("out_channels", out_channels),
                        ("kernel_size", kernel_size), ("stride", stride)):
        _count(value, what, function)
    out_size = -(-input_size // stride)
    cells, k, m, n = out_size * out_size, kernel_size, in_channels, out_channels
    standard = _conv_row(f"standard {k}x{k}, {m} -> {n}", cells, k, m, n)
    depthwise = (f"depthwise {k}x{k}, {m} channels", k * k * m, cells * k * k * m)
    pointwise = _conv_row(f"pointwise 1x1, {m} -> {n}", cells, 1, m, n)
    separable = ("depthwise separable", depthwise[1] + pointwise[1], depthwise[2] + pointwise[2])
    return CostComparison(f"{k}x{k} convolution, stride {stride}, {input_size}x{input_size}x{m} -> "
                          f"{out_size}x{out_size}x{n}: standard against depthwise separable",
                          [standard, depthwise, pointwise, separable], standard[0], separable[0],
                          note=f"separable / standard = 1/N + 1/k^2 = 1/{n} + 1/{k * k} = {1 / n + 1 / (k * k):.4f}")


# ------------------------------------------------------------------ depth and units
def is_weight_layer(layer):
    """Convolutions (every kind) and dense layers: the layers the papers count in a network's depth.

    Args:
        layer: a layer.

    Returns:
        True for a convolution or Dense layer.

    Example:

    >>> from tinyconv.teaching.architecture_costs import is_weight_layer
    >>> is_weight_layer(layers.Conv2D(4, 3)), is_weight_layer(layers.MaxPooling2D(2))
    (True, False)
    """
    return isinstance(layer, (_WindowedConv, Dense))


def weight_layer_depth(model):
    """The number of layers with weights (convolutions and dense layers) on the longest path from an input to
    an output: the "N layers" of the decks (CIS5190 "Example architectures": AlexNet 8, VGG 19, GoogLeNet 22,
    ResNet 152).  Pooling, normalisation, activations and merges do not count; a nested model counts its own
    depth.

    Args:
        model: a built ``Sequential`` or functional ``Model``.

    Returns:
        An int.

    Raises:
        ValueError: a model without a graph of layers (a subclassed model that was never called symbolically).

    Example:

    >>> from tinyconv.teaching.architectures import googlenet, lenet5
    >>> weight_layer_depth(lenet5()), weight_layer_depth(googlenet())
    (5, 22)
    """
    outputs = getattr(model, "outputs", None)
    if not isinstance(model, Model) or not outputs:
        raise ValueError(f"weight_layer_depth: expected a built Sequential or functional Model, got {model!r}")
    depth = {}  # id(tensor) -> weight layers on the longest path that ends at the tensor
    for tensor in outputs:
        stack = [(tensor, False)]
        while stack:  # post-order without recursion: ResNet-152's graph is deeper than Python's stack
            current, parents_done = stack.pop()
            if id(current) in depth:
                continue
            node = current.node
            if node is None or not node.inputs:
                depth[id(current)] = 0
                continue
            if not parents_done:
                stack.append((current, True))
                stack.extend((parent, False) for parent in node.inputs if id(parent) not in depth)
                continue
            layer = node.layer
            own = weight_layer_depth(layer) if isinstance(layer, Model) else int(is_weight_layer(layer))
            depth[id(current)] = own + max(depth[id(parent)] for parent in node.inputs)
    return max(depth[id(tensor)] for tensor in outputs)


def units_per_layer(model):
    """``[(layer name, output units per sample)]`` of each convolution and dense layer, in ``model.layers``
    order: the neurons per layer that the AlexNet paper lists (DL1 "Case Study: AlexNet":
    "253,440-186,624-64,896-64,896-43,264-4096-4096-1000").

    Args:
        model: a built model.

    Returns:
        A list of ``(name, units)``.

    Example:

    >>> from tinyconv.teaching.architectures import lenet5
    >>> units_per_layer(lenet5())
    [('C1', 4704), ('C3', 1600), ('C5', 120), ('F6', 84), ('output', 10)]
    """
    found = []
    for layer in model.layers:
        if isinstance(layer, Model):
            found.extend(units_per_layer(layer))
        elif is_weight_layer(layer):
            units = 1
            for size in layer.output_shape[1:]:
                units *= size
            found.append((layer.name, units))
    return found


def multiply_adds(model):
    """The multiply-adds of one image's forward pass through every convolution and dense layer: the cost the
    papers report (MobileNet, Table 8: 569 million for MobileNet-224; He et al.: ResNet-152 needs fewer than
    VGG-16/19, CIS5190 "Example architectures": "Less computation in forward pass than VGGNet!").  Each layer's
    count is its ``layer_flops(layer, convention="macs")``; pooling, normalisation and activations are left
    out.

    Args:
        model: a built model.

    Returns:
        An int.

    Example:

    >>> from tinyconv.teaching.architectures import lenet5
    >>> multiply_adds(lenet5())   # C1 28*28*6*25 + C3 10*10*16*150 + 400*120 + 120*84 + 84*10
    416520
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, Model):
            total += multiply_adds(layer)
        elif is_weight_layer(layer):
            total += layer_flops(layer, convention="macs")
    return total


__all__ = ["CostComparison", "bottleneck_block_cost", "inception_bottleneck_saving", "is_weight_layer",
           "mobilenet_cost", "multiply_adds", "units_per_layer", "weight_layer_depth"]
