"""An example operator under ``kopf run``, as a subprocess (see the ``run_operator`` fixture of
``tests/kopf/conftest.py``)."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

OPERATORS = Path(__file__).parents[2] / "operators"
EXIT_TIMEOUT = 20.0  # seconds: a failed start must end the process well within this


@dataclasses.dataclass
class Operator:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def exit_code(self) -> int:
        """Wait for the process to end on its own (a failed start)."""
        return self.process.wait(timeout=EXIT_TIMEOUT)
