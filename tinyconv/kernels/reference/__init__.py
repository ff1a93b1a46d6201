"""Reference kernels in plain NumPy: written to be read beside the lecture's formulas.

They are the test oracle for the compiled kernels in ``tinyconv.kernels.cpu``: both sets
expose the same functions with the same signatures.
"""
