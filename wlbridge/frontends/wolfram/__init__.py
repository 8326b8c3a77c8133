"""Wolfram nets without a kernel: ``.wlnet`` (HDF5) and ``.wxf`` readers and writers.

Modules: :mod:`.expr` (data-only WL expression tree), :mod:`.compress` (``"1:"`` Compress strings,
``!boR`` decoder and encoder), :mod:`.inputform` (data-only InputForm parser for 11.0 files, exact
WL printer), :mod:`.wlnet`, :mod:`.wxf`, :mod:`.netassoc` (net association -> IR, shared by every
reader), :mod:`.layers` (one rule per layer type), :mod:`.coders` (NetEncoder/NetDecoder ports),
:mod:`.scalarfn` (``ScalarFunctionObject`` <-> ``scalar_fn`` bodies), :mod:`.upgrade` (old key
names) and :mod:`.netwriter` (IR -> net association).

Semantics worth knowing:

- ``LinearLayer`` flattens its input: IR ``flatten`` (rank != 1) + ``linear`` (+ ``reshape`` when
  ``OutputDimensions`` has several entries). Dropout is the identity.
- ``EmbeddingLayer`` indices are 1-based as in WL: the IR subtracts 1 before its 0-based
  ``embedding`` (``net.meta["index_base"] == 1``).
- ``NetEncoder["Image"]``: the IR input is the image tensor (values in [0, 1], channels first);
  ``(x - MeanImage) / Sqrt[VarianceImage]`` is emitted as IR ``sub``/``div`` layers (the square root
  of VarianceImage is our reading of the name: unverified against a kernel).
- ``NetDecoder["Scalar"]`` gives a scalar output; ``NetDecoder["Class"]`` keeps the probability vector
  and puts the labels in ``net.meta["labels"]``.
- Pooling ``"$MXPoolingConvention" -> "full"`` is ceil mode; ``"$IgnorePadding" -> True`` excludes
  padding from averages.
- Nothing read from a file is evaluated; decompression, nesting and array sizes are bounded.
"""
