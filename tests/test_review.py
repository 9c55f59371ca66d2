"""`healthcoop review`: the page opened in a real headless browser (Debian's chromium). The
highlighted spans in the rendered DOM are exactly the records' evidence spans, an article's
`<script>` renders as text and never runs, items and filters work, 1,000 articles paginate,
and the page needs no network (issue 14)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import lxml.html
import pytest
from typer.testing import CliRunner

from healthcoop.analysis import review
from healthcoop.analysis.records import read_articles
from healthcoop.cli import app
from tests.analysis_data import (
    TEXT_A,
    TEXT_B,
    archive_rows,
    bulk_line,
    error_line,
    record_a,
    record_b,
    record_c,
    span,
)

runner = CliRunner()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# flags that work on these machines (no sandbox as root, no background network at all)
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--virtual-time-budget=3000",
]  # fmt: skip
FIELDS = {"party": "parties", "official": "officials", "meeting": "meetings",
          "agreement": "agreements", "mechanism": "mechanisms"}  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return CHROMIUM


def dom(browser: str, page: Path, fragment: str, tmp: Path) -> lxml.html.HtmlElement:
    """The page's DOM after its scripts ran, as chromium prints it."""
    url = page.resolve().as_uri() + fragment
    args = [browser, *FLAGS, f"--user-data-dir={tmp / 'profile'}", "--dump-dom", url]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    tree = lxml.html.fromstring(done.stdout)
    assert tree.body.get("data-ready") == "1", "the page's script did not finish"
    return tree


