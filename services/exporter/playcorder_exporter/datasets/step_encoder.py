"""A faster `encode_example` for RLDS steps, equal in output to tfds' own.

tfds encodes a step by walking its FeaturesDict per value (zip_dict, per-leaf checks, np.array copies) and
compresses each ZLIB tensor with zlib level 6: for an Atari step that is ~370 us of zlib and ~60 us of Python.
`compile_encoder` walks the feature tree once and returns a function that, for the values it recognises
(a C-contiguous ndarray of the feature's dtype and shape for a ZLIB tensor, a Python scalar for a scalar), does
only the necessary work: one deflate of the array's buffer (no `tobytes` copy, see deflate.py) or the value
itself (the serializer converts the stacked list with the feature's dtype, as it does for tfds' arrays). Any
other value goes to tfds' `encode_example`, which converts it or raises its usual error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from playcorder_exporter.datasets.deflate import compress

Encoder = Callable[[Any], Any]
F = tfds.features
_SCALARS = (bool, int, float)


def compile_encoder(feature: F.FeatureConnector) -> Encoder:
    if type(feature) is F.FeaturesDict:
        return _dict_encoder(feature)
    if type(feature) in (F.Tensor, F.Scalar) and not feature._dynamic_shape:
        if feature._encoding == F.Encoding.ZLIB:
            return _zlib_encoder(feature)
        if feature.shape == () and feature._encoding == F.Encoding.NONE:
            return _scalar_encoder(feature)
    return feature.encode_example


def _dict_encoder(feature: F.FeaturesDict) -> Encoder:
    parts = [(k, compile_encoder(f)) for k, f in feature.items()]
    keys = {k for k, _ in parts}

    def encode(value: Any) -> Any:
        if not isinstance(value, dict) or value.keys() != keys:
            return feature.encode_example(value)  # raises tfds' error naming the keys
        return {k: enc(value[k]) for k, enc in parts}

    return encode


def _zlib_encoder(feature: F.Tensor) -> Encoder:
    dtype, shape = np.dtype(feature.np_dtype), tuple(feature.shape)
    fallback = feature.encode_example

    def encode(value: Any) -> Any:
        if type(value) is np.ndarray and value.dtype == dtype and value.shape == shape and value.flags.c_contiguous:
            return compress(value)
        return fallback(value)

    return encode


def _scalar_encoder(feature: F.Tensor) -> Encoder:
    fallback = feature.encode_example

    def encode(value: Any) -> Any:
        return value if type(value) in _SCALARS else fallback(value)

    return encode
