"""Shared fixtures. No test may reach the network: sockets may only connect to loopback."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SEEDS = SHARED / "seeds"
CASSETTES = ROOT / "cassettes"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check(address: object) -> None:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            if host == "localhost":
                return
        raise RuntimeError(f"a test tried to reach the network ({host}); tests are offline")


def _guarded_connect(self: socket.socket, address: object) -> None:
    _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _check(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _offline() -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the developer's HEALTHCOOP_* variables, and cache into a temp dir."""
    for key in list(os.environ):
        if key.startswith("HEALTHCOOP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HEALTHCOOP_CACHE_DIR", str(tmp_path / "cache"))
    from healthcoop.settings import get_settings

    get_settings.cache_clear()


def seed_text(prefix: str) -> str:
    """The text of a seed article (shared/seeds/<prefix>_*.txt)."""
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text("utf-8")
