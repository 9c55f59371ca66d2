"""Replaying recorded model traffic (vcrpy) and re-recording it from the embedded model.

Tests replay with record_mode="none": a request whose method, path and body were not recorded
fails instead of reaching a server. To re-record after a prompt or schema change (needs
`pip install -e '.[embedded]'`):

    HEALTHCOOP_RECORD=1 .venv/bin/python -m pytest tests/test_seeds.py

which starts the embedded model server, rewrites `cassettes/<module>/<test>.yaml`, and stops it.
To record against an embedded model server that is already running (`healthcoop serve-model`),
name it:

    HEALTHCOOP_RECORD=1 HEALTHCOOP_RECORD_URL=http://127.0.0.1:8080/v1 \
        .venv/bin/python -m pytest tests/test_seeds.py

It must serve the same model (`qwen2.5-coder-1.5b`), since the model name is in every request.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterator
from pathlib import Path

import vcr
import vcr.cassette
import vcr.request

from healthcoop.settings import Settings
from tests.support.cassette_server import scrub

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
RECORDING = os.environ.get("HEALTHCOOP_RECORD") == "1"
# a running embedded model server to record from, instead of starting one
RECORD_URL = os.environ.get("HEALTHCOOP_RECORD_URL") or None
# Replayed requests go to this address; nothing listens there and nothing needs to.
REPLAY_BASE_URL = "http://127.0.0.1:8080/v1"
EMBEDDED_MODEL = "qwen2.5-coder-1.5b"


def _scrubbed(request: vcr.request.Request) -> vcr.request.Request:
    """The request as stored and matched: each user message (the article) as its digest."""
    scrubbed = copy.copy(request)
    scrubbed.body = scrub(request.body or b"")
    return scrubbed


def recorder() -> vcr.VCR:
    return vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode="all" if RECORDING else "none",
        # the embedded server listens on a free port when recording: match on path and body
        match_on=["method", "path", "body"],
        filter_headers=["authorization", "api-key", "x-api-key", "openai-organization", "cookie"],
        decode_compressed_response=True,
        before_record_request=_scrubbed,  # on both sides: what is stored, and what is matched
    )


@contextlib.contextmanager
def cassette(name: str) -> Iterator[vcr.cassette.Cassette]:
    """Replay `cassettes/<name>`; when recording, record it afresh (an old recording of a
    changed prompt would otherwise stay in the file beside the new one)."""
    if RECORDING:
        (CASSETTES / name).unlink(missing_ok=True)
    with recorder().use_cassette(name) as recorded:
        yield recorded
    if not RECORDING:
        assert recorded.all_played, f"{name}: a recorded request was not replayed"


@contextlib.contextmanager
def model_settings() -> Iterator[Settings]:
    """Settings pointing at the embedded model: a live server when recording, else replay."""
    from healthcoop.llm import embedded  # importable without the engine; only `running` needs it

    # a shared server on a busy machine can take many minutes per request while recording
    base = Settings(timeout=3600 if RECORDING else 900, retries=0, embedded_model=EMBEDDED_MODEL)
    if not RECORDING or RECORD_URL:
        # exactly what the embedded runtime sets, so replayed requests match the recorded ones
        url = RECORD_URL if RECORDING else REPLAY_BASE_URL
        yield base.model_copy(update=embedded.endpoint_update(base, url))
        return
    with embedded.running(base) as live:
        yield live
