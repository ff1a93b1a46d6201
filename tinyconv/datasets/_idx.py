"""Reading IDX files, the format MNIST and Fashion-MNIST are published in.

An IDX file is a tiny header followed by raw numbers, most significant byte first:

    bytes 0-1   zero
    byte  2     type of the numbers: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    then        d sizes, each a big-endian uint32
    then        the numbers, in C (row-major) order

So train-images-idx3-ubyte says "uint8, 3 dimensions: 60000 x 28 x 28" and then holds 47,040,000 bytes.
The published files are gzip-compressed (.gz); both forms are read here.
"""
import gzip

import numpy as np

# IDX type byte -> big-endian NumPy dtype
IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path):
    """The array stored in the IDX file ``path`` (gzip-compressed when the name ends in .gz)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    return parse_idx(data, source=str(path))


def parse_idx(data, source="IDX data"):
    """The array held in the IDX bytes ``data``, in native byte order."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{source}: not an IDX file (it must start with two zero bytes)")
    type_code, ndim = data[2], data[3]
    if type_code not in IDX_DTYPES:
        raise ValueError(f"{source}: unknown IDX type byte 0x{type_code:02X}; "
                         f"expected one of {[hex(code) for code in IDX_DTYPES]}")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(f"{source}: IDX header promises {ndim} dimensions but the file ends early")
    shape = tuple(int(size) for size in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    received = len(data) - header_size
    if received != expected:
        raise ValueError(f"{source}: IDX header says shape {shape} ({expected} bytes of data), "
                         f"but the file holds {received} bytes after the header")
    values = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Store ``array`` as an IDX file (gzip-compressed when the name ends in .gz); used to build test files."""
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(f"write_idx: IDX cannot store dtype {array.dtype}")
    code = codes[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    body = array.astype(IDX_DTYPES[code]).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + body)
