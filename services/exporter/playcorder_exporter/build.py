"""Building one export: stream each episode's chunks from S3 into a format writer, then upload the dataset as a
ZIP or as its directory tree.

Runs in a worker thread (blocking S3 reads and file writes). Memory holds one chunk of steps at a time plus what
the format keeps of the episode being written; files go to a scratch directory, uploads are multipart.
"""

from __future__ import annotations

import dataclasses
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playcorder.exports import ExportOptions
from playcorder.records import Step, decode_chunk, read_header
from playcorder.spaces import format_limits, zeros
from playcorder.storage import ObjectStore, export_key

from .datasets.formats import DatasetConfig, EpisodeMeta, open_writer
from .plan import EpisodeSource, Planned, agent_id, plan

PROGRESS_EVERY = 256  # steps between progress reports


@dataclass
class Built:
    key: str  # object key of the ZIP, or the prefix of the tree's files
    size: int
    files: list[dict[str, Any]] | None  # tree exports: [{"path", "size"}]
    summary: dict[str, Any]


def _reward_before(objects: ObjectStore, source: EpisodeSource, index: int) -> tuple[float, dict[str, bytes]]:
    """Sum of the rewards of steps 0..index-1: whole chunks from the database, the boundary chunk's header from S3.
    Also returns the boundary chunk as fetched, {key: data}, so that writing the episode does not fetch it again."""
    total, fetched = 0.0, {}
    for key, first, n, reward_sum in source.chunks:
        if first + n <= index:
            total += reward_sum
        elif first < index:
            fetched[key] = data = objects.get_bytes_sync(key)
            total += sum(s.reward for s in read_header(data).steps if s.i < index)
    return total, fetched


def steps_of(objects: ObjectStore, p: Planned, fetched: dict[str, bytes]) -> Iterator[Step]:
    """The planned steps, chunk by chunk (those in `fetched` are not fetched again)."""
    s = p.source
    for key, first, _, _ in s.chunks:
        if first > p.last:
            return
        data = fetched.pop(key, None) or objects.get_bytes_sync(key)
        _, steps = decode_chunk(data, s.observation_spec, s.action_spec)
        for step in steps:
            step.tags = s.step_tags.get(step.index, [])
            if step.index == p.last:
                if p.close and not step.is_last:  # a step recorded as last stays as it is (maybe terminal)
                    step = dataclasses.replace(step, action=zeros(s.action_spec), reward=0.0, discount=1.0,
                                               is_last=True, is_terminal=False)
                yield step
                return
            yield step


def _counted(steps: Iterator[Step], progress: Callable[[int], None], done: int) -> Iterator[Step]:
    for n, step in enumerate(steps, 1):
        yield step
        if n % PROGRESS_EVERY == 0:
            progress(done + n)


def build_export(
    objects: ObjectStore, sources: list[EpisodeSource], options: ExportOptions, *, dataset_name: str, fps: int,
    study_id: str, export_id: str, description: str, workdir: Path | None, progress: Callable[[int], None],
) -> Built:
    specs = {(repr(e.observation_spec), repr(e.action_spec)) for e in sources}
    if len(specs) != 1:
        envs = sorted({e.env for e in sources})
        raise ValueError(f"Expected episodes of environments with one observation and action space, got {envs}; "
                         "export each environment separately")
    if reason := format_limits(sources[0].observation_spec, sources[0].action_spec).get(options.format):
        # the gateway refuses such a request; a job queued before then (or by hand) fails here, naming why
        raise ValueError(f"Expected spaces the {options.format} format can hold, got: {reason}")
    step_tags = tuple(sorted({t for s in sources for tags in s.step_tags.values() for t in tags}))
    config = DatasetConfig(
        name=options.name or dataset_name, version=options.version, observation_spec=sources[0].observation_spec,
        action_spec=sources[0].action_spec, keep_metadata=options.keep_metadata, step_tags=step_tags, fps=fps,
        description=description,
    )
    with tempfile.TemporaryDirectory(dir=workdir, prefix="export-") as tmp:
        root = Path(tmp) / "dataset"
        root.mkdir()
        writer = open_writer(options.format, root, config)
        done = 0
        try:
            for index, p in enumerate(plan(sources, options)):
                s = p.source
                # A cut episode's reward stops at its new last step (whose reward, as on any last step, is 0).
                reward, fetched = _reward_before(objects, s, p.last) if p.close else (s.total_reward, {})
                meta = EpisodeMeta(
                    episode_id=s.id, episode_index=index, agent_id=agent_id(s.participant_id, s.study_id),
                    study_id=s.study_id, environment=s.env, env_id=s.env_id, state=s.state, seed=s.seed,
                    num_steps=p.num_steps, total_reward=reward, tags=tuple(s.tags), notes=s.notes,
                )
                steps = steps_of(objects, p, fetched)
                done += writer.add_episode(meta, _counted(steps, progress, done), split=p.split)
                progress(done)
        finally:
            summary = writer.close()
        if options.archive:
            return _upload_zip(objects, root, Path(tmp) / f"{config.name}.zip", study_id, export_id, summary)
        return _upload_tree(objects, root, study_id, export_id, summary)


def _upload_zip(objects: ObjectStore, root: Path, archive: Path, study_id: str, export_id: str,
                summary: dict[str, Any]) -> Built:
    # Most payloads are compressed already (zlib tensors, JPEG, zstd, video): deflate level 1 costs little on
    # them and still shrinks the JSON, parquet and metadata.
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(root))
    key = export_key(study_id, export_id, archive.name)
    objects.put_file_sync(key, archive, content_type="application/zip")
    return Built(key=key, size=archive.stat().st_size, files=None, summary=summary)


def _upload_tree(objects: ObjectStore, root: Path, study_id: str, export_id: str, summary: dict[str, Any]) -> Built:
    prefix = export_key(study_id, export_id, "files/")
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            relative = path.relative_to(root).as_posix()
            objects.put_file_sync(prefix + relative, path)
            files.append({"path": relative, "size": path.stat().st_size})
    return Built(key=prefix, size=sum(f["size"] for f in files), files=files, summary=summary)
