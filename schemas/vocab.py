"""Closed vocabularies of contract v1."""

from __future__ import annotations

from enum import Enum


class PartyKind(str, Enum):
    country = "country"
    organization = "organization"


class Instrument(str, Enum):
    mou = "mou"
    treaty = "treaty"
    agreement = "agreement"
    action_plan = "action_plan"
    protocol = "protocol"
    programme = "programme"
    other = "other"


class AgreementStatus(str, Enum):
    signed = "signed"
    pending = "pending"  # being prepared or about to be signed
    proposed = "proposed"  # agreed to develop, or suggested
    approved = "approved"  # cleared by a cabinet or parliament, not yet signed


class MechanismKind(str, Enum):
    working_group = "working_group"
    joint_committee = "joint_committee"
    network = "network"
    exchange_programme = "exchange_programme"
    training_programme = "training_programme"
    conference_series = "conference_series"
    other = "other"


class MechanismStatus(str, Enum):
    established = "established"
    proposed = "proposed"


class Area(str, Enum):
    communicable_diseases = "communicable_diseases"
    noncommunicable_diseases = "noncommunicable_diseases"
    vaccines = "vaccines"
    pharmaceuticals = "pharmaceuticals"
    medical_equipment = "medical_equipment"
    digital_health = "digital_health"
    education_training = "education_training"
    research = "research"
    health_systems = "health_systems"
    maternal_child_health = "maternal_child_health"
    emergencies_humanitarian = "emergencies_humanitarian"
    regulation = "regulation"
    health_promotion = "health_promotion"
    traditional_medicine = "traditional_medicine"
    medical_tourism = "medical_tourism"
    mental_health = "mental_health"
    other = "other"


class Alignment(str, Enum):
    """How an evidence span was found in the text (kept as data, as LangExtract does)."""

    exact = "exact"  # the quoted text occurs verbatim
    normalized = "normalized"  # equal after folding case, quotes, dashes and whitespace
    fuzzy = "fuzzy"  # best approximate match above the threshold
