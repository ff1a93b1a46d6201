"""Argument checks of the kernels, one module per family, shared by the three kernel sets.

The reference kernels (``kernels/reference``), the compiled ones (``kernels/cpu``) and the GPU
ones (``kernels/gpu``) all validate their arguments here, so one set of rules gives one set of
error messages, whichever set runs.  The compiled loops run without bounds checks: nothing may
reach them unchecked.

Each check raises with the kernel's name, what it expected and what it received, and returns
the arguments normalised (plain ints, checked shapes) together with the geometry they imply
(the output size), so a kernel begins with one line.
"""
