"""Secrets a durable job must carry, sealed at rest.

A deferred server build needs, later and in another process, what the
caller sent once: their token (so the regional server is theirs), and
``adminPass`` and ``user_data``. Job rows are ordinary rows (visible to
operators, in backups), so those values are kept only inside one Fernet token
(AES-128-CBC with HMAC-SHA256) under a key from configuration: ``[sync]
job_secret_key``, or else a key file ``$state_path/job_secret.key`` that
Cascade creates (mode 0600) on first use. Every process that runs jobs must
hold the same key, so split deployments set the option.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken
from oslo_config import cfg

from cascade import errors

__all__ = ["Sealer", "sealer_for", "SEALED_KEY"]

#: Where a job payload keeps its sealed secrets.
SEALED_KEY = "sealed"
_KEY_FILE = "job_secret.key"


class Sealer:
    """Seal and open small JSON secrets with one Fernet key."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise errors.CascadeError("[sync] job_secret_key is not a Fernet key (32 "
                                      "url-safe base64-encoded bytes)") from None

    def seal(self, secrets: dict[str, Any]) -> str:
        return self._fernet.encrypt(orjson.dumps(secrets)).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        """:raises CascadeError: not sealed with this key (or altered)."""
        try:
            value = orjson.loads(self._fernet.decrypt(sealed.encode()))
        except (InvalidToken, orjson.JSONDecodeError):
            raise errors.CascadeError("a job's sealed secrets cannot be opened with "
                                      "this process's job_secret_key") from None
        return value if isinstance(value, dict) else {}


def _key_from_file(path: Path) -> bytes:
    """The key in ``path``, made there first if absent.

    A new key is written whole to a private file and then linked into place,
    so a process starting at the same moment either links its own or reads a
    complete key, never a half-written (or empty) file.
    """
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    try:
        os.link(draft, path)
    except FileExistsError:  # another process made it first: use theirs
        key = path.read_bytes().strip()
    finally:
        draft.unlink()
    return key


def sealer_for(conf: cfg.ConfigOpts) -> Sealer:
    """The sealer of this deployment (reads or creates the key file: call at
    start-up, not on the event loop's hot path)."""
    configured = conf.sync.job_secret_key
    if configured:
        return Sealer(configured.encode())
    return Sealer(_key_from_file(Path(conf.state_path) / _KEY_FILE))
