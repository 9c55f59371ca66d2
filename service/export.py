"""`healthcoop.export`: the tidy tables of finished records (lives in `analysis/export.py`)."""

from healthcoop.analysis.export import (
    EVENT_TABLES,
    SCHEMAS,
    TABLES,
    ExportSummary,
    export,
    tables,
)

__all__ = ["EVENT_TABLES", "SCHEMAS", "TABLES", "ExportSummary", "export", "tables"]
