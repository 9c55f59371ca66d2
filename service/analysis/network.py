"""The cooperation network: parties as nodes, cooperation between two parties as an edge.

Built from relevant records in one streaming pass (memory grows with parties and pairs, not
records) and written as GraphML for Gephi and Cytoscape. GraphML attributes are scalars, so
lists (article ids) are joined with ";".
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import networkx as nx

from .parties import info

AGREEMENT_STATUSES = ("signed", "pending", "proposed", "approved")


@dataclass
class Edge:
    """Cooperation between two parties, summed over items and articles."""

    meetings: int = 0
    agreements: Counter[str] = field(default_factory=Counter)  # by status
    mechanisms: int = 0
    first_date: str | None = None
    last_date: str | None = None
    articles: set[str] = field(default_factory=set)

    def dated(self, day: str | None) -> None:
        if day:
            self.first_date = min(self.first_date or day, day)
            self.last_date = max(self.last_date or day, day)

    @property
    def weight(self) -> int:
        return self.meetings + sum(self.agreements.values()) + self.mechanisms


class NetworkBuilder:
    """Collects nodes and edges from records, one record at a time."""

    def __init__(self) -> None:
        self.edges: dict[tuple[str, str], Edge] = {}
        self.kinds: dict[str, str] = {}
        self.names: dict[str, Counter[str]] = {}
        self.articles: Counter[str] = Counter()

    def _pairs(self, parties: Any) -> list[tuple[str, str]]:
        return list(combinations(sorted(set(parties or ())), 2))

    def add(self, record: dict[str, Any]) -> None:
        """Add one record (contract JSON); records that are not relevant add nothing."""
        if not record.get("relevant"):
            return
        aid = record.get("article_id") or ""
        codes: set[str] = set()
        for p in record.get("parties") or ():
            code = p.get("code") or (f"?{p['name']}" if p.get("name") else None)
            if code:
                codes.add(code)
                self.kinds.setdefault(code, p.get("kind") or "organization")
                self.names.setdefault(code, Counter())[p.get("name") or code] += 1

        def edge(a: str, b: str) -> Edge:
            codes.update((a, b))
            e = self.edges.get((a, b))
            if e is None:
                e = self.edges[(a, b)] = Edge()
            e.articles.add(aid)
            return e

        for m in record.get("meetings") or ():
            for a, b in self._pairs(m.get("parties")):
                e = edge(a, b)
                e.meetings += 1
                e.dated((m.get("date") or {}).get("start"))
        for ag in record.get("agreements") or ():
            for a, b in self._pairs(ag.get("parties")):
                e = edge(a, b)
                e.agreements[ag.get("status") or "unknown"] += 1
                e.dated(ag.get("date"))
        for mech in record.get("mechanisms") or ():
            for a, b in self._pairs(mech.get("parties")):
                edge(a, b).mechanisms += 1
        self.articles.update(codes)

    def graph(self) -> nx.Graph:
        """The network, with scalar attributes only (as GraphML requires)."""
        g = nx.Graph()
        for code, n in sorted(self.articles.items()):
            seen = self.names.get(code)
            p = info(code, self.kinds.get(code), seen.most_common(1)[0][0] if seen else None)
            g.add_node(
                code, code=code, kind=p.kind, name=p.name, region=p.region,
                continent=p.continent, n_articles=n,
            )  # fmt: skip
        for (a, b), e in sorted(self.edges.items()):
            attrs: dict[str, Any] = {
                "weight": e.weight,
                "meetings": e.meetings,
                "agreements": sum(e.agreements.values()),
                **{f"agreements_{s}": e.agreements.get(s, 0) for s in AGREEMENT_STATUSES},
                "mechanisms": e.mechanisms,
                "first_date": e.first_date or "",
                "last_date": e.last_date or "",
                "n_articles": len(e.articles),
                "articles": ";".join(sorted(e.articles)),
            }
            g.add_edge(a, b, **attrs)
        return g

    def write_graphml(self, path: str | os.PathLike[str]) -> None:
        nx.write_graphml(self.graph(), path)


def network(records: Any) -> nx.Graph:
    """The cooperation network of records (contract JSON dicts, models or bulk lines)."""
    from .records import lines

    builder = NetworkBuilder()
    for line in lines(records):
        if line.record is not None:
            builder.add(line.record)
    return builder.graph()
