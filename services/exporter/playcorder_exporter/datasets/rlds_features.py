"""TFDS feature dicts for RLDS episodes, built from JSON space specs (see playcorder.spaces).

Only tfds feature classes are used here; none of them import TensorFlow to encode. A text space is a tfds Text
feature (a tf.string of its UTF-8); Sequence and Graph spaces have no feature (spaces.format_limits says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from playcorder.spaces import format_limits, leaf_dtype, leaf_shape

Spec = Mapping[str, Any]
F = tfds.features

# Tensors this large are zlib-compressed (lossless, ~free to decode); smaller ones
# stay plain tf.Example lists so they are readable without tfds' decoder.
ZLIB_MIN_ELEMENTS = 1024

STEP_KEYS: tuple[str, ...] = (
    "observation", "action", "reward", "discount", "is_first", "is_last", "is_terminal",
)
METADATA_KINDS = ("string", "int64", "float32", "bool", "string_list")


def _tensor(shape: tuple[int, ...], dtype: np.dtype) -> F.Tensor:
    if int(np.prod(shape, dtype=np.int64)) >= ZLIB_MIN_ELEMENTS:
        return F.Tensor(shape=shape, dtype=dtype, encoding=F.Encoding.ZLIB)
    if dtype == np.float64:
        # tf.Example only has float32 lists; raw bytes keep float64 bit-exact.
        return F.Tensor(shape=shape, dtype=dtype, encoding=F.Encoding.BYTES)
    return F.Tensor(shape=shape, dtype=dtype)


def feature_for(spec: Spec) -> F.FeatureConnector:
    """The tfds feature storing values of the space described by `spec`.

    Tuple spaces become a FeaturesDict keyed "0", "1", ... (tfds has no tuple
    feature); `to_feature_value` converts tuple values accordingly.
    """
    kind = spec.get("type")
    if kind == "dict":
        return F.FeaturesDict({k: feature_for(s) for k, s in spec["spaces"].items()})
    if kind == "tuple":
        return F.FeaturesDict({str(i): feature_for(s) for i, s in enumerate(spec["spaces"])})
    if kind == "text":
        return F.Text()
    if kind in ("sequence", "graph"):
        raise ValueError(f"Expected spaces an RLDS dataset can hold, got: {format_limits(spec, {})['rlds']}")
    return _tensor(leaf_shape(spec), leaf_dtype(spec))


def has_tuple(spec: Spec) -> bool:
    """Whether values of `spec` need `to_feature_value` before encoding."""
    if spec.get("type") == "tuple":
        return True
    if spec.get("type") == "dict":
        return any(has_tuple(s) for s in spec["spaces"].values())
    return False


def has_compressed(spec: Spec) -> bool:
    """Whether any leaf of `spec` is stored zlib-compressed (encoding is CPU-heavy)."""
    kind = spec.get("type")
    if kind in ("dict", "tuple"):
        subs = spec["spaces"]
        return any(has_compressed(s) for s in (subs.values() if kind == "dict" else subs))
    if kind == "text":
        return False
    return int(np.prod(leaf_shape(spec), dtype=np.int64)) >= ZLIB_MIN_ELEMENTS


def to_feature_value(spec: Spec, value: Any) -> Any:
    """Convert a space sample to the structure `feature_for(spec)` encodes (tuples -> dicts)."""
    kind = spec.get("type")
    if kind == "tuple":
        return {str(i): to_feature_value(s, v) for i, (s, v) in enumerate(zip(spec["spaces"], value, strict=True))}
    if kind == "dict":
        return {k: to_feature_value(s, value[k]) for k, s in spec["spaces"].items()}
    return value


def metadata_feature(kind: str) -> F.FeatureConnector:
    """Feature for an episode/step metadata field of the given kind (METADATA_KINDS)."""
    if kind == "string":
        return F.Text()
    if kind == "int64":
        return F.Scalar(dtype=np.int64)
    if kind == "float32":
        return F.Scalar(dtype=np.float32)
    if kind == "bool":
        return F.Scalar(dtype=np.bool_)
    if kind == "string_list":
        return F.Sequence(F.Text())
    raise ValueError(f"Unknown metadata kind {kind!r}; expected one of {list(METADATA_KINDS)}")


def step_features(
    observation_spec: Spec,
    action_spec: Spec,
    *,
    step_image: bool = False,
    step_metadata: Mapping[str, str] | None = None,
) -> F.FeaturesDict:
    """Features of one RLDS step: the STEP_KEYS, `image` (JPEG) if asked, then extras."""
    features: dict[str, F.FeatureConnector] = {
        "observation": feature_for(observation_spec),
        "action": feature_for(action_spec),
        "reward": F.Scalar(dtype=np.float32),
        "discount": F.Scalar(dtype=np.float32),
        "is_first": F.Scalar(dtype=np.bool_),
        "is_last": F.Scalar(dtype=np.bool_),
        "is_terminal": F.Scalar(dtype=np.bool_),
    }
    if step_image:
        # Stored as the caller's JPEG bytes; tfds only decodes at read time.
        features["image"] = F.Image(encoding_format="jpeg")
    for name, kind in (step_metadata or {}).items():
        if name in features:
            raise ValueError(f"Step metadata {name!r} clashes with a standard step field")
        features[name] = metadata_feature(kind)
    return F.FeaturesDict(features)


def episode_features(
    observation_spec: Spec,
    action_spec: Spec,
    episode_metadata: Mapping[str, str],
    *,
    step_image: bool = False,
    step_metadata: Mapping[str, str] | None = None,
) -> F.FeaturesDict:
    """Features of one RLDS episode: `steps` (a tfds Dataset of steps) plus metadata."""
    if "steps" in episode_metadata:
        raise ValueError("Episode metadata may not be named 'steps'")
    steps = step_features(observation_spec, action_spec, step_image=step_image, step_metadata=step_metadata)
    features: dict[str, F.FeatureConnector] = {"steps": F.Dataset(steps)}
    features.update({name: metadata_feature(kind) for name, kind in episode_metadata.items()})
    return F.FeaturesDict(features)
