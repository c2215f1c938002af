#!/usr/bin/env python3
"""The floor under ``bench/scale.py``'s 100-region list: the same stub regions asked
by the barest client there is, with no gateway.

The client sends one ``GET /servers/detail`` to each stub region at once over kept-
alive connections (a raw asyncio protocol, headers written by hand) and waits for
every answer; the time of that is what the stub regions themselves allow, with
their ``--list-delay`` and their own CPU. The client is pinned alone on CPU 1 and
the stubs on CPU 0, as ``scale.py --pin`` places Cascade and the stubs. With
``--stub-kind aiohttp`` the stubs queue behind each other on their core; with
``raw`` (the default, ``bench/_raw_stub.py``) much less::

    .venv/bin/python bench/list_floor.py
    .venv/bin/python bench/list_floor.py --stub-kind aiohttp
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SCALE = Path(__file__).with_name("scale.py")


class _Client(asyncio.Protocol):
    """One connection to one region: one request at a time, its answer awaited."""

    def __init__(self) -> None:
        self.buf = b""
        self.done: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        head, sep, body = self.buf.partition(b"\r\n\r\n")
        if not sep:
            return
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        if len(body) >= length and self.done is not None and not self.done.done():
            self.buf = body[length:]
            self.done.set_result(None)


def _start_stubs(regions: int, processes: int, kind: str, delay: float
                 ) -> tuple[list[subprocess.Popen[str]], list[int]]:
    procs, ports, first = [], [], 0
    for i in range(processes):
        count = regions // processes + (i < regions % processes)
        proc = subprocess.Popen(
            [sys.executable, str(SCALE), "stubs", "--kind", kind, "--count", str(count),
             "--first", str(first), "--list-delay", str(delay)],
            stdout=subprocess.PIPE, text=True,
            preexec_fn=lambda: os.sched_setaffinity(0, {0}))
        first += count
        assert proc.stdout is not None
        ports += json.loads(proc.stdout.readline().split(" ", 1)[1])
        procs.append(proc)
    return procs, ports


async def _fan_out(ports: list[int], rounds: int) -> list[float]:
    loop = asyncio.get_running_loop()
    clients = []
    for port in ports:
        _transport, client = await loop.create_connection(_Client, "127.0.0.1", port)
        clients.append((client, (f"GET /compute/v2.1/servers/detail HTTP/1.1\r\n"
                                 f"Host: 127.0.0.1:{port}\r\n"
                                 "X-Auth-Token: bench-user:wide\r\n\r\n").encode()))
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for client, request in clients:
            client.done = loop.create_future()
            assert client.transport is not None
            client.transport.write(request)
        await asyncio.gather(*(c.done for c, _ in clients if c.done is not None))
        times.append(1000 * (time.perf_counter() - start))
        await asyncio.sleep(0.05)
    return times[10:]  # the first rounds warm up


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--regions", type=int, default=100)
    p.add_argument("--stub-processes", type=int, default=4)
    p.add_argument("--stub-kind", choices=["raw", "aiohttp"], default="raw")
    p.add_argument("--list-delay", type=float, default=0.05)
    p.add_argument("--rounds", type=int, default=110)
    args = p.parse_args()
    procs, ports = _start_stubs(args.regions, args.stub_processes, args.stub_kind,
                                args.list_delay)
    try:
        os.sched_setaffinity(0, {1})
        times = asyncio.run(_fan_out(ports, args.rounds))
    finally:
        for proc in procs:
            proc.terminate()
    slowest = args.list_delay * 1000
    p50 = statistics.median(times)
    print(json.dumps({"regions": args.regions, "stub_kind": args.stub_kind,
                      "floor_p50_ms": round(p50, 1), "floor_min_ms": round(min(times), 1),
                      "ratio_to_the_slowest_region": round(p50 / slowest, 3)}))


if __name__ == "__main__":
    main()
