"""`healthcoop.export`: the tidy tables of finished records (lives in `analysis/export.py`)."""

from healthcoop.analysis.export import SCHEMAS, TABLES, ExportSummary, export, tables

__all__ = ["SCHEMAS", "TABLES", "ExportSummary", "export", "tables"]
