"""How operators see a job (``/v1/jobs``, ``cascade-manage jobs``): never a secret."""
from __future__ import annotations

from typing import Any

from cascade.db.models import Job
from cascade.sealing import SEALED_KEY

__all__ = ["job_view"]


def job_view(job: Job) -> dict[str, Any]:
    """A job as operators see it (no secrets: payload tokens are masked)."""
    payload = dict(job.payload or {})
    if isinstance(payload.get("ctx"), dict) and "auth_token" in payload["ctx"]:
        payload["ctx"] = {**payload["ctx"], "auth_token": "***"}  # queued before sealing
    if SEALED_KEY in payload:
        payload[SEALED_KEY] = "***"
    return {
        "id": job.id, "kind": job.kind, "state": job.state, "dedupe_key": job.dedupe_key,
        "payload": payload, "attempts": job.attempts,
        "run_after": job.run_after.isoformat() if job.run_after else None,
        "lease_owner": job.lease_owner,
        "lease_expires": job.lease_expires.isoformat() if job.lease_expires else None,
        "progress": {"done": job.progress_done, "total": job.progress_total},
        "last_error": job.last_error,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "updated_at": job.updated_at.isoformat() if job.updated_at else None,
    }
