"""What a participant may see of their study: its name, instructions and the environments they may pick to play."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from playcorder.db.models import Study
from playcorder.specs import StudySpec

from ..availability import closed, enabled_environments
from ..deps import DbSession, ParticipantToken
from ..errors import ErrorOut
from ..schemas import EnvironmentChoice, ParticipantStudy

router = APIRouter(prefix="/api/participant", tags=["participants"])


@router.get("/study", response_model=ParticipantStudy,
            responses={404: {"model": ErrorOut, "description": "the token's study is gone"}})
async def my_study(token: ParticipantToken, db: DbSession) -> ParticipantStudy:
    study = await db.get(Study, token.study_id)
    if study is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Expected the study of this token, got none ({token.study_id})")
    spec = StudySpec.model_validate(study.spec)
    return ParticipantStudy(
        study_id=study.id, participant_id=token.participant_id or "", name=spec.name, description=spec.description,
        instructions=spec.instructions, enabled=closed(study) is None,
        environments=[EnvironmentChoice(id=e.id, env_id=e.env_id, mode=e.mode, instructions=e.instructions)
                      for e in enabled_environments(study, spec)],
    )
