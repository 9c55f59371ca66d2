"""The `healthcoop` command with the embedded model server's command line swapped for the
stand-in (standin_model_server.py); everything else, starting and stopping the server and
handling signals included, is the product's own code.

    STANDIN_STATE_DIR=D [STANDIN_IGNORE_TERM=1] python standin_healthcoop.py <healthcoop args>
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from healthcoop.llm import embedded

STANDIN = Path(__file__).with_name("standin_model_server.py")


def server_command(settings: object, *, host: str, port: int) -> list[str]:
    cmd = [sys.executable, str(STANDIN), "--host", host, "--port", str(port)]
    cmd += ["--state-dir", os.environ["STANDIN_STATE_DIR"]]
    return cmd + (["--ignore-term"] if os.environ.get("STANDIN_IGNORE_TERM") else [])


embedded.server_command = server_command  # type: ignore[assignment]

if __name__ == "__main__":
    from healthcoop.cli import main

    main()
