"""Building one export: stream each episode's chunks from S3 into a format writer, then upload the dataset as a
ZIP or as its directory tree.

Runs in a worker thread (blocking S3 reads and file writes). Memory holds one chunk of steps at a time plus what
the format keeps of the episode being written; files go to a scratch directory, uploads are multipart.
"""

from __future__ import annotations

import dataclasses
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playcorder.exports import ExportOptions
from playcorder.records import Step, decode_chunk, read_header
from playcorder.spaces import zeros
from playcorder.storage import ObjectStore, export_key

from .datasets.formats import DatasetConfig, EpisodeMeta, finalize, open_writer
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
            if step.control is not None:
                step.control = _pseudonymous(step.control, s.study_id)
            if step.index == p.last:
                if p.close and not step.is_last:  # a step recorded as last stays as it is (maybe terminal)
                    step = dataclasses.replace(step, action=zeros(s.action_spec), reward=0.0, discount=1.0,
                                               is_last=True, is_terminal=False)
                yield step
                return
            yield step


def _pseudonymous(control: dict[str, Any], study_id: str) -> dict[str, Any]:
    """A step's control as exported: its participant as the pseudonym agent_id gives episodes, "" for none."""
    participant = control.get("participant")
    return {**control, "participant": agent_id(participant, study_id) if participant else ""}


def _counted(steps: Iterator[Step], progress: Callable[[int], None], done: int) -> Iterator[Step]:
    for n, step in enumerate(steps, 1):
        yield step
        if n % PROGRESS_EVERY == 0:
            progress(done + n)


def dataset_config(sources: list[EpisodeSource], options: ExportOptions, *, dataset_name: str, fps: int,
                   description: str, step_tags: tuple[str, ...] | None = None) -> DatasetConfig:
    """The dataset's schema and names; `step_tags` (the tag:<label> columns) default to every tag of `sources`."""
    specs = {(repr(e.observation_spec), repr(e.action_spec)) for e in sources}
    if len(specs) != 1:
        envs = sorted({e.env for e in sources})
        raise ValueError(f"Expected episodes of environments with one observation and action space, got {envs}; "
                         "export each environment separately")
    if step_tags is None:
        step_tags = all_step_tags(sources)
    return DatasetConfig(
        name=options.name or dataset_name, version=options.version, observation_spec=sources[0].observation_spec,
        action_spec=sources[0].action_spec, keep_metadata=options.keep_metadata, step_tags=step_tags, fps=fps,
        description=description, processing=options.processing,
        # episodes of one environment are all of multi-agent games or none (the gateway exports one environment),
        # so a shard's episodes say the same as the export's
        multiagent=any(s.game_id is not None for s in sources),
    )


def all_step_tags(sources: list[EpisodeSource]) -> tuple[str, ...]:
    return tuple(sorted({t for s in sources for tags in s.step_tags.values() for t in tags}))


def _write(objects: ObjectStore, writer: Any, planned: Iterable[tuple[int, Planned]],
           progress: Callable[[int], None]) -> None:
    done = 0
    for index, p in planned:
        s = p.source
        # A cut episode's reward stops at its new last step (whose reward, as on any last step, is 0).
        reward, fetched = _reward_before(objects, s, p.last) if p.close else (s.total_reward, {})
        meta = EpisodeMeta(
            episode_id=s.id, episode_index=index, agent_id=agent_id(s.participant_id, s.study_id),
            study_id=s.study_id, environment=s.env, env_id=s.env_id, state=s.state, seed=s.seed,
            num_steps=p.num_steps, total_reward=reward, tags=tuple(s.tags), notes=s.notes, game_id=s.game_id,
            agent=s.agent,
        )
        steps = steps_of(objects, p, fetched)
        done += writer.add_episode(meta, _counted(steps, progress, done), split=p.split)
        progress(done)


