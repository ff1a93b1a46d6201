"""Hand-designed kernels, as initializers: ``Conv2D(1, 3, kernel_initializer="sobel")``.

Before CNNs learned their filters, people designed them.  Each class here returns a kernel of
shape (kh, kw, in, out) with the same 2-D kernel on every (in, out) pair (a Gabor bank uses a
different orientation for each output channel).

Conv2D computes a cross-correlation (no flip), so the kernels are written the way round that
makes the response positive where brightness *increases* along x (to the right) or y (down).
The lecture's Sobel [[1, 0, -1], [2, 0, -2], [1, 0, -1]] is the same kernel for a true
(flipped) convolution.
"""
import numpy as np

from . import Initializer, _check_dtype, _check_shape


class _HandDesigned(Initializer):
    """Subclasses give ``kernel_2d(kh, kw, out_index, out_count)``."""

    fixed_size = None  # (kh, kw) when the kernel only exists in one size

    def __call__(self, shape, dtype="float32"):
        who = type(self).__name__
        shape, dtype = _check_shape(who, shape), _check_dtype(who, dtype)
        if len(shape) != 4:
            raise ValueError(f"{who}: a hand-designed kernel needs a Conv2D kernel shape (kh, kw, in, out), "
                             f"got {shape}")
        kh, kw, n_in, n_out = shape
        if self.fixed_size is not None and (kh, kw) != self.fixed_size:
            raise ValueError(f"{who}: this kernel is {self.fixed_size[0]}x{self.fixed_size[1]}, "
                             f"got kernel_size {(kh, kw)}")
        kernel = np.empty(shape, dtype=np.float64)
        for out in range(n_out):
            kernel[:, :, :, out] = self.kernel_2d(kh, kw, out, n_out)[:, :, None]
        return kernel.astype(dtype)


def _check_direction(who, direction):
    if direction not in ("x", "y"):
        raise ValueError(f"{who}: direction must be 'x' or 'y', got {direction!r}")
    return direction


class Sobel(_HandDesigned):
    """3x3 derivative with smoothing across it: x = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], y its transpose.

    Args:
        direction: 'x' (responds to vertical edges) or 'y' (horizontal edges).

    Raises:
        ValueError: for another direction; when called, for a shape that is not (3, 3, in, out).

    Example:

    >>> from tinyconv.teaching import Sobel
    >>> Sobel()((3, 3, 1, 1))[:, :, 0, 0]
    array([[-1.,  0.,  1.],
           [-2.,  0.,  2.],
           [-1.,  0.,  1.]], dtype=float32)
    >>> edges = layers.Conv2D(1, 3, kernel_initializer="sobel")   # by name
    """

    fixed_size = (3, 3)

    def __init__(self, direction="x"):
        self.direction = _check_direction("Sobel", direction)

    def kernel_2d(self, kh, kw, out, n_out):
        """The 2-D kernel, the same for every input channel.

        Args:
            kh: the kernel's height.
            kw: the kernel's width.
            out: the output channel's index.
            n_out: how many output channels the kernel has.

        Returns:
            A float64 array of shape (kh, kw).
        """
        x = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
        return x if self.direction == "x" else x.T

    def get_config(self):
        return {"direction": self.direction}


class Prewitt(Sobel):
    """3x3 derivative with plain averaging across it: x = [[-1, 0, 1]] * 3 rows, y its transpose.

    Args:
        direction: 'x' (responds to vertical edges) or 'y' (horizontal edges).

    Raises:
        ValueError: for another direction; when called, for a shape that is not (3, 3, in, out).

    Example:

    >>> from tinyconv.teaching import Prewitt
    >>> Prewitt("y")((3, 3, 1, 1))[:, :, 0, 0]
    array([[-1., -1., -1.],
           [ 0.,  0.,  0.],
           [ 1.,  1.,  1.]], dtype=float32)
    """

    def __init__(self, direction="x"):
        self.direction = _check_direction("Prewitt", direction)

    def kernel_2d(self, kh, kw, out, n_out):
        x = np.array([[-1.0, 0.0, 1.0]] * 3)
        return x if self.direction == "x" else x.T


class Laplacian(_HandDesigned):
    """3x3 second derivative, d2/dx2 + d2/dy2 = [[0, 1, 0], [1, -4, 1], [0, 1, 0]]: zero on flat and
    linear regions, large at edges and spots.

    Raises:
        ValueError: when called, for a shape that is not (3, 3, in, out).

    Example:

    >>> from tinyconv.teaching import Laplacian
    >>> Laplacian()((3, 3, 1, 1))[:, :, 0, 0]
    array([[ 0.,  1.,  0.],
           [ 1., -4.,  1.],
           [ 0.,  1.,  0.]], dtype=float32)
    """

    fixed_size = (3, 3)

    def kernel_2d(self, kh, kw, out, n_out):
        """The 2-D kernel, the same for every input channel.

        Args:
            kh: the kernel's height.
            kw: the kernel's width.
            out: the output channel's index.
            n_out: how many output channels the kernel has.

        Returns:
            A float64 array of shape (kh, kw).
        """
        return np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def _grid(kh, kw):
    """Coordinates relative to the kernel's centre: rows y, columns x."""
    return np.meshgrid(np.arange(kh) - (kh - 1) / 2, np.arange(kw) - (kw - 1) / 2, indexing="ij")


