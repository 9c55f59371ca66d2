"""What the analysis outputs say about a party code: its kind, a readable name and, for a
country, its UN M49 region.

ISO 3166 defines no regions; the UN M49 standard (from which ISO's numeric codes come) does.
The regions come from `country_converter` (IndEcol), whose country table carries M49
sub-regions (`UNregion`) and continents. Its table is read directly with the csv module:
its converter class does not import under pandas 3, and the table is all we need.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from healthcoop.schemas.gazetteer import countries, is_country_code, organizations

from ..errors import ConfigError


@dataclass(frozen=True, slots=True)
class PartyInfo:
    code: str
    kind: str  # "country" | "organization"
    name: str
    region: str  # UN M49 sub-region ("Western Asia"), "" for organizations and unknowns
    continent: str  # "Asia", "Europe", "Africa", "America", "Oceania"; "" as above


@lru_cache(maxsize=1)
def m49_regions() -> dict[str, tuple[str, str]]:
    """ISO alpha-3 → (M49 sub-region, continent), from country_converter's country table."""
    try:
        table = resources.files("country_converter").joinpath("country_data.tsv")
        text = table.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise ConfigError(
            f"regions need the analysis extra ({exc}); install it with "
            "pip install 'healthcoop[analysis]'"
        ) from None
    rows = csv.DictReader(io.StringIO(text), delimiter="\t")
    return {r["ISO3"]: (r.get("UNregion") or "", r.get("continent") or "") for r in rows}


@lru_cache(maxsize=4096)
def info(code: str, kind: str | None = None, name: str | None = None) -> PartyInfo:
    """A party's kind, name and region from its code (a kind or name seen in a record is kept
    when the code does not settle it: `?Name` codes)."""
    if is_country_code(code):
        region, continent = m49_regions().get(code, ("", ""))
        return PartyInfo(code, "country", countries()[code].short_name, region, continent)
    org = organizations().get(code)
    if org is not None:
        return PartyInfo(code, "organization", org.name, "", "")
    fallback = code[1:] if code.startswith("?") else code
    return PartyInfo(code, kind or "organization", name or fallback, "", "")
