"""Cheap, deterministic mutations per format: ``mutate(fmt, seeds, case_seed) -> (bytes, kind)``.

Levels: bytes (flip, delete, insert, truncate, splice), HDF5 (datasets replaced, reshaped, retyped,
declared but never written), Compress expression and WXF (the decoded net association is edited:
keys dropped, values replaced by other values from the same tree or by hostile atoms), ONNX graph
(attributes, inputs, outputs, initializers, types, op types) and ``.pt2`` (the zip's JSON members
edited as trees, binary members as bytes). The same ``case_seed`` always gives the same bytes.
"""
from __future__ import annotations

import copy
import io
import json
import random
import zipfile

import numpy as np

from wlbridge.frontends.wolfram.expr import Expr, Symbol

HOSTILE_INTS = [0, -1, 1, 2, 3, 7, 2**31 - 1, -2**31, 2**40, 10**6, 16384]


def byte_mutation(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 3, 8])):
        if not buf:
            break
        i = rng.randrange(len(buf))
        k = rng.random()
        if k < 0.45:
            buf[i] = rng.randrange(256)
        elif k < 0.6:
            buf[i] ^= 1 << rng.randrange(8)
        elif k < 0.7:
            del buf[i:i + rng.randint(1, 64)]
        elif k < 0.8:
            buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif k < 0.9:  # copy a chunk from elsewhere (keeps structure-looking bytes)
            j = rng.randrange(len(buf))
            buf[i:i + 8] = buf[j:j + 8]
        else:  # an interesting integer
            v = rng.choice(HOSTILE_INTS) & 0xFFFFFFFF
            buf[i:i + 4] = v.to_bytes(4, "little")
    if rng.random() < 0.1:
        buf = buf[:rng.randrange(len(buf) + 1)]
    return bytes(buf)


# ---- trees (WL expressions, JSON) ----------------------------------------------------------------

def _slots(tree, out, depth=0):
    """Every (container, key) position in a tree of dict / list / Expr (Expr args via a list proxy)."""
    if depth > 60:
        return
    if isinstance(tree, dict):
        for k in list(tree):
            out.append((tree, k))
            _slots(tree[k], out, depth + 1)
    elif isinstance(tree, list):
        for i in range(len(tree)):
            out.append((tree, i))
            _slots(tree[i], out, depth + 1)
    elif isinstance(tree, Expr):
        object.__setattr__(tree, "args", list(tree.args))  # mutable while mutating; frozen again by thaw
        for i in range(len(tree.args)):
            out.append((tree.args, i))
            _slots(tree.args[i], out, depth + 1)


def _thaw(tree, depth=0):
    if depth > 60:
        return tree
    if isinstance(tree, dict):
        for k in tree:
            tree[k] = _thaw(tree[k], depth + 1)
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            tree[i] = _thaw(v, depth + 1)
    elif isinstance(tree, Expr):
        return Expr(_thaw(tree.head, depth + 1), tuple(_thaw(a, depth + 1) for a in tree.args))
    return tree


def hostile_atom(rng: random.Random, wl: bool):
    choices = [rng.choice(HOSTILE_INTS), -rng.choice(HOSTILE_INTS), rng.choice([0.0, -1.5, 1e308, float("nan"),
               float("inf")]), "", "Input", "Output", "Linear", "x" * rng.randint(1, 40), [], {}, [[1, 2], [3]],
               [rng.choice(HOSTILE_INTS)] * rng.randint(0, 4), {"a": 1}, None, True]
    if wl:
        shape = tuple(rng.choice([0, 1, 2, 3, 5]) for _ in range(rng.randint(0, 4)))
        dtype = rng.choice([np.float32, np.float64, np.int32, np.uint8, np.complex64, np.bool_])
        choices += [Symbol(rng.choice(["None", "Automatic", "True", "RealT", "Nothing", "Foo", "Indeterminate"])),
                    Expr(Symbol(rng.choice(["TensorT", "NetPath", "ExportedArray", "Foo", "List", "Rule"])),
                         tuple(rng.choice([1, "x", [2], Symbol("RealT")]) for _ in range(rng.randint(0, 3)))),
                    np.zeros(shape, dtype), np.full(shape, np.nan, np.float32)]
    v = rng.choice(choices)
    return None if v is None and wl else v


