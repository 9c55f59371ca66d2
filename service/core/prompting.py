"""Prompt templates: files in `prompts/`, loaded by name, versioned by a hash of their content.

A template starts with a comment naming its strategy (`{# strategy: candidates #}`) and holds a
system part and a user part, separated by a line `--- user ---`. The version also covers the
JSON Schema of the response model, since instructor sends it too: changing either re-annotates
what the bulk runner must re-run.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import jinja2

from ..errors import PromptError

SEPARATOR = "--- user ---"
_STRATEGY = re.compile(r"^\{#\s*strategy:\s*([a-z_]+)")
# Old names still accepted, with a DeprecationWarning: a renamed prompt keeps its content, so
# its version (and every cached record) stays the same.
ALIASES = {"extract": "draft"}
_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False
)


@dataclass(frozen=True)
class Template:
    name: str
    source: str
    system: jinja2.Template
    user: jinja2.Template
    strategy: str  # how the pipeline asks and assembles: "draft" or "candidates"

    def version(self, schema: str | None = None) -> str:
        """Content hash of the template (and of the answer schema it asks for, if given)."""
        h = hashlib.sha256(self.source.encode("utf-8"))
        if schema is not None:
            h.update(b"\0" + schema.encode("utf-8"))
        return h.hexdigest()[:12]

    def render(self, **context: object) -> list[dict[str, str]]:
        try:
            return [
                {"role": "system", "content": self.system.render(**context).strip()},
                {"role": "user", "content": self.user.render(**context).strip()},
            ]
        except jinja2.TemplateError as exc:
            raise PromptError(f"prompt {self.name!r} did not render: {exc}") from None


def available() -> list[str]:
    return sorted(
        p.name.removesuffix(".md")
        for p in resources.files("healthcoop.prompts").iterdir()
        if p.name.endswith(".md")
    )


def load(name: str) -> Template:
    """The template `prompts/<name>.md` (an old name in `ALIASES` loads its new one)."""
    if name in ALIASES:
        warnings.warn(
            f"prompt {name!r} is now called {ALIASES[name]!r}; the old name will go",
            DeprecationWarning,
            stacklevel=2,
        )
        name = ALIASES[name]
    return _load(name)


@lru_cache(maxsize=32)
def _load(name: str) -> Template:
    path = resources.files("healthcoop.prompts").joinpath(f"{name}.md")
    if not path.is_file():
        raise PromptError(f"no prompt template {name!r}; available: {', '.join(available())}")
    return parse(name, path.read_text("utf-8"))


def parse(name: str, source: str) -> Template:
    if SEPARATOR not in source:
        raise PromptError(f"prompt {name!r} has no '{SEPARATOR}' line between system and user")
    system, user = source.split(SEPARATOR, 1)
    declared = _STRATEGY.match(source)
    if declared is None:
        raise PromptError(
            f"prompt {name!r} declares no strategy: start it with a line like "
            "'{# strategy: candidates #}' (or draft)"
        )
    strategy = declared.group(1)
    try:
        return Template(name, source, _ENV.from_string(system), _ENV.from_string(user), strategy)
    except jinja2.TemplateSyntaxError as exc:
        raise PromptError(f"prompt {name!r} line {exc.lineno}: {exc.message}") from None
