from __future__ import annotations

import pytest

from healthcoop.core.text import clean_text, decode
from healthcoop.errors import InputError
from healthcoop.extraction.extractor import prepare
from healthcoop.settings import Settings


def test_empty_or_whitespace_text_is_an_input_error_naming_the_field():
    for text in ("", "   \n\t "):
        with pytest.raises(InputError) as err:
            prepare({"text": text}, Settings())
        assert err.value.field == "text"
        assert "empty" in err.value.message


def test_text_over_the_configured_limit_is_refused_with_the_setting_to_raise():
    with pytest.raises(InputError, match="HEALTHCOOP_MAX_CHARS"):
        prepare("x" * 101, Settings(max_chars=100))


def test_bytes_that_are_not_utf8_are_refused_not_mangled():
    with pytest.raises(InputError, match="not valid UTF-8"):
        decode("Zafarqandi met Salagay in Xi\u2019an".encode("cp1252"))
    assert decode("Xi\u2019an".encode()) == "Xi\u2019an"


def test_html_is_stripped_and_the_record_text_is_what_offsets_point_into():
    html = (
        "<html><head><script>var x = 1;</script></head><body><h1>Iran, Qatar sign MoU</h1>"
        "<p>Iran and <b>Qatar</b> signed a memorandum.</p><p>More&nbsp;news.</p></body></html>"
    )
    text, changed = clean_text(html, max_chars=10_000)
    assert changed
    assert "<" not in text and "var x" not in text
    assert "Iran and Qatar signed a memorandum." in text


def test_plain_text_that_mentions_a_less_than_sign_is_not_treated_as_html():
    text, changed = clean_text("Cases fell to <5 per 100,000 in Iran and Iraq.", max_chars=1000)
    assert not changed and text.startswith("Cases fell to <5")


def test_markup_only_input_is_empty_after_stripping():
    with pytest.raises(InputError, match="empty"):
        clean_text("<html><body><p> </p><div></div></body></html>", max_chars=1000)


def test_an_article_without_id_gets_one_derived_from_its_text():
    a = prepare({"text": "Iran and Qatar met."}, Settings()).article
    b = prepare({"text": "Iran and Qatar met."}, Settings()).article
    assert a.id == b.id and len(a.id) == 16


def test_a_bad_published_date_is_an_input_error_on_that_field():
    with pytest.raises(InputError) as err:
        prepare({"text": "Iran and Qatar met.", "published": "yesterday-ish"}, Settings())
    assert err.value.field == "published"


def test_bytes_are_accepted_when_utf8_and_refused_otherwise():
    assert prepare(b"Iran and Qatar met.", Settings()).text == "Iran and Qatar met."
    with pytest.raises(InputError, match="not valid UTF-8"):
        prepare(b"Caf\xe9 and Qatar", Settings())
