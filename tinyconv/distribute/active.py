"""The communicator that cross-rank layers reduce over, while a ``DataParallel`` is active.

A leaf: it imports nothing of tinyconv, so a layer (``BatchNormalization(synchronized=True)``) can
ask "am I one of several ranks?" without the layers depending on the rest of ``distribute``.
``DataParallel()`` sets it; nothing else needs to.
"""

_communicator = None


def set_communicator(communicator):
    """Make ``communicator`` the one synchronised layers reduce over (None: no distribution)."""
    global _communicator
    _communicator = communicator


def communicator():
    """The active communicator when there is more than one rank, else None.

    Returns:
        An object with ``size`` and ``allreduce_sum(array)`` (see ``communicator.py``), or None
        under plain ``python`` and with a single rank.

    Example:

    >>> from tinyconv.distribute import active
    >>> active.communicator() is None  # a plain python process
    True
    """
    if _communicator is None or _communicator.size < 2:
        return None
    return _communicator
