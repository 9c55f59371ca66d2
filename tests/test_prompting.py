from __future__ import annotations

import pytest

from healthcoop.core import prompting
from healthcoop.errors import PromptError

SOURCE = "You extract.\n--- user ---\nArticle:\n{{ text }}\n"


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
    assert prompting.parse("t", "{# strategy: candidates #}\n" + SOURCE).strategy == "candidates"
    assert prompting.parse("t", SOURCE).strategy == "draft"
    assert prompting.load("candidates").strategy == "candidates"


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
    assert "extract" in prompting.available()
    assert prompting.load("extract").name == "extract"
    with pytest.raises(PromptError, match="available: .*extract"):
        prompting.load("no-such-prompt")


def test_a_template_without_the_separator_is_refused():
    with pytest.raises(PromptError, match="--- user ---"):
        prompting.parse("t", "just one part {{ text }}")
