"""``.wlnet`` files (HDF5): read from WL 11.0 to 14.x, write the layout WL 13/14 writes.

Layout (wlnet-format.md §1.3): scalar string datasets ``/Version``, ``/Network``, ``/Metadata``
(fixed-length ASCII up to 11.3, variable-length UTF-8 since 13), ``/Unstable`` int64 (12+), and a
group ``/Arrays`` with datasets ``"1"``, ``"2"``, ... (sorted numerically, not as h5py lists them).
``/Network`` is a ``"1:"`` Compress string, InputForm text (11.0) or WXF bytes.

>>> import numpy as np, tempfile, os, wlbridge as wb
>>> b = wb.NetBuilder(); x = b.input("x", (2,))
>>> y = b.layer("linear", [x], params={"weight": np.eye(2, dtype=np.float32), "bias": np.ones(2, np.float32)})
>>> p = os.path.join(tempfile.mkdtemp(), "demo.wlnet"); save_wlnet(b.build([y]), p)
>>> load_wlnet(p)(np.array([1.0, 2.0]))
array([2., 3.])
"""
from __future__ import annotations

import numpy as np

from ... import limits
from ...errors import FormatError
from ...ir import Net
from ..guard import guarded, regular_file
from . import compress
from .h5worker import run_bounded
from .inputform import parse as parse_inputform
from .inputform import to_inputform

WRITE_VERSION = "14.3.0"  # as netwriter.WRITE_VERSION
_H5_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, IndexError, AttributeError)


@guarded(".wlnet")
def load_wlnet(path, *, input_names=None, sequence_length=None) -> Net:
    """Read a ``.wlnet`` file into a :class:`~wlbridge.ir.Net` (no Wolfram kernel needed)."""
    from .netassoc import net_from_assoc

    network, metadata, arrays = read_wlnet_raw(path)
    return net_from_assoc(network, source=str(path), arrays=arrays, input_names=input_names, metadata=metadata,
                          sequence_length=sequence_length)


def read_wlnet_raw(path):
    """``(network assoc, metadata assoc, {k: array})`` of a ``.wlnet`` file, decoded but not converted.

    libhdf5 reads the file in a worker process under ``limits.current().parse_cap(size)`` seconds (a few
    seconds plus a per-MiB allowance; it can loop forever on a corrupted file); the strings it returns
    are decoded here, with bounded parsers."""
    src = str(path)
    size = regular_file(path)
    version, network, metadata, arrays = run_bounded(_read_h5, (path, src, size), source=src,
                                                     seconds=limits.current().parse_cap(size))
    if not isinstance(version, str) or not version[:2].isdigit() or not 11 <= int(version.split(".")[0]) < 100:
        raise FormatError(f"{src}: unsupported Version {version!r} (expected 11.0 ... 14.x)")
    network = _payload(network, "Network", src)
    metadata = _payload(metadata, "Metadata", src) if metadata is not None else {"Version": version}
    return network, metadata, arrays


def _read_h5(path, src: str, size: int):
    """(Version text, raw /Network, raw /Metadata or None, arrays): everything libhdf5 reads."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            version = _string(f, "Version", src)
            network = _dataset(f, "Network", src, size)
            metadata = _dataset(f, "Metadata", src, size) if "Metadata" in f else None
            arrays = _arrays(f, src, size)
    except FormatError:
        raise
    except _H5_ERRORS as e:
        raise FormatError(f"{src}: not a readable .wlnet (HDF5) file: {e}") from None
    return version, network, metadata, arrays


def _dataset(f, key, src, size=None):
    """A scalar dataset's value, its type and shape checked before libhdf5 reads it."""
    import h5py

    obj = f.get(key)
    if not isinstance(obj, h5py.Dataset):
        raise FormatError(f"{src}: missing dataset /{key}")
    cap = size if size is not None else limits.current().max_file_bytes  # a string fits in its file
    if obj.dtype == np.uint8 and obj.ndim == 1 and key in ("Network", "Metadata"):  # WXF bytes (ByteArray)
        if obj.size > cap:
            raise FormatError(f"{src}: /{key} declares {obj.size} bytes, more than the file holds")
        return obj[()].tobytes()
    if obj.size > 1 or obj.dtype.kind not in "OSUufib":
        raise FormatError(f"{src}: /{key} has unexpected type {obj.dtype} and shape {obj.shape}")
    if obj.dtype.kind == "O" and h5py.check_string_dtype(obj.dtype) is None:
        raise FormatError(f"{src}: /{key} is a variable-length dataset that is not a string ({obj.dtype})")
    if obj.dtype.kind in "SU" and obj.dtype.itemsize > cap:
        raise FormatError(f"{src}: /{key} declares a {obj.dtype.itemsize}-byte string, more than the file holds")
    if obj.ndim == 0 and obj.dtype.kind == "O" or obj.dtype.kind in "SU":
        value = obj[()]
        if isinstance(value, np.ndarray):
            value = value.reshape(-1)[0] if value.size else b""
        return value
    return obj[()].item() if obj.ndim == 0 else obj[()]


