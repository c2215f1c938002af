"""The job secret key file: processes starting together (cascade-api and
cascade-sync do) all end up with the same complete key, never an empty one."""
from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from cascade import sealing


def _key(path: str, start: Any, out: Any) -> None:
    start.wait()
    try:
        out.put(sealing._key_from_file(Path(path)))
    except Exception as exc:  # reported to the test, not lost in the child
        out.put(repr(exc).encode())


def test_processes_starting_together_share_one_whole_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    for attempt in range(10):
        path = tmp_path / f"state-{attempt}" / "job_secret.key"
        start, out = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_key, args=(str(path), start, out)) for _ in range(6)]
        for proc in procs:
            proc.start()
        start.set()
        keys = {out.get(timeout=30) for _ in procs}
        for proc in procs:
            proc.join(timeout=30)
        assert len(keys) == 1, keys
        (key,) = keys
        Fernet(key)  # a whole, valid key
        assert path.read_bytes().strip() == key
        assert [p.name for p in path.parent.iterdir()] == [path.name], "no drafts left"
