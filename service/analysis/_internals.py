"""The few healthcoop internals the analysis modules use, imported in one place."""

from __future__ import annotations

from ..archive import read as read_archive
from ..core.normalise import clean_person_name
from ..scoring.evaluate import parse_gold

__all__ = ["clean_person_name", "parse_gold", "read_archive"]
