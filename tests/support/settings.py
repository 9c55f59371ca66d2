"""Settings for tests that talk to a local fake endpoint: one builder, used everywhere."""

from __future__ import annotations

from typing import Any

from healthcoop.settings import Settings

FAKE_DEFAULTS: dict[str, Any] = {"model": "fake", "timeout": 5, "retries": 0,
                                 "validation_retries": 0}  # fmt: skip


def fake_settings(base_url: str, **overrides: Any) -> Settings:
    """Settings pointing at `base_url` with short timeouts and no retries, unless overridden."""
    return Settings(**{"base_url": base_url, **FAKE_DEFAULTS, **overrides})
