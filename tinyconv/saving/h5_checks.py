"""Reading an HDF5 weights file that may come from anyone: look before reading a byte.

An HDF5 file can do more than hold arrays, and a loader that simply indexes it would follow all of it:

* a *soft* or *external link* points elsewhere in the file or into another file on disk;
* a dataset with *external storage* keeps its bytes in a separate raw file (``secret.bin``);
* a *virtual dataset* stitches its values together from other files;
* a dataset *declares* its shape: a 14 KB file may declare 4 TiB of zeros (the fill value),
  and reading it asks for 4 TiB of memory;
* a compressed chunk inflates to whatever its filter produces.

So every object on the way to a weight is reached through a hard link only, every weight must be a
plain, contiguous or uncompressed-chunked dataset of numbers, and its declared shape is compared
with the model's before anything is read.  Keras's own files (and ours) pass all of these checks.
"""
import h5py
import numpy as np

# Numbers only: float, signed and unsigned int, bool.  Strings, objects, compound records are refused.
NUMERIC_KINDS = "fiub"
# A chunk may be larger than its (small) dataset; never larger than this or the dataset itself.
_CHUNK_BYTES_FLOOR = 1 << 20


def _link_type(group, name):
    """h5py's link type of ``group/name`` without following the link (None when there is no such link)."""
    key = name.encode("utf8")
    if not group.id.links.exists(key):
        return None
    return group.id.links.get_info(key).type


def child(group, path, where):
    """The object at ``path`` below ``group``, reached through hard links only; None when absent.

    ``where`` names the file and place for the error message.  A soft or external link anywhere on
    the way is refused: following it would read another part of the file or another file on disk.
    """
    current = group
    for part in [p for p in path.split("/") if p]:
        if not isinstance(current, h5py.Group):
            return None
        kind = _link_type(current, part)
        if kind is None:
            return None
        if kind != h5py.h5l.TYPE_HARD:
            link = "an external link" if kind == h5py.h5l.TYPE_EXTERNAL else "a soft link"
            raise ValueError(f"{where}: '{current.name}/{part}' is {link}; weights files may hold "
                             "only their own groups and datasets (links are refused)")
        current = current[part]
    return current


def child_group(group, path, where):
    """Like ``child``, and the object must be a group (None when absent)."""
    found = child(group, path, where)
    if found is not None and not isinstance(found, h5py.Group):
        raise ValueError(f"{where}: '{found.name}' should be a group, the file has a {type(found).__name__}")
    return found


def plain_dataset(group, path, where):
    """The dataset at ``path``: present, hard-linked, numeric, stored inside this file, unfiltered."""
    found = child(group, path, where)
    if found is None:
        raise ValueError(f"{where}: no dataset '{group.name.rstrip('/')}/{path}' in the file")
    if not isinstance(found, h5py.Dataset):
        raise ValueError(f"{where}: '{found.name}' should be a dataset of weights, the file has a "
                         f"{type(found).__name__}")
    if found.is_virtual:
        raise ValueError(f"{where}: '{found.name}' is a virtual dataset (its values come from other files); "
                         "refused")
    if found.external:
        raise ValueError(f"{where}: '{found.name}' keeps its bytes in external file(s) "
                         f"{[entry[0] for entry in found.external]}; refused (weights must be inside the file)")
    if found.dtype.kind not in NUMERIC_KINDS or found.dtype.fields is not None:
        raise ValueError(f"{where}: '{found.name}' holds {found.dtype} values; weights must be numbers")
    if found.id.get_create_plist().get_nfilters():
        raise ValueError(f"{where}: '{found.name}' is compressed or filtered; refused (a filtered chunk can "
                         "inflate past its declared size, and Keras never writes one)")
    if found.chunks is not None:
        chunk_bytes = int(np.prod(found.chunks, dtype=np.int64)) * found.dtype.itemsize
        if chunk_bytes > max(_CHUNK_BYTES_FLOOR, declared_bytes(found)):
            raise ValueError(f"{where}: '{found.name}' declares chunks {found.chunks} larger than its data; refused")
    return found


def declared_bytes(dataset):
    """The bytes reading ``dataset`` would allocate, from its declared shape and dtype."""
    return int(np.prod(dataset.shape, dtype=object)) * dataset.dtype.itemsize


def check_shape(dataset, expected, where):
    """Compare the declared shape with the model's before a byte is read."""
    if tuple(dataset.shape) != tuple(expected):
        raise ValueError(f"{where}: has shape {tuple(expected)} in the model but the file declares "
                         f"{tuple(dataset.shape)} for '{dataset.name}'")


def read(dataset):
    """The values of a dataset already checked by ``plain_dataset`` (and its shape by ``check_shape``)."""
    return np.asarray(dataset[()])
