"""Running a service process: logging and uvicorn, the same way for all four services."""

from __future__ import annotations

import logging
from typing import Callable

import uvicorn
from fastapi import FastAPI

from .settings import ServiceSettings


def serve(name: str, create_app: Callable[[ServiceSettings], FastAPI], settings: ServiceSettings, host: str, port: int) -> None:
    logging.basicConfig(level=settings.log_level, format=f"%(asctime)s %(levelname)s {name} %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level.lower(), ws="websockets-sansio")
