"""NATS subject and stream names, defined once; every service builds names through `Subjects`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Subjects:
    """All subjects live under one prefix so several stacks (or test runs) can share a NATS server."""

    prefix: str = "pc"
    stream_prefix: str = "PC"

    # -- placement: workers announce capacity, gateways place sessions on them
    @property
    def heartbeat(self) -> str:
        return f"{self.prefix}.workers.heartbeat"

    @property
    def announce(self) -> str:
        """Gateways ask every worker to heartbeat now (on gateway start)."""
        return f"{self.prefix}.workers.announce"

    @property
    def trial(self) -> str:
        """Request/reply (TrialRequest -> TrialReply): one worker of the queue group "trial" tries an environment."""
        return f"{self.prefix}.workers.trial"

    def worker_open(self, worker_id: str) -> str:
        return f"{self.prefix}.worker.{worker_id}.open"

    def worker_attach(self, worker_id: str) -> str:
        """Request/reply: may a reconnected client's gateway relay this session again (AttachSession)?"""
        return f"{self.prefix}.worker.{worker_id}.attach"

    # -- one play session: input in, frames and events out; any gateway may hold the WebSocket
    def session_input(self, session_id: str) -> str:
        return f"{self.prefix}.session.{session_id}.input"

    def session_out(self, session_id: str, kind: str) -> str:
        """kind is "frame" (binary, frames.py), "event" (JSON ServerEvent) or "alive" (empty: the worker still
        holds the session); one wildcard keeps their order."""
        return f"{self.prefix}.session.{session_id}.out.{kind}"

    def session_out_all(self, session_id: str) -> str:
        return f"{self.prefix}.session.{session_id}.out.*"

    # -- campaigns: a participant's newest socket takes over from the one before it, on whichever gateway
    def participant_takeover(self, participant_id: str) -> str:
        return f"{self.prefix}.participant.{participant_id}.takeover"

    # -- recording: JetStream stream of episode begin / step chunk / end messages
    @property
    def record_stream(self) -> str:
        return f"{self.stream_prefix}_RECORD"

    @property
    def record_all(self) -> str:
        return f"{self.prefix}.record.>"

    def record(self, episode_id: str, kind: str) -> str:
        return f"{self.prefix}.record.{episode_id}.{kind}"

    # -- exports: JetStream work queue of export jobs
    @property
    def export_stream(self) -> str:
        return f"{self.stream_prefix}_EXPORT"

    @property
    def export_jobs(self) -> str:
        return f"{self.prefix}.export.jobs"

    @property
    def export_tasks(self) -> str:
        """Shard builds and finalize steps of sharded exports (one consumer, kind = last token)."""
        return f"{self.prefix}.export.task.>"

    def export_task(self, kind: str) -> str:
        """kind is "shard" (ExportShard), "finalize" (ExportFinalize) or "clip" (ClipRender: a preference clip)."""
        return f"{self.prefix}.export.task.{kind}"

    # -- preferences: a label stored (core NATS, empty): readers long-polling an experiment's labels look again
    # -- multi-agent play: an external process (a trained model) acting for an agent, request/reply
    def policy(self, subject: str) -> str:
        """Where a study's NATS policy (NatsPolicy.subject) is asked: under the prefix, so a spec never makes the worker
        send to the stack's own subjects, and a deployment can let model processes answer only `<prefix>.policies.>`."""
        return f"{self.prefix}.policies.{subject}"

    def preference_labels(self, experiment_id: str) -> str:
        return f"{self.prefix}.preferences.{experiment_id}.labels"
