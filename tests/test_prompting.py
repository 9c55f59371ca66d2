from __future__ import annotations

import pytest

from healthcoop.core import prompting
from healthcoop.errors import PromptError

SOURCE = "{# strategy: draft #}\nYou extract.\n--- user ---\nArticle:\n{{ text }}\n"


def test_version_is_a_stable_hash_of_the_template_content():
    assert prompting.parse("t", SOURCE).version() == prompting.parse("t", SOURCE).version()
    assert len(prompting.parse("t", SOURCE).version()) == 12


def test_changing_a_template_changes_its_version():
    edited = SOURCE.replace("You extract.", "You extract carefully.")
    assert prompting.parse("t", SOURCE).version() != prompting.parse("t", edited).version()


def test_changing_the_answer_schema_changes_the_version():
    t = prompting.parse("t", SOURCE)
    assert t.version('{"x": "int"}') != t.version('{"x": "str"}') != t.version()


def test_a_template_declares_its_strategy_in_a_leading_comment():
    bare = SOURCE.split("\n", 1)[1]
    assert prompting.parse("t", "{# strategy: candidates #}\n" + bare).strategy == "candidates"
    assert prompting.parse("t", SOURCE).strategy == "draft"
    assert prompting.load("candidates").strategy == "candidates"
    assert prompting.load("draft").strategy == "draft"


def test_a_template_without_a_strategy_is_refused_not_taken_for_a_draft():
    with pytest.raises(PromptError, match="declares no strategy"):
        prompting.parse("t", SOURCE.split("\n", 1)[1])


def test_every_packaged_prompt_declares_its_strategy():
    for name in prompting.available():
        assert prompting.load(name).strategy in ("candidates", "draft"), name


def test_the_draft_prompt_is_named_after_its_strategy_and_the_old_name_still_loads_it():
    assert "draft" in prompting.available() and "extract" not in prompting.available()
    with pytest.warns(DeprecationWarning, match="'draft'"):
        old = prompting.load("extract")
    assert old.name == "draft" and old.version() == prompting.load("draft").version()


def test_render_gives_system_and_user_messages():
    messages = prompting.parse("t", SOURCE).render(text="Iran and Qatar met.")
    assert messages == [
        {"role": "system", "content": "You extract."},
        {"role": "user", "content": "Article:\nIran and Qatar met."},
    ]


def test_a_missing_variable_is_a_prompt_error_not_a_blank():
    with pytest.raises(PromptError, match="did not render"):
        prompting.parse("t", SOURCE).render()


def test_templates_load_by_name_and_unknown_names_list_what_exists():
    assert "candidates" in prompting.available()
    assert prompting.load("draft").name == "draft"
    with pytest.raises(PromptError, match="available: .*draft"):
        prompting.load("no-such-prompt")


def test_a_template_without_the_separator_is_refused():
    with pytest.raises(PromptError, match="--- user ---"):
        prompting.parse("t", "just one part {{ text }}")