def tree_mutation(tree, rng: random.Random, *, wl: bool):
    """Edit 1-4 positions of a (deep-copied) tree; returns the new tree."""
    tree = copy.deepcopy(tree)
    for _ in range(rng.choice([1, 1, 2, 4])):
        slots = []
        _slots(tree, slots)
        if not slots:
            break
        parent, key = rng.choice(slots)
        k = rng.random()
        if k < 0.2 and isinstance(parent, (dict, list)):
            del parent[key]
        elif k < 0.5:  # another value of the same tree: right-looking but misplaced
            _, k2 = other = rng.choice(slots)
            parent[key] = copy.deepcopy(other[0][k2])
        elif k < 0.6 and isinstance(parent[key], (list, np.ndarray)) and len(parent[key]):
            v = parent[key]
            parent[key] = v[:-1] if rng.random() < 0.5 else (list(v) + [v[0]] if isinstance(v, list) else np.concatenate([v, v]))
        elif k < 0.7 and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
            parent[key] = type(parent[key])(parent[key] * rng.choice([-1, 0, 2, 1000]) + rng.choice([0, 1]))
        elif k < 0.8 and isinstance(parent[key], np.ndarray) and parent[key].size:
            a = parent[key]
            parent[key] = rng.choice([a.reshape(-1), a.astype(np.float64), a[..., :1], a.T.copy(), a.astype(np.int32)])
        else:
            parent[key] = hostile_atom(rng, wl)
    return _thaw(tree)


# ---- Wolfram ------------------------------------------------------------------------------------

def _wl_tree_bytes_wxf(data: bytes, rng):
    from wlbridge.frontends.wolfram.wxf import decode_wxf, encode_wxf

    tree = decode_wxf(data)
    return encode_wxf(tree_mutation(tree, rng, wl=True))


def mutate_wxf(seed: bytes, rng: random.Random) -> tuple[bytes, str]:
    k = rng.random()
    if k < 0.55:
        try:
            return _wl_tree_bytes_wxf(seed, rng), "wxf-tree"
        except Exception:  # a mutated tree our writer cannot print: fall back to bytes
            pass
    return byte_mutation(seed, rng), "bytes"


def _h5_open(seed: bytes):
    import h5py

    bio = io.BytesIO(seed)
    return bio, h5py.File(bio, "r+")


def mutate_wlnet(seed: bytes, rng: random.Random) -> tuple[bytes, str]:
    k = rng.random()
    if k < 0.3:
        return byte_mutation(seed, rng), "bytes"
    try:
        return (_h5_mutation(seed, rng), "hdf5") if k < 0.6 else (_compress_mutation(seed, rng), "compress")
    except Exception:
        return byte_mutation(seed, rng), "bytes"


def _compress_mutation(seed: bytes, rng) -> bytes:
    import h5py

    from wlbridge.frontends.wolfram import compress
    from wlbridge.frontends.wolfram.wxf import PRIVATE_CONTEXT

    bio, f = _h5_open(seed)
    with f:
        key = "Network" if rng.random() < 0.85 or "Metadata" not in f else "Metadata"
        raw = f[key][()]
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        if rng.random() < 0.2:  # edit the !boR bytes themselves
            data = byte_mutation(compress.unwrap(text), rng)
            import base64
            import zlib
            new = "1:" + base64.b64encode(zlib.compress(data)).decode()
        else:
            new = compress.encode(tree_mutation(compress.decode(text), rng, wl=True), contexts=PRIVATE_CONTEXT)
        del f[key]
        f.create_dataset(key, data=new, dtype=h5py.string_dtype("utf-8"))
    return bio.getvalue()


def _h5_mutation(seed: bytes, rng) -> bytes:
    import h5py

    bio, f = _h5_open(seed)
    with f:
        arrays = f.get("Arrays")
        names = sorted(arrays) if isinstance(arrays, h5py.Group) else []
        k = rng.random()
        if names and k < 0.45:
            name = rng.choice(names)
            a = arrays[name][()]
            del arrays[name]
            choice = rng.randrange(6)
            if choice == 0:  # declared, chunked, never written: fill values only
                shape = tuple(rng.choice([1000, 16384, 65536]) for _ in range(rng.randint(1, 3)))
                arrays.create_dataset(name, shape=shape, dtype=np.float32, chunks=True)
            elif choice == 1:
                arrays.create_dataset(name, data=a.reshape(-1))
            elif choice == 2:
                arrays.create_dataset(name, data=a.astype(rng.choice([np.float64, np.int8, np.uint16, np.float16])))
            elif choice == 3:
                arrays.create_dataset(name, data=np.concatenate([a.reshape(-1), a.reshape(-1)]))
            elif choice == 4:
                arrays.create_dataset(name, data=a, compression="gzip")
            else:
                arrays.create_dataset(name, data=np.array(b"text"))
        elif k < 0.6:
            key = rng.choice([n for n in ("Version", "Network", "Metadata", "Unstable", "Arrays") if n in f])
            del f[key]
            if rng.random() < 0.5:
                f.create_dataset(key, data=rng.choice([np.zeros((3, 2)), np.arange(5), np.array(b"x" * 40),
                                                       np.array([b"1:", b"2"]), np.float64(11.0)]))
        elif k < 0.8:
            del f["Version"]
            v = rng.choice(["10.0.0", "11.0.0", "12.1.0", "99.9", "", "abc", "1" * 40, "14.3.0"])
            f.create_dataset("Version", data=v, dtype=h5py.string_dtype("utf-8") if rng.random() < 0.5 else None)
        else:
            raw = f["Network"][()]
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            del f["Network"]
            f.create_dataset("Network", data=text[:rng.randrange(len(text) + 1)] if rng.random() < 0.5
                             else np.frombuffer(text.encode(), np.uint8))
    return bio.getvalue()


