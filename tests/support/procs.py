"""Which processes a process started, and whether they have ended (Linux /proc); for the
lifecycle tests and `bench/e2e.py`."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable


def _stat(pid: int | str) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold ")"


def alive(pid: int) -> bool:
    """Running or stopped; a zombie (ended, not yet reaped) has ended."""
    try:
        return _stat(pid)[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(_stat(entry)[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [root]
    while todo:
        for kid in children.get(todo.pop(), []):
            if kid not in found:
                found.add(kid)
                todo.append(kid)
    return found


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as any server binds
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def wait_gone(pids: Iterable[int], port: int | None, timeout: float) -> set[int]:
    """Wait up to `timeout` s for `pids` to end and `port` to be free; the pids still alive
    (and -1 for a port still taken)."""
    pids = set(pids)
    deadline = time.monotonic() + timeout
    while True:
        left = {p for p in pids if alive(p)}
        if port is not None and not port_free(port):
            left.add(-1)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)
