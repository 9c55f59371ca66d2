"""Country and organization gazetteers: codes, names, aliases, demonyms and cities.

Data lives in `data/*.json` inside the package; it is read lazily, once, on first use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import pycountry


@dataclass(frozen=True)
class Organization:
    code: str
    name: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    aliases: tuple[str, ...]
    demonyms: tuple[str, ...]
    cities: tuple[str, ...]
    short_name: str  # how news usually writes it: "Iran", "United States", "Russia"


def _load(name: str) -> object:
    return json.loads(resources.files(__package__).joinpath("data", name).read_text("utf-8"))


@lru_cache(maxsize=1)
def organizations() -> dict[str, Organization]:
    """Organizations by canonical code."""
    return {
        row["code"]: Organization(row["code"], row["name"], tuple(row.get("aliases", ())))
        for row in _load("organizations.json")  # type: ignore[union-attr]
    }


@lru_cache(maxsize=1)
def countries() -> dict[str, Country]:
    """Every ISO 3166-1 country by alpha-3 code, with the aliases news writing uses."""
    extra: dict[str, dict[str, list[str]]] = _load("countries.json")  # type: ignore[assignment]
    out: dict[str, Country] = {}
    for c in pycountry.countries:
        row = extra.get(c.alpha_3, {})
        names = [c.name, getattr(c, "official_name", None), getattr(c, "common_name", None)]
        aliases = dict.fromkeys([n for n in names if n] + row.get("aliases", []))
        out[c.alpha_3] = Country(
            code=c.alpha_3,
            name=getattr(c, "common_name", None) or c.name,
            aliases=tuple(aliases),
            demonyms=tuple(row.get("demonyms", ())),
            cities=tuple(row.get("cities", ())),
            short_name=(row.get("aliases") or [getattr(c, "common_name", None) or c.name])[0],
        )
    return out


def is_country_code(code: str) -> bool:
    return pycountry.countries.get(alpha_3=code) is not None


def is_organization_code(code: str) -> bool:
    return code in organizations()
