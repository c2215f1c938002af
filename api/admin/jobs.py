"""/v1/jobs: see, retry and cancel durable jobs (admin role only)."""
from __future__ import annotations


from aiohttp import web

from cascade.jsonutil import json_response

from cascade import errors
from cascade.appkeys import CTX, SESSIONS, WAKER
from cascade.jobs import queue as jobs
from cascade.jobs.views import job_view

__all__ = ["list_jobs", "show_job", "retry_job", "cancel_job"]


def _require(request: web.Request, verb: str) -> None:
    """:raises PolicyForbidden: ``cascade:jobs:<verb>`` refused."""
    request[CTX].can(f"cascade:jobs:{verb}")


#: Job ids are the database's 32-bit integers.
_MAX_ID = 1 << 31


def _job_id(request: web.Request) -> int:
    try:
        job_id = int(request.match_info["job_id"])
    except ValueError:
        job_id = 0
    if not 0 < job_id < _MAX_ID:
        raise errors.NotFound(f"Job {request.match_info['job_id'][:80]} not found")
    return job_id


async def list_jobs(request: web.Request) -> web.Response:
    """GET /v1/jobs?state=&kind=&limit=&marker= (newest first)."""
    _require(request, "list")
    q = request.query
    try:
        limit = min(int(q.get("limit", "100")), 1000)
        marker = int(q["marker"]) if "marker" in q else None
    except ValueError:
        raise errors.BadRequest("limit and marker must be integers") from None
    if limit < 1 or (marker is not None and not 0 < marker < _MAX_ID):
        raise errors.BadRequest("limit must be positive and marker a job id")
    async with request.config_dict[SESSIONS]() as session:
        rows = await jobs.list_jobs(session, state=q.get("state"), kind=q.get("kind"),
                                    limit=limit, marker=marker)
    return json_response({"jobs": [job_view(j) for j in rows]})


async def show_job(request: web.Request) -> web.Response:
    """GET /v1/jobs/{id}."""
    _require(request, "show")
    async with request.config_dict[SESSIONS]() as session:
        job = await jobs.get(session, _job_id(request))
    return json_response({"job": job_view(job)})


async def retry_job(request: web.Request) -> web.Response:
    """POST /v1/jobs/{id}/retry: queue a failed, dead or cancelled job again."""
    _require(request, "retry")
    async with request.config_dict[SESSIONS].begin() as session:
        job = await jobs.retry(session, _job_id(request))
        view = job_view(job)
    await request.config_dict[WAKER].wake("jobs")
    return json_response({"job": view}, status=202)


async def cancel_job(request: web.Request) -> web.Response:
    """POST /v1/jobs/{id}/cancel: stop a queued or running job."""
    _require(request, "cancel")
    async with request.config_dict[SESSIONS].begin() as session:
        job = await jobs.cancel(session, _job_id(request))
        view = job_view(job)
    return json_response({"job": view}, status=202)