# ---- ONNX ---------------------------------------------------------------------------------------

_OPS = ["Gemm", "Conv", "MaxPool", "AveragePool", "Reshape", "Flatten", "Transpose", "Concat", "Softmax", "MatMul",
        "Add", "Mul", "Relu", "BatchNormalization", "ConstantOfShape", "Expand", "Tile", "Slice", "Gather",
        "Squeeze", "Unsqueeze", "Where", "Greater", "Pad", "Split", "ReduceMean", "Clip", "LeakyRelu", "Cast",
        "Resize", "Range", "Identity", "Constant", "GlobalAveragePool", "Sum", "Shape", "Erf", "Einsum"]


def mutate_onnx(seed: bytes, rng: random.Random) -> tuple[bytes, str]:
    if rng.random() < 0.25:
        return byte_mutation(seed, rng), "bytes"
    import onnx

    m = onnx.ModelProto.FromString(seed)
    for _ in range(rng.choice([1, 1, 2, 3])):
        try:
            _onnx_edit(m, rng)
        except Exception:  # noqa: BLE001 - an edit onnx's own helpers refuse: skip it
            pass
    return m.SerializeToString(), "onnx-graph"


def _onnx_edit(m, rng) -> None:
    import onnx
    from onnx import helper, numpy_helper

    g = m.graph
    nodes = list(g.node)
    node = rng.choice(nodes) if nodes else None
    k = rng.randrange(14)
    if k == 0 and node is not None and node.attribute:  # drop an attribute
        del node.attribute[rng.randrange(len(node.attribute))]
    elif k == 1 and node is not None and node.attribute:  # change an attribute's value
        a = node.attribute[rng.randrange(len(node.attribute))]
        v = rng.choice([[], [0], [rng.choice(HOSTILE_INTS)] * rng.randint(1, 5), -1, 0, 5, 2.5, "x", "NOTSET"])
        node.attribute.remove(a)
        node.attribute.append(helper.make_attribute(a.name, v) if v != [] else helper.make_attribute(a.name, [], attr_type=onnx.AttributeProto.INTS))
    elif k == 2 and node is not None:  # add a plausible attribute
        name = rng.choice(["axis", "kernel_shape", "strides", "pads", "transA", "transB", "perm", "group",
                           "dilations", "auto_pad", "alpha", "keepdims", "axes", "epsilon"])
        v = rng.choice([[rng.randint(-3, 5)] * rng.randint(1, 4), rng.randint(-3, 5), "SAME_UPPER", "VALID", 0.5])
        node.attribute.append(helper.make_attribute(name, v))
    elif k == 3 and node is not None and node.input:  # drop or rewire an input
        i = rng.randrange(len(node.input))
        names = [x.name for x in g.input] + [t.name for t in g.initializer] + [o for n in nodes for o in n.output]
        if rng.random() < 0.4:
            del node.input[i]
        else:
            node.input[i] = rng.choice(names + ["", "nowhere"])
    elif k == 4 and node is not None:
        node.op_type = rng.choice(_OPS)
    elif k == 5 and g.initializer:  # reshape / retype / empty an initializer
        t = g.initializer[rng.randrange(len(g.initializer))]
        a = numpy_helper.to_array(t)
        choice = rng.randrange(5)
        if choice == 0:
            a = a.reshape(-1)
        elif choice == 1:
            a = a.reshape(-1)[:max(0, a.size - 1)]
        elif choice == 2:
            a = a.astype(rng.choice([np.float64, np.int64, np.int8, np.float16, np.bool_]))
        elif choice == 3:
            a = a.reshape((1,) + a.shape)
        else:
            a = np.zeros((0,) + a.shape[1:], a.dtype)
        t.CopyFrom(numpy_helper.from_array(a, t.name))
    elif k == 6 and g.initializer:  # inconsistent raw data / dims
        t = g.initializer[rng.randrange(len(g.initializer))]
        if rng.random() < 0.5 and t.dims:
            t.dims[rng.randrange(len(t.dims))] = rng.choice([0, 1, 3, 1000, -1])
        else:
            t.data_type = rng.choice([0, 1, 7, 9, 10, 16, 13, 99])
    elif k == 7 and g.output:
        if rng.random() < 0.5:
            del g.output[rng.randrange(len(g.output))]
        else:
            g.output[rng.randrange(len(g.output))].name = rng.choice([i.name for i in g.input] + ["nowhere", ""])
    elif k == 8 and g.input:
        vi = g.input[rng.randrange(len(g.input))]
        t = vi.type.tensor_type
        choice = rng.randrange(4)
        if choice == 0:
            t.elem_type = rng.choice([0, 2, 7, 8, 9, 10, 11, 16, 99])
        elif choice == 1 and t.shape.dim:
            d = t.shape.dim[rng.randrange(len(t.shape.dim))]
            d.dim_value = rng.choice([0, 1, 5, 2**31 - 1, 100000])
        elif choice == 2 and t.shape.dim:
            del t.shape.dim[rng.randrange(len(t.shape.dim))]
        else:
            t.shape.dim.add().dim_value = rng.choice([1, 2, 3])
    elif k == 9:  # a huge constant (folded-constant size)
        shape = numpy_helper.from_array(np.array(rng.choice([[16384, 16384], [2**31, 4], [3, 0], [-1]]), np.int64),
                                        f"big_shape{len(g.initializer)}")
        g.initializer.append(shape)
        out = f"big{len(nodes)}"
        g.node.insert(0, helper.make_node(rng.choice(["ConstantOfShape", "Expand", "Range", "Tile"]),
                                          [shape.name] * (1 if rng.random() < 0.5 else 2), [out]))
        if nodes:
            nodes[-1].input.append(out) if rng.random() < 0.5 else None
    elif k == 10 and node is not None:  # a duplicate / misplaced node
        dup = copy.deepcopy(node)
        g.node.insert(rng.randrange(len(nodes) + 1), dup)
    elif k == 11 and node is not None:
        node.domain = rng.choice(["com.microsoft", "ai.onnx.ml", "x"])
    elif k == 12:
        m.opset_import[0].version = rng.choice([1, 6, 7, 9, 11, 13, 18, 21, 99])
    elif node is not None:
        node.output.append(f"extra{rng.randrange(9)}") if rng.random() < 0.5 else (
            node.output.__delitem__(0) if node.output else None)


