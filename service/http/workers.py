"""`healthcoop serve --workers N`: N service processes behind one port.

Each worker opens its own listening socket on the port with SO_REUSEPORT, so the kernel
spreads connections evenly over the workers. (uvicorn's own `--workers` shares one socket: a
client that opens its keep-alive connections at once gets all of them accepted by whichever
worker wakes first, measured 32 of 32 on one worker, and the other cores idle.)

The supervising process resolves the model endpoint before it starts the workers (with no
endpoint set, it starts the one embedded model server they share, see `llm.child`), restarts
a worker that dies, and stops them all when it is stopped: SIGTERM, then SIGKILL after
`STOP_GRACE` seconds. Workers end with it even when it is killed (`child.die_with_parent`).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import socket
import sys
from typing import Any

from ..llm.child import STOP_GRACE, die_with_parent

STARTUP_FAILURE = 3  # uvicorn's exit code when a server cannot start; so is a failed bind
BACKLOG = 2048  # uvicorn's default

log = logging.getLogger("healthcoop.service")


def supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")


def _listen(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(BACKLOG)
    return sock


def _worker(host: str, port: int, options: dict[str, Any]) -> None:
    """One worker process: its own socket on the shared port, one uvicorn server."""
    import uvicorn

    from ..settings import get_settings
    from .app import create_app

    die_with_parent()
    config = uvicorn.Config(create_app(get_settings()), **options)  # configures logging
    try:
        sock = _listen(host, port)
    except OSError as exc:
        logging.getLogger("uvicorn.error").error("cannot listen on %s:%s: %s", host, port, exc)
        sys.exit(STARTUP_FAILURE)
    uvicorn.Server(config).run(sockets=[sock])


def serve(host: str, port: int, workers: int, options: dict[str, Any]) -> int:
    """Run `workers` worker processes until stopped; 0 after a stop by a signal, 2 when a
    worker could not start."""
    spawn = mp.get_context("spawn")

    def start(i: int) -> mp.process.BaseProcess:
        p = spawn.Process(target=_worker, args=(host, port, options), name=f"healthcoop-serve-{i}")
        p.start()
        return p

    procs = [start(i) for i in range(workers)]
    shown = f"[{host}]" if ":" in host else host
    print(f"serving on http://{shown}:{port} with {workers} worker processes", file=sys.stderr)
    code = 0
    try:
        while True:
            for i, p in enumerate(procs):
                p.join(timeout=0.25)
                if p.exitcode is None:
                    continue
                if p.exitcode == STARTUP_FAILURE:
                    code = 2  # it said why; every restart would fail the same way
                    return code
                log.warning("worker %s ended with code %s; starting another", p.pid, p.exitcode)
                procs[i] = start(i)
    except KeyboardInterrupt:  # SIGINT, or SIGTERM/SIGHUP (cli.Terminated): a graceful stop
        return code
    finally:
        for p in procs:
            if p.exitcode is None:
                p.terminate()
        for p in procs:
            p.join(timeout=STOP_GRACE)
            if p.exitcode is None:
                p.kill()
                p.join()