@pytest.fixture
def page(tmp_path) -> Path:
    archive = tmp_path / "archive.jsonl"
    archive.write_text("".join(json.dumps(r) + "\n" for r in archive_rows()), encoding="utf-8")
    results = tmp_path / "results.jsonl"
    lines = [bulk_line(record_a()), bulk_line(record_b(own_text=True)), bulk_line(record_c()),
             error_line()]  # fmt: skip
    results.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    out = tmp_path / "review.html"
    result = runner.invoke(
        app, ["review", str(results), "--articles", str(archive), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def highlighted(tree: lxml.html.HtmlElement) -> dict[str, tuple[int, int, str]]:
    """Each evidence span the DOM highlights: key → (start, end, text shown), checking that
    its marks are contiguous."""
    parts: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for mark in tree.xpath('//div[@id="text"]//mark[contains(@class, "hl")]'):
        for key in mark.get("data-spans").split():
            parts[key].append((int(mark.get("data-start")), int(mark.get("data-end")),
                               mark.text_content()))  # fmt: skip
    out = {}
    for key, segs in parts.items():
        segs.sort()
        assert all(a[1] == b[0] for a, b in zip(segs, segs[1:], strict=False)), f"{key} is cut"
        out[key] = (segs[0][0], segs[-1][1], "".join(s[2] for s in segs))
    return out


def expected(record) -> dict[str, tuple[int, int, str]]:
    return {
        f"{field}:{i}:{k}": (s.start, s.end, s.text)
        for field, name in FIELDS.items()
        for i, item in enumerate(getattr(record, name))
        for k, s in enumerate(item.evidence)
    }


def test_highlighted_spans_are_exactly_the_records_evidence_spans(browser, page, tmp_path):
    tree = dom(browser, page, "#a=a1", tmp_path)
    assert tree.xpath('string(//div[@id="text"])') == TEXT_A
    assert highlighted(tree) == expected(record_a())  # overlapping spans included
    classes = {
        frozenset(m.get("data-spans").split()): m.get("class")
        for m in tree.xpath('//div[@id="text"]//mark')
    }
    assert "f-agreement" in classes[frozenset({"agreement:0:0"})]  # coloured by field
    # where spans overlap, the innermost one's field colours it and an underline says so
    inner = classes[frozenset({"meeting:0:0", "official:0:0"})]
    assert "f-official" in inner and "multi" in inner


def test_offsets_point_into_the_records_own_text_when_it_has_one(browser, page, tmp_path):
    tree = dom(browser, page, "#a=b2", tmp_path)
    assert tree.xpath('string(//div[@id="text"])') == TEXT_B
    assert highlighted(tree) == expected(record_b(own_text=True))


def test_a_script_in_an_article_renders_as_text_and_never_runs(browser, page, tmp_path):
    tree = dom(browser, page, "#a=b2", tmp_path)
    assert tree.body.get("data-pwned") is None
    assert tree.findtext(".//title") != "PWNED"
    text = tree.xpath('//div[@id="text"]')[0]
    assert "<script>document.title='PWNED'" in text.text_content()
    assert not text.xpath(".//script | .//img")
    # markup in a title from the archive is text too
    entry = tree.xpath('//li[@data-id="b2"]')[0]
    assert entry.text_content().endswith("Border clinics <b>plan</b>") and not entry.xpath(".//b")


def test_clicking_an_item_emphasizes_exactly_its_spans(browser, page, tmp_path):
    # the page opens an item as a click would (deep link #a=...&item=field:index)
    tree = dom(browser, page, "#a=a1&item=party:1&overview=0", tmp_path)
    assert tree.xpath('//details[@id="overview"]/@open') == []  # folded away by the link
    active = tree.xpath('//div[@id="text"]//mark[contains(@class, "active")]')
    starts = sorted(int(m.get("data-start")) for m in active)
    kenya = [span(TEXT_A, "Kenya").start, span(TEXT_A, "Kenya's").start]
    assert starts == sorted(kenya)
    (li,) = tree.xpath('//li[contains(@class, "item") and contains(@class, "active")]')
    assert li.get("data-item") == "party:1" and li.text_content().startswith("KEN")


def test_record_beside_the_text_lists_every_item_with_its_status(browser, page, tmp_path):
    tree = dom(browser, page, "#a=a1", tmp_path)
    items = tree.xpath('//aside[@id="record"]//li[contains(@class, "item")]')
    assert [li.get("data-item") for li in items] == list(expected_items(record_a()))
    agreement = tree.xpath('//li[@data-item="agreement:0"]')[0].text_content()
    assert "mou" in agreement and "signed" in agreement and "KEN" in agreement
    chips = [c.text_content() for c in tree.xpath('//span[@class="chip"]')]
    assert chips == ["vaccines", "communicable_diseases"]


def expected_items(record):
    for field, name in FIELDS.items():
        for i, _ in enumerate(getattr(record, name)):
            yield f"{field}:{i}"


@pytest.mark.parametrize(
    ("fragment", "shown"),
    [
        ("#party=CHL", ["b2"]),
        ("#field=mechanism", ["a1"]),
        ("#status=proposed", ["a1", "b2"]),  # a1's mechanism, b2's protocol
        ("#status=signed&field=agreement", ["a1"]),
        ("#status=signed&field=mechanism", []),
        ("#status=error", ["d4"]),
        ("#status=not%20relevant", ["c3"]),
    ],
)
def test_filters_by_party_field_and_status(browser, page, tmp_path, fragment, shown):
    tree = dom(browser, page, fragment, tmp_path)
    assert [li.get("data-id") for li in tree.xpath('//ol[@id="list"]/li')] == shown


def test_the_page_needs_no_network(page):
    html = page.read_text(encoding="utf-8")
    tree = lxml.html.fromstring(html)
    csp = tree.xpath('//meta[@http-equiv="Content-Security-Policy"]/@content')[0]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp.split("script-src")[1]
    assert not tree.xpath("//script[@src] | //link | //iframe | //img[@src]")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)


def test_network_and_timeline_are_drawn_in_the_page(browser, page, tmp_path):
    tree = dom(browser, page, "#a=a1", tmp_path)
    nodes = tree.xpath('//figure[@id="network"]//*[starts-with(@id, "net-node-")]/@id')
    assert sorted(n.removeprefix("net-node-") for n in nodes) == ["CHL", "KEN", "PAK", "PER", "WHO"]
    title = tree.xpath('string(//figure[@id="timeline"])')
    assert "Timeline: 3 dated meetings and agreements" in title  # b2's protocol: no date


def test_a_thousand_articles_are_paginated_and_one_is_rendered(browser, tmp_path):
    records = [record_b(f"n{i:04d}", own_text=True) for i in range(1000)]
    out = tmp_path / "big.html"
    review.write(records, out)
    tree = dom(browser, out, "#a=n0777", tmp_path)
    assert len(tree.xpath('//ol[@id="list"]/li')) == 50
    assert tree.xpath('string(//span[@id="page"])') == "page 16 of 20"
    assert len(tree.xpath('//div[@id="text"]')) == 1
    assert tree.xpath('//li[contains(@class, "current")]/@data-id') == ["n0777"]


def test_a_span_not_at_its_offsets_is_flagged_not_highlighted(browser, tmp_path):
    rec = record_a().model_copy(deep=True)
    rec.text = TEXT_A.replace("Pakistan and", "Pakistan  and")  # shifts every later offset
    out = tmp_path / "shifted.html"
    summary = review.write([rec], out)
    assert summary.unplaced_spans > 0
    tree = dom(browser, out, "#a=a1", tmp_path)
    keys = set(highlighted(tree))
    assert "party:0:0" in keys and "agreement:0:0" not in keys
    warning = tree.xpath('string(//li[@data-item="agreement:0"])')
    assert "not at their offsets" in warning


def test_without_an_archive_the_page_says_the_text_is_missing(browser, tmp_path):
    out = tmp_path / "bare.html"
    summary = review.write([record_a()], out)
    assert summary.without_text == 1
    tree = dom(browser, out, "", tmp_path)
    assert "give the archive with --articles" in tree.xpath('string(//div[@id="text"])')


def test_read_articles_keeps_texts_by_id(tmp_path):
    archive = tmp_path / "a.jsonl"
    archive.write_text("".join(json.dumps(r) + "\n" for r in archive_rows()), encoding="utf-8")
    got = read_articles(archive)
    assert got["a1"].text == TEXT_A and got["a1"].published == "2025-03-04"
