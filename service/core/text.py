"""Turning what callers send into the plain text the pipeline works on."""

from __future__ import annotations

import re
import unicodedata

from ..errors import InputError

# Tags that make a text HTML rather than prose that mentions a "<" sign.
_HTML_HINT = re.compile(
    r"<(?:!doctype|html|head|body|p|div|br|span|a|h[1-6]|ul|ol|li|table|article|section|script|"
    r"style|strong|em|b|i|meta|title)\b[^>]*>",
    re.IGNORECASE,
)
# How much longer than HEALTHCOOP_MAX_CHARS an HTML page may be: markup is most of a page.
MARKUP_FACTOR = 50
# C0/C1 control characters other than tab, newline and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def decode(data: bytes, *, what: str = "input") -> str:
    """Bytes to text, refusing (rather than mangling) anything that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} is not valid UTF-8 (byte {exc.start}: {data[exc.start : exc.start + 4]!r}); "
            "re-encode it as UTF-8, e.g. `iconv -f latin1 -t utf-8`",
            field="text",
        ) from None


def looks_like_html(text: str) -> bool:
    return len(_HTML_HINT.findall(text[:20_000])) >= 2 or text.lstrip()[:15].lower().startswith(
        ("<!doctype", "<html")
    )


def html_to_text(html: str) -> str:
    """Readable text of an HTML page: block elements become line breaks, scripts vanish."""
    from inscriptis import get_text  # imported here: only HTML inputs pay for lxml

    text = get_text(html)
    lines = (line.strip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def clean_text(text: str, *, max_chars: int) -> tuple[str, bool]:
    """The plain text to extract from, and whether it differs from what was given.

    Offsets in the record point into the returned text; when it changed (HTML stripped, control
    characters removed), the record carries it so the offsets stay usable.
    """
    original = text
    html = looks_like_html(text)
    if len(text) > max_chars * (MARKUP_FACTOR if html else 1):
        # refused before any work: stripping a huge page costs seconds per megabyte
        raise InputError(
            f"article text has {len(text):,} characters{' of HTML' if html else ''}, over the "
            f"limit of {max_chars:,}{f' ({MARKUP_FACTOR}× for markup)' if html else ''}; split "
            "it or raise HEALTHCOOP_MAX_CHARS",
            field="text",
        )
    if html:
        text = html_to_text(text)
    text = _CONTROL.sub("", text)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if not text.strip():
        raise InputError(
            "article text is empty (or only whitespace/markup); send the article's text",
            field="text",
        )
    if len(text) > max_chars:
        raise InputError(
            f"article text has {len(text):,} characters, over the limit of {max_chars:,}; "
            "split it or raise HEALTHCOOP_MAX_CHARS",
            field="text",
        )
    return text, text != original