def build_export(
    objects: ObjectStore, sources: list[EpisodeSource], options: ExportOptions, *, dataset_name: str, fps: int,
    study_id: str, export_id: str, description: str, workdir: Path | None, progress: Callable[[int], None],
) -> Built:
    config = dataset_config(sources, options, dataset_name=dataset_name, fps=fps, description=description)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="export-") as tmp:
        root = Path(tmp) / "dataset"
        root.mkdir()
        writer = open_writer(options.format, root, config)
        try:
            _write(objects, writer, enumerate(plan(sources, options)), progress)
        finally:
            summary = writer.close()
        if options.archive:
            return _upload_zip(objects, root, Path(tmp) / f"{config.name}.zip", study_id, export_id, summary)
        return _upload_tree(objects, root, study_id, export_id, summary)


def part_prefix(study_id: str, export_id: str, archive: bool) -> str:
    """Where shards put their files: straight into the tree of a tree export, else beside the ZIP to come."""
    return export_key(study_id, export_id, "files/" if not archive else "parts/")


def build_part(
    objects: ObjectStore, planned: list[tuple[int, Planned]], config: DatasetConfig, options: ExportOptions, *,
    part: tuple[str, int, int], study_id: str, export_id: str, workdir: Path | None,
    progress: Callable[[int], None],
) -> dict[str, Any]:
    """One shard of a sharded export: its episodes (`planned`: (episode_index, Planned), all of split part[0])
    into one file, uploaded under part_prefix. Deterministic names: built again after a crash, it overwrites the
    same objects. Returns the part writer's summary for its split, with the files it uploaded."""
    with tempfile.TemporaryDirectory(dir=workdir, prefix="export-part-") as tmp:
        root = Path(tmp) / "dataset"
        root.mkdir()
        writer = open_writer(options.format, root, config, part=part)
        try:
            _write(objects, writer, planned, progress)
        finally:
            summary = writer.close()
        prefix = part_prefix(study_id, export_id, options.archive)
        files = []
        for path in sorted(root.rglob("*")):
            if path.is_file():
                relative = path.relative_to(root).as_posix()
                objects.put_file_sync(prefix + relative, path)
                files.append({"path": relative, "size": path.stat().st_size})
    split = summary["splits"][part[0]]
    return {**split, "file_index": part[1], "file_count": part[2], "files": files}


def finalize_export(
    objects: ObjectStore, config: DatasetConfig, options: ExportOptions, parts: list[dict[str, Any]], *,
    study_id: str, export_id: str, workdir: Path | None,
) -> Built:
    """The last step of a sharded export: the format's metadata over all parts, then the ZIP (parts fetched from
    S3; the caller deletes them once the export is done) or the rest of the tree (the parts' files are in place
    already)."""
    with tempfile.TemporaryDirectory(dir=workdir, prefix="export-final-") as tmp:
        root = Path(tmp) / "dataset"
        root.mkdir()
        if options.archive:
            prefix = part_prefix(study_id, export_id, archive=True)
            for f in (f for p in parts for f in p["files"]):
                target = root / f["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(objects.get_bytes_sync(prefix + f["path"]))
        summary = finalize(options.format, root, config, parts)
        if options.archive:
            # The parts stay until the export is marked done (a finalize redelivered before then needs them).
            return _upload_zip(objects, root, Path(tmp) / f"{config.name}.zip", study_id, export_id, summary)
        tree = _upload_tree(objects, root, study_id, export_id, summary)
        # The parts' files (uploaded by the shards) and the metadata just written make the whole tree.
        files = sorted([f for p in parts for f in p["files"]] + (tree.files or []), key=lambda f: f["path"])
        return Built(key=tree.key, size=sum(f["size"] for f in files), files=files, summary=summary)


def _upload_zip(objects: ObjectStore, root: Path, archive: Path, study_id: str, export_id: str,
                summary: dict[str, Any]) -> Built:
    # Most payloads are compressed already (zlib tensors, JPEG, zstd, video): deflate level 1 costs little on
    # them and still shrinks the JSON, parquet and metadata.
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                # A TFRecord's payload is zlib tensors and JPEGs: deflating it again costs ~50 us a step for ~1%;
                # an .npz (d3rlpy) is deflated already.
                stored = ".tfrecord-" in path.name or path.suffix == ".npz"
                zf.write(path, path.relative_to(root), compress_type=zipfile.ZIP_STORED if stored else None)
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
