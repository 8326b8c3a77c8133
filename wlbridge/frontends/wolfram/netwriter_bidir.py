"""The writer's fold of a bidirectional recurrent layer into one ``NetBidirectionalOperator`` (a FUSION,
see ``netwriter.FUSIONS``): a forward and a reversed recurrent op (``lstm``/``gru``/``rnn``, output sequence)
on the same input, read only by one ``concat`` on their last axis (``Catenate``) or one ``add`` (``Total``)
- what torch's ``bidirectional=True`` gives. The sub-nets are the two layers as written alone (the backward
one without its ``SequenceReverse`` pair: the operator reverses); layout as :mod:`.layers_bidir` reads it.
Any other use of the two outputs keeps the chains of :mod:`.netwriter_seq`.
"""
from __future__ import annotations

from .expr import Symbol
from .netwriter import FUSIONS, T, _Graph, _Skip, ports
from .netwriter_misc import _free, _index, _sole_user
from .netwriter_seq import _cell

RECURRENT = ("lstm", "gru", "rnn")


def _direction(g: _Graph, producer, users, v, consumer, reverse: bool):
    L = producer.get(v)
    if L is None or L.op not in RECURRENT or not _free(g, L) or L.attrs.get("output", "sequence") != "sequence" \
            or bool(L.attrs.get("reverse")) != reverse or _sole_user(g, users, v) is not consumer:
        return None
    return L


def _aggregation(g: _Graph, C) -> str | None:
    out = g.net.shapes[C.output]
    if C.op == "concat" and len(out) == 2 and int(C.attrs.get("axis", 0)) % 2 == 1:
        return "Catenate"
    if C.op == "add" and all(tuple(g.net.shapes[v]) == tuple(out) for v in C.inputs):
        return "Total"
    return None


def fuse_bidirectional(g: _Graph) -> None:
    producer, users = _index(g.net)
    for C in g.net.layers:
        if C.op not in ("concat", "add") or len(C.inputs) != 2 or C.inputs[0] == C.inputs[1] or not _free(g, C):
            continue
        agg = _aggregation(g, C)
        fwd = _direction(g, producer, users, C.inputs[0], C, reverse=False)
        bwd = _direction(g, producer, users, C.inputs[1], C, reverse=True)
        if agg is None or fwd is None or bwd is None or fwd.inputs != bwd.inputs:
            continue
        x = fwd.inputs[0]
        seq = tuple(int(d) for d in g.net.shapes[g.alias.get(x, x)])
        out = tuple(int(d) for d in g.net.shapes[C.output])
        try:
            f, b = _cell(fwd, seq), _cell(bwd, seq)
        except _Skip:  # not writable: the layers' own writers report why
            continue
        params = {"ForwardNet": f, "BackwardNet": b, "Aggregation": Symbol(agg), "$InputTensor": T(seq),
                  "$ForwardTensor": f["Outputs"]["Output"], "$BackwardTensor": b["Outputs"]["Output"],
                  "$SequentialOutput": Symbol("True")}
        g.skip.update({fwd.output, bwd.output})
        g.prebuilt[C.output] = ({"Type": "NetBidirectional", "Arrays": {}, "Parameters": params,
                                 **ports([seq], out)}, [x])


FUSIONS.append(fuse_bidirectional)