# ---- .pt2 ---------------------------------------------------------------------------------------

def mutate_pt2(seed: bytes, rng: random.Random) -> tuple[bytes, str]:
    if rng.random() < 0.15:
        return byte_mutation(seed, rng), "bytes"
    zin = zipfile.ZipFile(io.BytesIO(seed))
    infos = zin.infolist()
    target = rng.choice([i for i in infos if i.filename.endswith(".json")] if rng.random() < 0.75 else infos)
    out = io.BytesIO()
    kind = "pt2-member"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for info in infos:
            data = zin.read(info)
            if info is target:
                if info.filename.endswith(".json"):
                    try:
                        data = json.dumps(tree_mutation(json.loads(data), rng, wl=False)).encode()
                        kind = "pt2-json"
                    except (ValueError, TypeError):
                        data = byte_mutation(data, rng)
                else:
                    data = byte_mutation(data, rng)
            zout.writestr(info, data)
    return out.getvalue(), kind


MUTATORS = {"wlnet": mutate_wlnet, "wxf": mutate_wxf, "onnx": mutate_onnx, "pt2": mutate_pt2}


def mutate(fmt: str, seeds: list[bytes], case_seed: int) -> tuple[bytes, str]:
    rng = random.Random(case_seed)
    seed = seeds[rng.randrange(len(seeds))]
    try:
        return MUTATORS[fmt](seed, rng)
    except Exception:  # noqa: BLE001 - a structured edit that failed: mutate the bytes instead
        return byte_mutation(seed, random.Random(case_seed)), "bytes"
