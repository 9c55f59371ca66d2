"""What the model is asked to answer: a compact draft, names as written in the article.

Codes, offsets and ISO dates are not the model's job: grounding and normalization derive them
from the draft and the text, so a small model spends its few output tokens on judgement.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from .vocab import AgreementStatus, Area, Instrument, MechanismKind, MechanismStatus


class DraftOfficial(BaseModel):
    name: str = Field(description="person's name as written, without Dr./Mr./Prof.")
    title: str | None = Field(default=None, description="their title as written")
    party: str | None = Field(default=None, description="country or organization they act for")


class DraftMeeting(BaseModel):
    parties: list[str] = Field(description="countries/organizations that met")
    officials: list[str] = Field(default_factory=list, description="names of those who met")
    date: str | None = Field(default=None, description="date as written, e.g. 'on Sunday'")
    city: str | None = None
    country: str | None = Field(default=None, description="country where it took place")
    forum: str | None = Field(default=None, description="event it was held at or beside")
    quote: str = Field(description="a few words copied from the article about this meeting")


class DraftAgreement(BaseModel):
    instrument: Instrument
    status: AgreementStatus
    parties: list[str]
    date: str | None = Field(default=None, description="date as written")
    title: str | None = None
    quote: str = Field(description="a few words copied from the article about it")


class DraftMechanism(BaseModel):
    kind: MechanismKind
    status: MechanismStatus
    parties: list[str] = Field(default_factory=list)
    quote: str = Field(description="a few words copied from the article naming it")


class Draft(BaseModel):
    """Health cooperation reported in one article."""

    relevant: bool = Field(description="health cooperation between 2+ countries/organizations")
    parties: list[str] = Field(default_factory=list, description="names as written")
    officials: list[DraftOfficial] = Field(default_factory=list)
    meetings: list[DraftMeeting] = Field(default_factory=list)
    agreements: list[DraftAgreement] = Field(default_factory=list)
    mechanisms: list[DraftMechanism] = Field(default_factory=list)
    areas: list[Area] = Field(default_factory=list)
    summary: str = Field(default="", description="one sentence")
