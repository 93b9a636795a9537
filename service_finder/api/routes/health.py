from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service_finder.api.deps import StateDep
from service_finder.api.middleware import Lifecycle
from service_finder.schemas import Health, Readiness

router = APIRouter(tags=["health"])


async def get_lifecycle(request: Request) -> Lifecycle:
    lifecycle: Lifecycle = request.app.state.lifecycle
    return lifecycle


LifecycleDep = Annotated[Lifecycle, Depends(get_lifecycle)]

METRICS_EXAMPLE = """\
# HELP service_finder_request_seconds Request latency by route template and method.
# TYPE service_finder_request_seconds histogram
service_finder_request_seconds_bucket{le="0.005",method="GET",route="/v1/search"} 1183.0
service_finder_request_seconds_count{method="GET",route="/v1/search"} 1204.0
service_finder_request_seconds_sum{method="GET",route="/v1/search"} 3.92
# HELP service_finder_responses_total Responses by route template and status class.
# TYPE service_finder_responses_total counter
service_finder_responses_total{route="/v1/search",status="2xx"} 1198.0
# HELP service_finder_index_age_seconds Age of the search index.
# TYPE service_finder_index_age_seconds gauge
service_finder_index_age_seconds 117.4
# HELP service_finder_store_checked_age_seconds Seconds since the store last answered this process's poll.
# TYPE service_finder_store_checked_age_seconds gauge
service_finder_store_checked_age_seconds 1.3
# HELP service_finder_index_build_failed 1 when the store's newest version could not be built into an index.
# TYPE service_finder_index_build_failed gauge
service_finder_index_build_failed 0.0
# HELP service_finder_data_version Data version of the index.
# TYPE service_finder_data_version gauge
service_finder_data_version 42.0
# HELP service_finder_index_services Services in the index.
# TYPE service_finder_index_services gauge
service_finder_index_services 590.0
# HELP service_finder_store_up 1 when the store answered the last poll.
# TYPE service_finder_store_up gauge
service_finder_store_up 1.0
# HELP service_finder_unreadable_records Stored services that no longer validate (repair with PUT).
# TYPE service_finder_unreadable_records gauge
service_finder_unreadable_records 0.0
"""


# The probes only read this process's memory: async, so they never wait behind a busy thread pool.
@router.get("/healthz", operation_id="health-alive", summary="The process is alive")
async def get_health() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="health-ready",
    summary="Ready to answer searches: index built and gazetteer loaded (store reachability reported)",
    # The 503 body is the same Readiness document as the 200 (its examples show both), so a probe reads either.
    responses={503: {"model": Readiness, "description": "Not ready: no index yet, or no gazetteer."}},
)
async def get_readiness(state: StateDep, lifecycle: LifecycleDep, response: Response) -> Readiness:
    snapshot = state.catalogue.snapshot
    index = snapshot.index
    built = index.version >= 0
    loaded = state.gazetteer is not None
    # An unreachable store does not make the process unready: search keeps answering from the last index, which
    # is what a person in crisis needs; the answer and this probe say it is stale. A process that has never
    # reached the store has no index: it is not ready (search answers with the safety net meanwhile) until the
    # catalogue's polling builds one. A draining process is still answering, but a balancer should stop sending.
    ready = built and loaded and not lifecycle.draining
    response.status_code = 200 if ready else 503
    if lifecycle.draining:
        status = "draining"
    elif ready:
        status = "degraded" if snapshot.stale or snapshot.unreadable else "ready"
    else:
        status = "not_ready"
    return Readiness(
        status=status,
        store_reachable=not snapshot.store_unreachable,
        index_built=built,
        index_stale=snapshot.stale,
        data_version=index.version,
        services=len(index),
        index_built_at=index.built_at,
        index_age_seconds=round((datetime.now(UTC) - index.built_at).total_seconds(), 1),
        store_checked_at=snapshot.checked_at,
        gazetteer_loaded=loaded,
        gazetteer_version=state.gazetteer.version if state.gazetteer else None,
        unreadable_records=list(snapshot.unreadable),
    )


@router.get(
    "/metrics",
    operation_id="health-metrics",
    summary="Prometheus metrics: latency per route, responses by status, index age and data version",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {"example": METRICS_EXAMPLE}}, "description": "Prometheus text."}
    },
)
async def get_metrics(state: StateDep) -> Response:
    snapshot = state.catalogue.snapshot
    metrics = state.metrics
    now = datetime.now(UTC)
    built = snapshot.index.version >= 0
    # Before any index is built (data version -1) there is no age to report: NaN, never the placeholder's few
    # seconds, which would read as a fresh index.
    metrics.index_age.set((now - snapshot.index.built_at).total_seconds() if built else math.nan)
    metrics.data_version.set(snapshot.index.version)
    metrics.services.set(len(snapshot.index))
    metrics.store_up.set(0 if snapshot.store_unreachable else 1)
    metrics.unreadable_records.set(len(snapshot.unreadable))
    answered = snapshot.answered_at
    metrics.store_answered_age.set(math.nan if answered is None else (now - answered).total_seconds())
    metrics.index_build_failed.set(1 if snapshot.build_failed else 0)
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
