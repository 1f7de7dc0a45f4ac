"""Building one RLDS export: stream each episode's chunks from S3 into the TFDS writer, zip, upload.

Runs in a worker thread (blocking S3 reads and file writes); memory holds one chunk at a time.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from playcorder.datasets.rlds_writer import RLDSWriter
from playcorder.records import decode_chunk
from playcorder.storage import ObjectStore, export_key

EPISODE_METADATA = {
    "episode_id": "string", "agent_id": "string", "study_id": "string", "environment": "string", "env_id": "string",
    "state": "string", "num_steps": "int64", "total_reward": "float32", "seed": "int64",
}


@dataclass
class EpisodeSource:
    id: str
    study_id: str
    participant_id: str
    env: str
    env_id: str
    state: str
    num_steps: int
    total_reward: float
    seed: int
    observation_spec: dict[str, Any]
    action_spec: dict[str, Any]
    chunk_keys: list[str]


def agent_id(participant_id: str, study_id: str) -> str:
    """A stable pseudonym: the same participant in the same study, never their id itself."""
    return hashlib.sha256(f"{study_id}:{participant_id}".encode()).hexdigest()[:32]


def dataset_name(study_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", study_name.lower()).strip("_") or "study"
    return f"playcorder_{slug}"[:64]


def _steps(objects: ObjectStore, ep: EpisodeSource) -> Iterator[dict[str, Any]]:
    for key in ep.chunk_keys:
        _, steps = decode_chunk(objects.get_bytes_sync(key), ep.observation_spec)
        for s in steps:
            yield {
                "observation": s.observation, "action": s.action, "reward": s.reward, "discount": s.discount,
                "is_first": s.is_first, "is_last": s.is_last, "is_terminal": s.is_terminal, "image": s.image or b"",
            }


def build_rlds_zip(
    objects: ObjectStore, episodes: list[EpisodeSource], *, study_name: str, study_id: str, export_id: str,
    workdir: Path | None, progress: Callable[[int], None],
) -> tuple[str, int]:
    """Returns the object key of the uploaded ZIP and its size in bytes."""
    specs = {(repr(e.observation_spec), repr(e.action_spec)) for e in episodes}
    if len(specs) != 1:
        envs = sorted({e.env for e in episodes})
        raise ValueError(f"Expected episodes of environments with one observation and action space, got {envs}; "
                         "export each environment separately")
    name = dataset_name(study_name)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="export-") as tmp:
        root = Path(tmp) / name / "1.0.0"
        root.mkdir(parents=True)
        writer = RLDSWriter(
            root, name=name, observation_spec=episodes[0].observation_spec, action_spec=episodes[0].action_spec,
            episode_metadata=EPISODE_METADATA, step_image=True,
            description=f"Playcorder study {study_name} ({study_id}), export {export_id}",
        )
        done = 0
        with writer:
            for ep in episodes:
                meta = {
                    "episode_id": ep.id, "agent_id": agent_id(ep.participant_id, ep.study_id), "study_id": ep.study_id,
                    "environment": ep.env, "env_id": ep.env_id, "state": ep.state, "num_steps": ep.num_steps,
                    "total_reward": ep.total_reward, "seed": ep.seed,
                }
                writer.add_episode(_steps(objects, ep), meta)
                done += ep.num_steps
                progress(done)
        archive = Path(tmp) / f"{name}.zip"
        # Shards are already compressed (zlib tensors, JPEG images): store, don't deflate again.
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(Path(tmp)))
        key = export_key(study_id, export_id, archive.name)
        objects.put_file_sync(key, archive, content_type="application/zip")
        return key, archive.stat().st_size
