"""Embedded weights: joined from package parts once, verified by sha256, never imported."""

from __future__ import annotations

import hashlib

import pytest

from healthcoop.errors import ConfigError
from healthcoop.llm import embedded
from healthcoop.llm.embedded import EmbeddedModel


def _model(tmp_path, parts: list[bytes], *, sha: str | None = None) -> tuple[EmbeddedModel, list]:
    paths = []
    for i, data in enumerate(parts):
        p = tmp_path / f"part{i:02d}.bin"
        p.write_bytes(data)
        paths.append(p)
    joined = b"".join(parts)
    model = EmbeddedModel(
        name="tiny", distributions=("tiny-part1",), suffix=".bin", size=len(joined),
        sha256=sha or hashlib.sha256(joined).hexdigest(), extra="embedded",
    )  # fmt: skip
    return model, paths


def test_parts_are_joined_in_order_and_verified_once(tmp_path, monkeypatch):
    model, paths = _model(tmp_path, [b"GGUF", b"-weights-", b"end"])
    calls = []
    monkeypatch.setattr(embedded, "_parts", lambda m: calls.append(1) or paths)
    target = embedded.weights_path(model, tmp_path / "cache")
    assert target.read_bytes() == b"GGUF-weights-end"
    assert embedded.weights_path(model, tmp_path / "cache") == target
    assert calls == [1]  # the second call trusts the verified file and does not re-join


def test_a_sha256_mismatch_refuses_the_weights_and_leaves_nothing_behind(tmp_path, monkeypatch):
    model, paths = _model(tmp_path, [b"GGUF", b"tampered"], sha="0" * 64)
    monkeypatch.setattr(embedded, "_parts", lambda m: paths)
    with pytest.raises(ConfigError, match="sha256"):
        embedded.weights_path(model, tmp_path / "cache")
    assert not any((tmp_path / "cache" / "models").iterdir())


def test_missing_weight_packages_name_the_extra_to_install():
    model = EmbeddedModel("x", ("healthcoop-no-such-part",), ".bin", 1, "0" * 64, "embedded")
    with pytest.raises(ConfigError, match=r"pip install 'healthcoop\[embedded\]'"):
        embedded._parts(model)


def test_an_unknown_embedded_model_lists_the_known_ones():
    with pytest.raises(ConfigError, match="qwen2.5-coder-1.5b"):
        embedded.get_model("gpt-5")


def test_the_pinned_models_are_the_measured_files():
    m = embedded.get_model("qwen2.5-coder-1.5b")
    assert m.size == 1_117_320_768 and len(m.distributions) == 22
    assert m.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"


def test_the_embedded_runtime_waits_longer_unless_a_timeout_was_set():
    from healthcoop.settings import Settings

    update = embedded.endpoint_update(Settings(), "http://127.0.0.1:1/v1")
    assert update["timeout"] == embedded.EMBEDDED_TIMEOUT
    assert update["mode"] == "json_schema" and update["dialect"] == "llama_cpp"
    assert "timeout" not in embedded.endpoint_update(Settings(timeout=30), "http://x/v1")
