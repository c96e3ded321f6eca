"""Run a benchmark script's measurement in a fresh Python process (imports and memory apart).

Each script answers ``<script> --child <arguments>`` by printing one JSON object as its last
line of output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

__all__ = ["run_child"]


def run_child(script: str, *arguments: str) -> dict[str, Any]:
    """``script --child *arguments`` in a new interpreter; its last output line, decoded."""
    output = subprocess.run(
        [sys.executable, script, "--child", *arguments],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))
