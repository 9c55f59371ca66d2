"""The few healthcoop internals the analysis modules use, imported in one place.

The restructure (issue 12) moves these modules into subpackages; only this file names their
paths. Everything else here imports `healthcoop.schemas` and `healthcoop.errors`, which stay.
"""

from __future__ import annotations

from healthcoop.archive import read as read_archive
from healthcoop.evaluate import parse_gold
from healthcoop.normalise import clean_person_name

__all__ = ["clean_person_name", "parse_gold", "read_archive"]
