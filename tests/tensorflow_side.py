"""TensorFlow work for the tests, in a child process: TF and MuJoCo's EGL renderer crash when they share one.

`load(dir, split)` loads an RLDS/TFDS dataset with tfds and returns its info and episodes as numpy values;
`write_tfrecords(path, records)` writes records with TensorFlow's own writer, for byte-for-byte comparison;
`rlds_summary(dir, split)` runs rlds transformations on the dataset.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def _run(*args: str) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.pickle"
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        proc = subprocess.run([sys.executable, __file__, *args, str(out)], env=env, capture_output=True, text=True,
                              timeout=600)
        if proc.returncode != 0:
            raise AssertionError(f"tensorflow side failed:\n{proc.stderr[-4000:]}")
        return pickle.loads(out.read_bytes())


def load(directory: Path, split: str = "train") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(info, episodes): info has description, version, and per split num_examples/num_shards/num_bytes;
    each episode is its metadata as numpy values plus "steps", a list of step dicts."""
    return _run("load", str(directory), split)  # type: ignore[no-any-return]


def write_tfrecords(path: Path, records: list[bytes]) -> None:
    with tempfile.NamedTemporaryFile(suffix=".pickle", delete=False) as f:
        pickle.dump(records, f)
    try:
        _run("write", str(path), f.name)
    finally:
        os.unlink(f.name)


def rlds_summary(directory: Path, split: str = "train") -> dict[str, Any]:
    """rlds.transformations on the loaded dataset: episode lengths, summed rewards, windows of 2 steps (shift 1)
    and the steps truncated after the first is_terminal, per episode in load order."""
    return _run("rlds", str(directory), split)  # type: ignore[no-any-return]


def _import_rlds() -> Any:
    """rlds imports reverb (dm-reverb) for pattern_map only; no reverb build matches this TensorFlow, so a stand-in
    module satisfies that import (pattern_map itself is not used)."""
    import types

    reverb = types.ModuleType("reverb")
    reverb.structured_writer = types.SimpleNamespace(  # type: ignore[attr-defined]
        Config=object, ReferenceStep=object, Pattern=object, Condition=object)
    sys.modules.setdefault("reverb", reverb)
    import rlds

    return rlds


def _child(argv: list[str]) -> None:
    import tensorflow as tf
    import tensorflow_datasets as tfds

    command, out = argv[0], Path(argv[-1])
    if command == "load":
        builder = tfds.builder_from_directory(argv[1])
        splits = {name: {"num_examples": s.num_examples, "num_shards": s.num_shards, "num_bytes": s.num_bytes}
                  for name, s in builder.info.splits.items()}
        info = {"description": builder.info.description, "version": str(builder.info.version), "splits": splits}
        episodes = []
        for ep in builder.as_dataset(split=argv[2]):
            steps = list(tfds.as_numpy(ep.pop("steps")))
            episodes.append({k: v.numpy() for k, v in ep.items()} | {"steps": steps})
        result: Any = (info, episodes)
    elif command == "rlds":
        rlds = _import_rlds()
        episodes = tfds.builder_from_directory(argv[1]).as_dataset(split=argv[2])
        result = []
        for ep in episodes:
            steps = ep[rlds.STEPS]
            windows = list(rlds.transformations.batch(steps, size=2, shift=1, drop_remainder=True).as_numpy_iterator())
            truncated = rlds.transformations.truncate_after_condition(steps, lambda s: s[rlds.IS_TERMINAL])
            result.append({
                "length": int(rlds.transformations.episode_length(steps)),
                "reward": float(rlds.transformations.sum_dataset(steps, lambda s: s[rlds.REWARD])),
                "windows": [{k: w[k] for k in ("is_first", "is_last", "reward")} for w in windows],
                "until_terminal": int(rlds.transformations.episode_length(truncated)),
            })
    elif command == "write":
        with tf.io.TFRecordWriter(argv[1]) as writer:
            for record in pickle.loads(Path(argv[2]).read_bytes()):
                writer.write(record)
        result = None
    else:
        raise SystemExit(f"Expected command load or write, got {command!r}")
    out.write_bytes(pickle.dumps(result))


if __name__ == "__main__":
    _child(sys.argv[1:])
