"""`healthcoop review`: the page opened in a real headless browser (Debian's chromium). The
highlighted spans in the rendered DOM are exactly the records' evidence spans, an article's
`<script>` renders as text and never runs, items and filters work, 1,000 articles paginate,
and the page needs no network (issue 14). Given events, a stories view lists each story
reported by several articles with exactly its mentions, and a mention opens its article with
exactly that item's spans emphasized (issue 15, item 5)."""

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
    TEXT_E,
    archive_rows,
    bulk_line,
    error_line,
    record_a,
    record_b,
    record_c,
    record_e,
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


# ---------------------------------------------------------------- stories (issue 15, item 5)

TEXTS = {"a1": TEXT_A, "b2": TEXT_B, "e5": TEXT_E}
RECORDS = {r.article_id: r for r in (record_a(), record_b(), record_c(), record_e())}


@pytest.fixture
def stories(tmp_path):
    """Results in which two outlets (a1, e5) report one MoU, the events `healthcoop
    consolidate` made of them, and the review page written with those events."""
    archive = tmp_path / "archive.jsonl"
    archive.write_text("".join(json.dumps(r) + "\n" for r in archive_rows()), encoding="utf-8")
    results = tmp_path / "results.jsonl"
    lines = [bulk_line(r) for r in RECORDS.values()] + [error_line()]
    results.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    events = tmp_path / "events.jsonl"
    made = runner.invoke(app, ["consolidate", str(results), "-o", str(events),
                               "--articles", str(archive)])  # fmt: skip
    assert made.exit_code == 0, made.output
    out = tmp_path / "stories.html"
    result = runner.invoke(app, ["review", str(results), "--articles", str(archive),
                                 "--events", str(events), "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 stories reported by more than one article (4 events)" in result.output
    evs = [json.loads(x) for x in events.read_text(encoding="utf-8").splitlines()]
    return out, evs, (results, archive)


def _item_key(item: str) -> str:
    """ "agreements[0]" → "agreement:0", as the page names an item."""
    name, index = item.rstrip("]").split("[")
    return f"{name.removesuffix('s')}:{index}"


def _the_story(evs):
    (mou,) = [e for e in evs if len({m["article_id"] for m in e["mentions"]}) > 1]
    return mou


def test_the_stories_view_lists_the_events_reported_by_more_than_one_article(
    browser, stories, tmp_path
):
    out, evs, _ = stories
    tree = dom(browser, out, "#view=stories", tmp_path)
    assert [li.get("data-story") for li in tree.xpath('//ol[@id="list"]/li')] == [
        _the_story(evs)["event_id"]
    ]
    # and, asked for, every event: a mention reported once is an event too
    tree = dom(browser, out, "#view=stories&single=1", tmp_path)
    listed = [li.get("data-story") for li in tree.xpath('//ol[@id="list"]/li')]
    assert sorted(listed) == sorted(e["event_id"] for e in evs) and len(evs) == 4
    assert listed[0] == _the_story(evs)["event_id"]  # the most reported first


def test_a_story_lists_exactly_its_mentions_with_its_lifecycle(browser, stories, tmp_path):
    out, evs, _ = stories
    mou = _the_story(evs)
    tree = dom(browser, out, f"#story={mou['event_id']}", tmp_path)
    (box,) = tree.xpath('//section[@id="story"]')
    assert box.get("hidden") is None and box.get("data-story") == mou["event_id"]
    assert tree.xpath('//article[@id="article"]/@hidden') == [""]  # the story alone
    mentions = box.xpath('.//ul[@id="mentions"]/li')
    assert [(li.get("data-article"), li.get("data-item")) for li in mentions] == [
        (m["article_id"], _item_key(m["item"])) for m in mou["mentions"]
    ]
    assert sorted(li.get("data-article") for li in mentions) == ["a1", "e5"]
    # each mention quotes its first evidence span and links to its article's item
    for li, m in zip(mentions, mou["mentions"], strict=True):
        assert li.xpath("string(.//q)") == m["evidence"][0]["text"]
        (link,) = li.xpath(".//a")
        assert link.get("href") == f"#a={m['article_id']}&item=agreement%3A0"
    steps = box.xpath('.//ol[@class="lifecycle"]/li')
    assert [li.text_content().split(" · ")[:2] for li in steps] == [["signed", "2025-03-03"]]
    chips = [c.text_content() for c in box.xpath('.//span[@class="chip"]')]
    assert chips == mou["because"] and chips[0] == "same parties KEN+PAK"


def _active(tree) -> list[tuple[int, int]]:
    """The text ranges the page emphasizes, contiguous marks joined."""
    marks = tree.xpath('//div[@id="text"]//mark[contains(@class, "active")]')
    ranges = sorted((int(m.get("data-start")), int(m.get("data-end"))) for m in marks)
    out: list[tuple[int, int]] = []
    for start, end in ranges:
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


@pytest.mark.parametrize("k", [0, 1])
def test_choosing_a_mention_opens_its_article_with_exactly_that_items_spans(
    browser, stories, tmp_path, k
):
    out, evs, _ = stories
    mou = _the_story(evs)
    m = mou["mentions"][k]
    aid, key = m["article_id"], _item_key(m["item"])
    # the page opens a mention as a click on it would (deep link #story=...&mention=k)
    tree = dom(browser, out, f"#story={mou['event_id']}&mention={k}", tmp_path)
    assert tree.xpath('//section[@id="story"]/@hidden') == [""]
    assert tree.xpath('string(//div[@id="text"])') == TEXTS[aid]
    assert tree.xpath('//li[contains(@class, "current")]/@data-id') == [aid]
    field, index = key.split(":")
    item = getattr(RECORDS[aid], FIELDS[field])[int(index)]
    assert _active(tree) == sorted((s.start, s.end) for s in item.evidence)
    (li,) = tree.xpath('//li[contains(@class, "item") and contains(@class, "active")]')
    assert li.get("data-item") == key
    assert tree.xpath('//aside[@id="record"]//button[contains(@class, "back")]')


def test_an_item_that_is_part_of_a_story_links_to_it(browser, stories, tmp_path):
    out, evs, _ = stories
    mou = _the_story(evs)
    tree = dom(browser, out, "#a=e5", tmp_path)
    links = tree.xpath('//aside[@id="record"]//span[contains(@class, "story-link")]')
    assert [(ln.getparent().get("data-item"), ln.get("data-story")) for ln in links] == [
        ("agreement:0", mou["event_id"])
    ]
    assert links[0].text_content() == "story: 2 articles"
    tree = dom(browser, out, "#a=b2", tmp_path)  # b2's items are reported by b2 alone
    assert not tree.xpath('//span[contains(@class, "story-link")]')


def test_consolidating_in_the_same_pass_gives_the_same_stories(browser, stories, tmp_path):
    out, evs, (results, archive) = stories
    now = tmp_path / "now.html"
    result = runner.invoke(app, ["review", str(results), "--articles", str(archive),
                                 "--consolidate", "-o", str(now)])  # fmt: skip
    assert result.exit_code == 0, result.output
    mou = _the_story(evs)
    tree = dom(browser, now, f"#story={mou['event_id']}", tmp_path)
    mentions = tree.xpath('//ul[@id="mentions"]/li')
    assert [(li.get("data-article"), li.get("data-item")) for li in mentions] == [
        (m["article_id"], _item_key(m["item"])) for m in mou["mentions"]
    ]


def _event(event_id, mentions, **fields):
    return {"event_id": event_id, "kind": "agreement", "parties": ["CHL", "PER"],
            "instrument": "protocol", "date": None, "location": None, "status": "proposed",
            "lifecycle": [{"status": "proposed", "date": None, "article_id": mentions[0][0]}],
            "title": None, "because": ["same parties CHL+PER", "same instrument protocol"],
            "mentions": [{"article_id": a, "item": item, "status": "proposed", "date": None,
                          "published": None, "evidence": [{"start": 0, "end": 5, "text": q}]}
                         for a, item, q in mentions], **fields}  # fmt: skip


def test_story_text_from_an_events_file_renders_as_text_and_never_runs(browser, tmp_path):
    evil = "<img src=x onerror=\"document.body.setAttribute('data-pwned','3')\">"
    events = [_event("agr-x", [
        ("b2", "agreements[0]", evil),
        ("zz", "agreements[0]", "an article these results do not have"),
    ], title="<script>document.title='PWNED'</script>")]  # fmt: skip
    # an event none of these results reports is not one of the page's stories
    events.append(_event("agr-y", [("y1", "agreements[0]", "a"), ("y2", "agreements[0]", "b")]))
    out = tmp_path / "evil.html"
    summary = review.write([record_b(own_text=True)], out, events=events)
    assert (summary.events, summary.stories, summary.mentions_elsewhere) == (1, 1, 1)
    tree = dom(browser, out, "#story=agr-x", tmp_path)
    assert tree.body.get("data-pwned") is None and tree.findtext(".//title") != "PWNED"
    (box,) = tree.xpath('//section[@id="story"]')
    assert box.xpath("string(.//h2)") == "<script>document.title='PWNED'</script>"
    assert not box.xpath(".//script | .//img")
    b2, zz = box.xpath('.//ul[@id="mentions"]/li')
    assert b2.xpath(".//a") and "onerror" in b2.xpath("string(.//q)")
    # a mention of an article not in these results is listed, but leads nowhere
    assert not zz.xpath(".//a") and "not in these results" in zz.text_content()


def test_a_thousand_articles_with_their_stories_paginate_and_render_one(browser, tmp_path):
    records = [record_b(f"n{i:04d}", own_text=True) for i in range(1000)]
    events = [_event(f"agr-{i:04d}", [(f"n{2 * i:04d}", "agreements[0]", "Chile"),
                                      (f"n{2 * i + 1:04d}", "agreements[0]", "Chile")])
              for i in range(500)]  # fmt: skip
    out = tmp_path / "big.html"
    summary = review.write(records, out, events=events)
    assert summary.stories == 500
    tree = dom(browser, out, "#story=agr-0377", tmp_path)
    assert len(tree.xpath('//ol[@id="list"]/li')) == 50
    assert tree.xpath('string(//span[@id="page"])') == "page 8 of 10"
    assert tree.xpath('//section[@id="story"]/@data-story') == ["agr-0377"]
    assert len(tree.xpath('//ul[@id="mentions"]/li')) == 2


def test_without_events_the_page_has_no_stories_view(browser, page, tmp_path):
    tree = dom(browser, page, "#view=stories", tmp_path)
    assert tree.xpath('//div[@id="views"]/@hidden') == [""]
    assert tree.xpath('//section[@id="story"]/@hidden') == [""]
    assert tree.xpath('//li[contains(@class, "current")]/@data-id') == ["a1"]


def test_events_and_consolidate_together_are_a_usage_error(stories, tmp_path):
    _, _, (results, _) = stories
    events = tmp_path / "events.jsonl"
    both = runner.invoke(app, ["review", str(results), "--events", str(events),
                               "--consolidate", "-o", str(tmp_path / "x.html")])  # fmt: skip
    assert both.exit_code == 2 and "not both" in both.output
    tasks = runner.invoke(app, ["review", str(results), "--consolidate", "--label-studio",
                                "-o", str(tmp_path / "t.json")])  # fmt: skip
    assert tasks.exit_code == 2 and "not for --label-studio" in tasks.output


@pytest.mark.parametrize(
    ("fragment", "kinds"),
    [
        ("&party=CHL", [("agreement", "CHL PER"), ("meeting", "CHL PER")]),
        ("&field=meeting", [("meeting", "CHL PER"), ("meeting", "KEN PAK")]),
        ("&status=signed", [("agreement", "KEN PAK")]),
        ("&field=mechanism", []),  # mechanisms are not consolidated
    ],
)
def test_the_filters_choose_stories_too(browser, stories, tmp_path, fragment, kinds):
    out, evs, _ = stories
    tree = dom(browser, out, "#view=stories&single=1" + fragment, tmp_path)
    by_id = {e["event_id"]: e for e in evs}
    listed = [by_id[li.get("data-story")] for li in tree.xpath('//ol[@id="list"]/li')]
    assert sorted((e["kind"], " ".join(e["parties"])) for e in listed) == kinds