class Gaussian(_HandDesigned):
    """Blur: exp(-(x^2 + y^2) / (2 sigma^2)), normalised to sum to 1 (so flat regions keep their value).

    Args:
        sigma: the blur's width in pixels, positive.

    Raises:
        ValueError: for a sigma that is not positive; when called, for a shape that is not (kh, kw, in, out).

    Example:

    >>> from tinyconv.teaching import Gaussian
    >>> kernel = Gaussian(sigma=1.0)((5, 5, 1, 1))
    >>> kernel.shape, round(float(kernel.sum()), 4)
    ((5, 5, 1, 1), 1.0)
    """

    def __init__(self, sigma=1.0):
        if not sigma > 0:
            raise ValueError(f"Gaussian: sigma must be positive, got {sigma!r}")
        self.sigma = float(sigma)

    def kernel_2d(self, kh, kw, out, n_out):
        """The 2-D kernel, the same for every input channel.

        Args:
            kh: the kernel's height.
            kw: the kernel's width.
            out: the output channel's index.
            n_out: how many output channels the kernel has.

        Returns:
            A float64 array of shape (kh, kw).
        """
        y, x = _grid(kh, kw)
        g = np.exp(-(x ** 2 + y ** 2) / (2 * self.sigma ** 2))
        return g / g.sum()

    def get_config(self):
        return {"sigma": self.sigma}


class Gabor(_HandDesigned):
    """A Gabor filter, the lecture's model of a V1 cell's receptive field:

        x' =  x cos(theta) + y sin(theta)        y' = -x sin(theta) + y cos(theta)
        w(x, y) = exp(-(x'^2 + gamma^2 y'^2) / (2 sigma^2)) * cos(2 pi x' / lambd + psi)

    In the lecture's notation alpha exp(-beta_x x'^2 - beta_y y'^2) cos(f x' + phi):
    beta_x = 1 / (2 sigma^2), beta_y = gamma^2 / (2 sigma^2), f = 2 pi / lambd, phi = psi, tau = theta.
    With several output channels, channel k gets orientation theta + k * pi / out (a bank).

    Args:
        sigma: the Gaussian envelope's width, positive.
        theta: the orientation of channel 0, in radians.
        lambd: the cosine's wavelength in pixels, positive.
        gamma: the envelope's aspect ratio (y' against x').
        psi: the cosine's phase offset.

    Raises:
        ValueError: if sigma or lambd is not positive; when called, for a shape that is not (kh, kw, in, out).

    Example:

    >>> from tinyconv.teaching import Gabor
    >>> bank = Gabor()((7, 7, 1, 4))   # four orientations: 0, 45, 90 and 135 degrees
    >>> bank.shape, np.allclose(bank[..., 0], bank[..., 2])
    ((7, 7, 1, 4), False)
    """

    def __init__(self, sigma=2.0, theta=0.0, lambd=4.0, gamma=0.5, psi=0.0):
        if not sigma > 0 or not lambd > 0:
            raise ValueError(f"Gabor: sigma and lambd must be positive, got sigma={sigma!r}, lambd={lambd!r}")
        self.sigma, self.theta, self.lambd, self.gamma, self.psi = (float(v) for v in (sigma, theta, lambd,
                                                                                      gamma, psi))

    def kernel_2d(self, kh, kw, out, n_out):
        """The 2-D kernel, for output channel ``out`` (its own orientation).

        Args:
            kh: the kernel's height.
            kw: the kernel's width.
            out: the output channel's index.
            n_out: how many output channels the kernel has.

        Returns:
            A float64 array of shape (kh, kw).
        """
        theta = self.theta + out * np.pi / n_out
        y, x = _grid(kh, kw)
        x_rot = x * np.cos(theta) + y * np.sin(theta)
        y_rot = -x * np.sin(theta) + y * np.cos(theta)
        envelope = np.exp(-(x_rot ** 2 + self.gamma ** 2 * y_rot ** 2) / (2 * self.sigma ** 2))
        return envelope * np.cos(2 * np.pi * x_rot / self.lambd + self.psi)

    def get_config(self):
        return {"sigma": self.sigma, "theta": self.theta, "lambd": self.lambd, "gamma": self.gamma, "psi": self.psi}


# Names for ``initializers.get``: "sobel", "sobel_y", "Gabor", ...
KERNELS = {
    "Sobel": Sobel, "Prewitt": Prewitt, "Laplacian": Laplacian, "Gaussian": Gaussian, "Gabor": Gabor,
    "sobel": Sobel, "sobel_x": Sobel, "sobel_y": lambda: Sobel("y"),
    "prewitt": Prewitt, "prewitt_x": Prewitt, "prewitt_y": lambda: Prewitt("y"),
    "laplacian": Laplacian, "gaussian": Gaussian, "gabor": Gabor,
}
