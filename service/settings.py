"""Settings from the environment (prefix HEALTHCOOP_); nothing else reads os.environ."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

InstructorMode = Literal["tools", "json", "json_schema", "md_json"]
UngroundedPolicy = Literal["drop", "flag"]
Dialect = Literal["openai", "llama_cpp"]


class Settings(BaseSettings):
    """Everything configurable. Unset `base_url` means: run the embedded model."""

    model_config = SettingsConfigDict(env_prefix="HEALTHCOOP_", env_file=None, extra="ignore")

    # --- the model endpoint (any OpenAI-compatible server) ---
    base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint, e.g. https://api.openai.com/v1"
    )
    api_key: SecretStr | None = Field(default=None, description="API key for base_url")
    model: str | None = Field(default=None, description="model name at the endpoint")
    timeout: float = Field(default=120.0, gt=0, description="seconds per LLM request")
    retries: int = Field(
        default=2, ge=0, description="retries on transport errors (429, 5xx, timeouts)"
    )
    validation_retries: int = Field(
        default=2, ge=0, description="re-asks when an answer fails validation"
    )
    mode: InstructorMode = Field(default="tools", description="how instructor asks for JSON")
    dialect: Dialect = Field(
        default="openai",
        description="llama_cpp: send a json_schema response format as llama-cpp-python's "
        "json_object+schema (a grammar, with no schema text in the prompt)",
    )
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int = Field(default=1024, gt=0, description="cap on tokens in one answer")

    # --- the task ---
    task: str = "health_cooperation"
    prompt: str = Field(
        default="candidates",
        description="prompt template in prompts/: candidates (default; any model) or draft "
        "(free drafting, for capable models)",
    )
    max_chars: int = Field(default=50_000, gt=0, description="longest article text accepted")
    ungrounded: UngroundedPolicy = Field(
        default="drop", description="what to do with an item whose evidence is not in the text"
    )
    fuzzy_threshold: float = Field(default=85.0, ge=0, le=100)

    # --- the embedded model (used when base_url is unset) ---
    embedded_model: str = Field(default="qwen2.5-coder-1.5b", description="see `healthcoop models`")
    embedded_threads: int = Field(default=2, gt=0)
    embedded_ctx: int = Field(default=8192, gt=0)
    embedded_fast_grammar: bool = Field(
        default=True,
        description="check the best token against the grammar before the whole vocabulary "
        "(same answers, less time; see healthcoop.llama_server)",
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_cache_dir("healthcoop")),
        description="where joined model weights and the result store live",
    )

    # --- HTTP service (healthcoop serve) ---
    service_token: SecretStr | None = Field(
        default=None, description="bearer token required on every route but /healthz"
    )
    service_concurrency: int = Field(
        default=4, gt=0, description="extractions in flight to the model at once; the rest queue"
    )
    service_max_batch: int = Field(
        default=32, gt=0, description="most articles accepted by POST /v1/extract/batch"
    )
    service_max_body_bytes: int = Field(
        default=4 * 1024 * 1024, gt=0, description="largest request body accepted (413 above)"
    )
    service_cors_origins: list[str] = Field(
        default_factory=list, description='origins allowed by CORS, e.g. ["https://a.example"]'
    )

    # --- bulk runs (healthcoop annotate) ---
    store: Path | None = Field(
        default=None, description="SQLite result store; default: <cache_dir>/results.sqlite"
    )
    concurrency: int = Field(default=8, ge=1, description="requests in flight at once")
    processes: int = Field(
        default=1, ge=1, description="worker processes sharing the concurrency (CPU-bound runs)"
    )
    rpm: float | None = Field(default=None, gt=0, description="client-side requests per minute")
    tpm: float | None = Field(default=None, gt=0, description="client-side tokens per minute")
    price_prompt: float | None = Field(
        default=None, ge=0, description="USD per million prompt tokens, for --dry-run estimates"
    )
    price_completion: float | None = Field(
        default=None, ge=0, description="USD per million completion tokens, for --dry-run"
    )
    batch_price_prompt: float | None = Field(
        default=None,
        ge=0,
        description="USD per million prompt tokens on the Batch API, for "
        "--batch-api --dry-run; default: half of price_prompt",
    )
    batch_price_completion: float | None = Field(
        default=None,
        ge=0,
        description="USD per million completion tokens on the Batch API; "
        "default: half of price_completion",
    )
    batch_poll_seconds: float = Field(
        default=30.0, gt=0, description="seconds between looks at a Batch API batch in flight"
    )

    # --- evaluation (healthcoop eval) ---

    @property
    def uses_embedded(self) -> bool:
        return not self.base_url

    def batch_prices(self) -> tuple[float | None, float | None]:
        """USD per million prompt and completion tokens on the Batch API (half the usual
        price unless set)."""

        def half(price: float | None) -> float | None:
            return price / 2 if price is not None else None

        return (
            self.batch_price_prompt if self.batch_price_prompt is not None
            else half(self.price_prompt),
            self.batch_price_completion if self.batch_price_completion is not None
            else half(self.price_completion),
        )  # fmt: skip


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
