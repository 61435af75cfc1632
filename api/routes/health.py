"""Operations: liveness of the store and Prometheus metrics (no key needed)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import StateDep
from api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    response_model=Health,
    summary="Whether the store answers, and the projections' lag",
    responses={503: {"description": "The store does not answer.", "model": Health}},
)
def healthz(state: StateDep) -> Response:
    services = state.services
    store = "postgresql" if services.db.postgres else "sqlite"
    problem = services.db.unavailable(timeout=2.0)  # answer within seconds when it is away
    try:
        if problem is None:
            sets = services.projections.status()
    except Exception as e:  # the store does not answer
        problem = str(e).splitlines()[0] if str(e) else type(e).__name__
    if problem is not None:
        return JSONResponse(
            {"status": "unavailable", "store": store, "head": None, "projections": [],
             "detail": problem},
            status_code=503, headers={"Retry-After": "5"},
        )
    return JSONResponse({
        "status": "ok",
        "store": store,
        "head": sets[0].head if sets else None,
        "projections": [
            {"id": s.id, "policy": s.policy, "state": s.state, "position": s.position,
             "lag": s.lag}
            for s in sets
        ],
        "replica": services.read.replica_health(),
    })


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus text exposition format.",
                     "content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(state: StateDep) -> Response:
    """Request counts and latencies per route, events appended by this process, the
    head of the log, and each projection set's position and lag."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
