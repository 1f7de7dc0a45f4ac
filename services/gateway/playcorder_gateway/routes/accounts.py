"""The account behind the designer token."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import Designer
from ..schemas import AccountOut

router = APIRouter(tags=["accounts"])


@router.get("/api/me", response_model=AccountOut)
async def me(designer: Designer) -> AccountOut:
    return AccountOut(id=designer.id, name=designer.name, role=designer.role)
