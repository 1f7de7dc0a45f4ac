"""What participants may play of a study now: the designer's switches (enabled, archived, disabled environments),
read in one place by the participant's study page and by select_env."""

from __future__ import annotations

from playcorder.db.models import Study
from playcorder.specs import EnvironmentSpec, StudySpec


def closed(study: Study) -> str | None:
    """Why no session of `study` can start now ("archived", "disabled"), or None when one can."""
    if study.archived_at is not None:
        return "archived"
    if not study.enabled:
        return "disabled"
    return None


def enabled_environments(study: Study, spec: StudySpec) -> list[EnvironmentSpec]:
    """The environments of `spec` (the study's current one) a participant may pick: none while the study is closed."""
    if closed(study) is not None:
        return []
    off = set(study.disabled_environments)
    return [e for e in spec.environments if e.id not in off]