def _string(f, key, src):
    v = _dataset(f, key, src)
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if isinstance(v, float):  # 11.0 wrote $VersionNumber, a Real
        v = f"{v:.1f}.0"
    return v


def _payload(v, key, src):
    where = f"{src}: /{key}"
    if isinstance(v, bytes) and v.startswith((b"8:", b"8C:")):
        from .wxf import decode_wxf
        return decode_wxf(v, source=where)
    if isinstance(v, bytes):
        try:
            v = v.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"{where} is neither text nor WXF") from None
    if not isinstance(v, str):
        raise FormatError(f"{where} is not a string")
    if v.startswith("1:"):
        return compress.decode(v, source=where)
    return parse_inputform(v, source=where)


def _arrays(f, src, size) -> dict[int, np.ndarray]:
    import h5py

    group = f.get("Arrays")
    if group is None:
        return {}
    if not isinstance(group, h5py.Group):
        raise FormatError(f"{src}: /Arrays is not a group")
    datasets = {}
    for name in group:
        if not name.isdigit():
            raise FormatError(f"{src}: /Arrays/{name} is not named by a number")
        ds = group[name]
        if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "fiu":
            raise FormatError(f"{src}: /Arrays/{name} is not a numeric dataset")
        datasets[name] = ds
    _check_array_sizes(datasets, src, size)
    return {int(name): np.asarray(ds[()]).astype(ds.dtype.newbyteorder("=")) for name, ds in datasets.items()}


def _check_array_sizes(datasets: dict, src: str, size: int) -> None:
    """Declared bytes against what is stored: chunks never written hold fill values, not data; the
    total is capped (``limits.max_array_bytes``) before anything is allocated."""
    lim = limits.current()
    total = 0
    for name, ds in datasets.items():
        declared = ds.size * ds.dtype.itemsize
        stored = min(ds.id.get_storage_size(), size)
        filtered = ds.id.get_create_plist().get_nfilters() > 0
        allowed = stored * lim.max_array_ratio if filtered else stored
        if declared > max(allowed, 0 if stored == 0 else 64):
            raise FormatError(f"{src}: /Arrays/{name} declares {list(ds.shape)} ({declared} bytes) but the file "
                              f"stores {stored} bytes for it (chunks never written hold no data)")
        total += declared
        if total > lim.max_array_bytes:
            raise FormatError(f"{src}: /Arrays declare more than {lim.max_array_bytes} bytes in all "
                              "(WLBRIDGE_MAX_ARRAY_BYTES)")


# ----------------------------------------------------------------------------------------------
# writer


def save_wlnet(net: Net, path) -> None:
    """Write ``net`` as a ``.wlnet`` file laid out as Wolfram 14.3 writes it."""
    from .netwriter import assoc_from_net, export_arrays

    assoc = assoc_from_net(net)
    network, arrays = export_arrays(assoc)
    write_wlnet_raw(path, network, arrays)


def write_wlnet_raw(path, network, arrays, *, version: str = WRITE_VERSION, metadata=None,
                    legacy: bool = False, network_form: str = "compress") -> None:
    """Write a net association (with ``ExportedArray[k]`` placeholders) and its arrays.

    ``legacy=True`` writes the 11.x layout (fixed-length ASCII strings, no ``/Unstable``);
    ``network_form`` is ``"compress"``, ``"inputform"`` (11.0) or ``"wxf"``.
    """
    import h5py

    if metadata is None:
        metadata = {"Version": version} if legacy else {"Version": version, "Unstable": False}
    net_value = _network_value(network, network_form)
    with h5py.File(path, "w", libver="earliest") as f:
        _write_string(f, "Version", version, legacy)
        if network_form == "wxf":
            f.create_dataset("Network", data=np.frombuffer(net_value, dtype=np.uint8))
        else:
            _write_string(f, "Network", net_value, legacy)
        _write_string(f, "Metadata", compress.encode(metadata), legacy)
        if not legacy:
            f.create_dataset("Unstable", data=np.int64(0))
        if arrays:
            g = f.create_group("Arrays")
            for i, a in enumerate(arrays, 1):
                g.create_dataset(str(i), data=np.ascontiguousarray(a))


def _network_value(network, form):
    if form == "compress":  # Uncompress resolves bare names in System` and NeuralNetworks`, not in Private`
        from .wxf import PRIVATE_CONTEXT
        return compress.encode(network, contexts=PRIVATE_CONTEXT)
    if form == "inputform":
        return to_inputform(network)
    if form == "wxf":
        from .wxf import encode_wxf
        return encode_wxf(network)
    raise ValueError(f"unknown network_form {form!r}; known: compress, inputform, wxf")


def _write_string(f, key, text: str, legacy: bool) -> None:
    import h5py

    if legacy:
        raw = text.encode("ascii")
        f.create_dataset(key, data=np.array(raw, dtype=f"S{len(raw) + 1}"))
    else:
        f.create_dataset(key, data=text, dtype=h5py.string_dtype("utf-8"))
