"""The review page's pictures, drawn server-side as SVG with matplotlib: the cooperation
network and a timeline of meetings and agreements.

No pyplot (no global state, no display): a `Figure` is drawn and saved as SVG text with its
text kept as text (`svg.fonttype: none`) and ids salted, so the same records give the same
SVG. Each network node is its own group (`<g id="node-CODE">`) so the page can make it a
filter.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx
from matplotlib import rc_context
from matplotlib.collections import LineCollection
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

#: field colours, shared with the page's stylesheet (static/review.css)
COLOURS = {
    "party": "#4e79a7",
    "official": "#b07aa1",
    "meeting": "#f28e2b",
    "agreement": "#59a14f",
    "mechanism": "#e15759",
}
CONTINENTS = {
    "Africa": "#e15759",
    "America": "#59a14f",
    "Asia": "#f28e2b",
    "Europe": "#4e79a7",
    "Oceania": "#76b7b2",
}
_RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "healthcoop",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]  # inline: without the XML declaration and doctype


def _label(code: str) -> str:
    # mathtext would read "$...$" in a "?Name" code; the label is the code as written
    return code.replace("$", r"\$")


def network_svg(g: nx.Graph, *, max_nodes: int = 80) -> str:
    """The network: node size by articles, colour by continent (organizations grey), edge
    width by the number of meetings, agreements and mechanisms."""
    with rc_context(_RC):
        fig = Figure(figsize=(7, 4.6))
        ax = fig.add_axes((0, 0, 1, 0.94))
        ax.set_axis_off()
        nodes = sorted(g.nodes, key=lambda n: -g.nodes[n].get("n_articles", 0))[:max_nodes]
        h = g.subgraph(nodes)
        shown = (
            f"{h.number_of_nodes()} of {g.number_of_nodes()}"
            if len(nodes) < len(g)
            else (f"{g.number_of_nodes()}")
        )
        fig.suptitle(
            f"Cooperation network: {shown} parties, {h.number_of_edges()} pairs", fontsize=10
        )
        if not h.number_of_nodes():
            ax.text(0.5, 0.5, "no cooperation between two parties", ha="center", va="center")
            return _svg(fig)
        pos = nx.spring_layout(h, seed=14, k=1.6 / max(1, len(h)) ** 0.5, weight="weight")
        top = max((d.get("weight", 1) for *_, d in h.edges(data=True)), default=1)
        edges = list(h.edges(data=True))
        ax.add_collection(  # one artist for all edges: a line each would take seconds
            LineCollection(
                [(pos[a], pos[b]) for a, b, _ in edges],
                linewidths=[0.6 + 3.4 * d.get("weight", 1) / top for *_, d in edges],
                colors="#9aa0a6", alpha=0.6, zorder=1,
            )
        )  # fmt: skip
        most = max(h.nodes[n].get("n_articles", 1) for n in h.nodes)
        for n in h.nodes:
            d = h.nodes[n]
            colour = CONTINENTS.get(d.get("continent", ""), "#8c8c8c")
            size = 60 + 440 * d.get("n_articles", 1) / most
            ax.scatter([pos[n][0]], [pos[n][1]], s=size, color=colour, edgecolors="white",
                       zorder=2, gid=f"node-{n}")  # fmt: skip
            above = size**0.5 / 2 + 1  # the marker's radius in points: the label clears it
            ax.annotate(_label(n), pos[n], xytext=(0, above), textcoords="offset points",
                        ha="center", va="bottom", fontsize=8, zorder=3)  # fmt: skip
        handles = [ax.scatter([], [], color=c, label=name) for name, c in CONTINENTS.items()] + [
            ax.scatter([], [], color="#8c8c8c", label="organization")
        ]
        ax.legend(handles=handles, loc="lower left", fontsize=7, frameon=False, ncol=3)
        ax.margins(0.08)
        return _svg(fig)


@dataclass(frozen=True)
class Event:
    """A dated meeting or agreement, for the timeline."""

    day: dt.date
    field: str  # "meeting" | "agreement"
    status: str | None
    article_id: str


def timeline_svg(events: Iterable[Event]) -> str:
    """Meetings and agreements (one row per agreement status) on a shared time axis."""
    rows = ["meeting", "agreement: signed", "agreement: approved", "agreement: pending",
            "agreement: proposed"]  # fmt: skip
    points: dict[str, list[dt.date]] = {r: [] for r in rows}
    for e in events:
        row = "meeting" if e.field == "meeting" else f"agreement: {e.status}"
        points.setdefault(row, []).append(e.day)
    with rc_context(_RC):
        fig = Figure(figsize=(7, 2.6))
        ax = fig.add_axes((0.25, 0.2, 0.72, 0.68))
        total = sum(len(v) for v in points.values())
        ax.set_title(f"Timeline: {total} dated meetings and agreements", fontsize=10)
        labels = [r for r in points if points[r] or r in rows]
        for y, row in enumerate(labels):
            days = points[row]
            colour = COLOURS["meeting" if row == "meeting" else "agreement"]
            if days:
                ax.scatter(days, [y] * len(days), s=22, color=colour, alpha=0.55,
                           edgecolors="none")  # fmt: skip
        ax.set_yticks(range(len(labels)), labels)
        ax.set_ylim(-0.7, len(labels) - 0.3)
        if total:
            days = [d for v in points.values() for d in v]
            first, last = min(days), max(days)
            if (last - first).days < 30:  # a date locator needs a range to choose ticks in
                middle = first + (last - first) / 2
                ax.set_xlim(middle - dt.timedelta(days=20), middle + dt.timedelta(days=20))
            locator = AutoDateLocator(maxticks=8)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        else:
            ax.set_xticks([])
            ax.text(0.5, 0.5, "no dated meetings or agreements", transform=ax.transAxes,
                    ha="center", va="center")  # fmt: skip
        ax.grid(axis="x", color="#e0e0e0", lw=0.6)
        return _svg(fig)


def prefix_ids(svg: str, prefix: str) -> str:
    """Prefix the ids an SVG defines and refers to, so two SVGs can share one page."""
    svg = re.sub(r'id="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", svg)
    return re.sub(r'xlink:href="#([^"]+)"', lambda m: f'xlink:href="#{prefix}{m.group(1)}"', svg)
