"""Streams RLDS episodes into a TFDS-layout dataset (TFRecord shards + dataset_info.json +
features.json) that `tfds.builder_from_directory` loads, without importing TensorFlow."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

import tensorflow_datasets as tfds
from etils import epath
from google.protobuf import json_format
from tensorflow_datasets.core import example_serializer
from tensorflow_datasets.core.features import sequence_feature

from playcorder_exporter.datasets import rlds_features as rf
from playcorder_exporter.datasets.step_encoder import compile_encoder
from playcorder_exporter.datasets.tfrecord import TFRecordWriter

_NAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")  # '-' and '.' would break shard names
_CHUNK = 128  # raw steps in flight at once: bounds memory for long episodes of frames


class RLDSWriter:
    """Writes one split of an RLDS dataset; each TFRecord example is one episode.

    Steps are stored as given. Convention used by playcorder: step i holds
    (o_i, a_i, r_i, discount_i); the last step holds the final observation with
    is_last=True, a `spaces.zeros(action_spec)` action, reward 0 and discount 0 if the
    episode terminated (is_terminal=True) or 1 if it was truncated.
    Writers for different splits may share `directory` if closed one after another.
    """

    def __init__(
        self,
        directory: Path,
        *,
        name: str,
        version: str = "1.0.0",
        observation_spec: dict,
        action_spec: dict,
        episode_metadata: dict[str, str],
        step_image: bool = False,
        step_metadata: dict[str, str] | None = None,
        description: str = "",
        shard_max_bytes: int = 256 << 20,
        split: str = "train",
        encode_workers: int | None = None,
        part: tuple[int, int] | None = None,
    ) -> None:
        """`part=(index, count)`: write one file of a sharded export, `{name}-{split}.tfrecord-{index}-of-{count}`,
        however large, and no dataset_info.json (the export's finalize step writes it, `write_dataset_info`)."""
        for what, value in (("name", name), ("split", split)):
            if not _NAME_RE.match(value):
                raise ValueError(f"Invalid dataset {what} {value!r}: use letters, digits and '_'")
        self.directory = Path(directory)
        self.name, self.split, self.description = name, split, description
        self.version = str(tfds.core.Version(version))  # validates "x.y.z"
        self.shard_max_bytes = shard_max_bytes if part is None else 1 << 62
        self._part = part
        self.features = rf.episode_features(
            observation_spec, action_spec, episode_metadata, step_image=step_image, step_metadata=step_metadata
        )
        self._step_feature = self.features["steps"].feature
        self._encode_step = compile_encoder(self._step_feature)
        self._serializer = example_serializer.ExampleSerializer(self.features.get_serialized_info())
        self._specs = {k: s for k, s in (("observation", observation_spec), ("action", action_spec)) if rf.has_tuple(s)}
        self._step_keys = set(self._step_feature.keys())
        self._meta_keys = sorted(episode_metadata)
        self._prefix = f"{name}-{split}.tfrecord"
        self.directory.mkdir(parents=True, exist_ok=True)
        if existing := sorted(p.name for p in self.directory.glob(f"{self._prefix}-*")):
            raise FileExistsError(f"{self.directory} already has files of split {split!r}: {existing[:3]}")
        if part is None:
            self._other_splits()  # fail early if the directory holds an incompatible dataset
        if encode_workers is None:
            # Threads only pay off for zlib (it releases the GIL); small steps stay inline.
            compressed = rf.has_compressed(observation_spec) or rf.has_compressed(action_spec)
            encode_workers = min(8, os.cpu_count() or 1) if compressed else 0
        self._workers = encode_workers
        self._pool = ThreadPoolExecutor(encode_workers) if encode_workers > 1 else None
        self._has_image = step_image
        self._writer: TFRecordWriter | None = None
        self._shard_lengths: list[int] = []  # episodes per shard
        self._shard_bytes: list[int] = []
        self._steps = 0
        self._summary: dict[str, Any] | None = None

    def add_episode(self, steps: Iterable[dict], metadata: dict) -> int:
        """Encode and append one episode; nothing is written if a step or metadata is invalid. Returns its steps."""
        if self._summary is not None:
            raise RuntimeError("RLDSWriter is closed")
        if sorted(metadata) != self._meta_keys:
            raise ValueError(f"Expected metadata keys {self._meta_keys}, got {sorted(metadata)}")
        encoded_meta = {k: self.features[k].encode_example(v) for k, v in metadata.items()}
        encoded_steps: list[dict] = []
        checked = map(self._check_step, steps)
        while chunk := list(islice(checked, _CHUNK)):
            encoded_steps.extend(self._encode_chunk(chunk))
        if not encoded_steps:
            raise ValueError("An episode needs at least one step")
        example = {"steps": sequence_feature.stack_nested(encoded_steps), **encoded_meta}
        self._write(self._serializer.serialize_example(example))
        self._steps += len(encoded_steps)
        return len(encoded_steps)

    def _check_step(self, step: Mapping[str, Any]) -> Mapping[str, Any]:
        if step.keys() != self._step_keys:
            raise ValueError(f"Expected step keys {sorted(self._step_keys)}, got {sorted(step)}")
        if self._specs:
            step = {**step, **{k: rf.to_feature_value(s, step[k]) for k, s in self._specs.items()}}
        image = step["image"] if self._has_image else b""
        if not isinstance(image, bytes):
            if not isinstance(image, (bytearray, memoryview)):
                # tfds would encode an array with tf.image, importing TensorFlow.
                raise TypeError(f"Step 'image' must be JPEG bytes, got {type(image).__name__}")
            step = {**step, "image": bytes(image)}
        return step

    def _encode_chunk(self, chunk: list[Mapping[str, Any]]) -> list[dict]:
        encode = self._encode_step
        if self._pool is None or len(chunk) < 2:
            return [encode(s) for s in chunk]
        n = self._workers
        parts = [chunk[i::n] for i in range(n)]  # strided so parts are equal-sized
        results = list(self._pool.map(lambda part: [encode(s) for s in part], parts))
        return [results[i % n][i // n] for i in range(len(chunk))]

    def _shard_path(self, index: int, count: int | None = None) -> Path:
        # Shards get their final "-NNNNN-of-MMMMM" name at close, once the count is known.
        if self._part is not None:
            index, count = self._part[0], (self._part[1] if count is not None else None)
        suffix = f"{index:05d}-of-{count:05d}" if count is not None else f"{index:05d}.incomplete"
        return self.directory / f"{self._prefix}-{suffix}"

    def _write(self, record: bytes) -> None:
        w = self._writer
        if w is None or (w.num_records and w.num_bytes + len(record) + 16 > self.shard_max_bytes):
            self._close_shard()
            self._writer = TFRecordWriter(self._shard_path(len(self._shard_lengths)))
            self._shard_lengths.append(0)
            self._shard_bytes.append(0)
        self._shard_bytes[-1] += self._writer.write(record)
        self._shard_lengths[-1] += 1

    def _close_shard(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _other_splits(self) -> list[dict]:
        """Splits already recorded in the directory by other writers (checked compatible)."""
        info_path = self.directory / "dataset_info.json"
        if not info_path.exists():
            return []
        info = json.loads(info_path.read_text())
        ours = json_format.MessageToDict(self.features.to_proto())  # as tfds writes it
        theirs = json.loads((self.directory / "features.json").read_text())
        if (info.get("name"), info.get("version")) != (self.name, self.version) or theirs != ours:
            raise ValueError(f"{self.directory} holds a different dataset or features; use another directory")
        return [s for s in info.get("splits", []) if s["name"] != self.split]

    def close(self) -> dict[str, Any]:
        """Finish shards and write dataset_info.json + features.json; returns a summary."""
        if self._summary is not None:
            return self._summary
        self._close_shard()
        if self._pool is not None:
            self._pool.shutdown()
        count = len(self._shard_lengths)
        for i in range(count):
            self._shard_path(i).rename(self._shard_path(i, count))
        if self._part is None:
            splits = {s["name"]: ([int(n) for n in s.get("shardLengths", [])], int(s.get("numBytes", 0)))
                      for s in self._other_splits()}
            splits[self.split] = (self._shard_lengths, sum(self._shard_bytes))
            write_dataset_info(self.directory, self.features, name=self.name, version=self.version,
                               description=self.description, splits=splits)
        self._summary = {
            "split": self.split, "episodes": sum(self._shard_lengths), "steps": self._steps,
            "bytes": sum(self._shard_bytes), "shards": count, "shard_lengths": list(self._shard_lengths),
        }
        return self._summary

    def __enter__(self) -> RLDSWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Episodes already written are complete, so finish the dataset even on error.
        self.close()


def write_dataset_info(directory: Path, features: tfds.features.FeaturesDict, *, name: str, version: str,
                       description: str, splits: Mapping[str, tuple[list[int], int]]) -> None:
    """dataset_info.json + features.json, as tfds writes them, for splits {name: (episodes per file, bytes)}."""
    template = tfds.core.ShardedFileTemplate(
        data_dir=epath.Path(directory), dataset_name=name, filetype_suffix="tfrecord"
    )
    identity = tfds.core.DatasetIdentity(
        name=name, version=tfds.core.Version(version), data_dir=str(directory), module_name=""
    )
    info = tfds.core.DatasetInfo(builder=identity, features=features, description=description)
    info.set_file_format("tfrecord")
    info.set_splits(tfds.core.SplitDict([
        tfds.core.SplitInfo(split, lengths, num_bytes, template.replace(split=split))
        for split, (lengths, num_bytes) in splits.items()
    ]))
    info.write_to_directory(epath.Path(directory))
