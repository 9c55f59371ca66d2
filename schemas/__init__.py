"""healthcoop.schemas: the pydantic models of the extraction contract (pure, no I/O besides
reading the packaged gazetteer data)."""

from .contract import (
    SCHEMA_VERSION,
    Agreement,
    Article,
    ArticleExtraction,
    DateRange,
    Location,
    Mechanism,
    Meeting,
    Official,
    Party,
    Provenance,
    Span,
    Usage,
)
from .vocab import (
    AgreementStatus,
    Alignment,
    Area,
    Instrument,
    MechanismKind,
    MechanismStatus,
    PartyKind,
)

__all__ = [
    "SCHEMA_VERSION",
    "Agreement",
    "AgreementStatus",
    "Alignment",
    "Area",
    "Article",
    "ArticleExtraction",
    "DateRange",
    "Instrument",
    "Location",
    "Meeting",
    "Mechanism",
    "MechanismKind",
    "MechanismStatus",
    "Official",
    "Party",
    "PartyKind",
    "Provenance",
    "Span",
    "Usage",
]
