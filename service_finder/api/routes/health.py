from __future__ import annotations

from fastapi import APIRouter

from service_finder.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="health-alive", summary="The process is alive")
def get_health() -> Health:
    return Health(status="ok")
