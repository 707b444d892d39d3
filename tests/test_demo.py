"""``kopf-informers demo``: every step converges on the embedded server, and a step that does
not is named, with a non-zero exit."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

OPERATORS = Path(__file__).parents[1] / "operators"
TIMEOUT = 240  # seconds: the demo's steps are bounded at 30 s each


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kopf_informers", "demo", *args],
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)


def test_the_demo_converges_at_every_step_and_reads_from_the_caches() -> None:
    result = demo()
    assert result.returncode == 0, result.stdout + result.stderr
    steps = [line for line in result.stdout.splitlines() if line.startswith("  ✓ ")]
    assert len(steps) == 8, result.stdout
    assert "✗" not in result.stdout
    assert re.search(r"objects read with a GET\s+0 ", result.stdout), result.stdout
    summary = result.stdout.split("summary", 1)[1]
    assert "6 Foos, 6 Deployments, 1 ConfigMirror, 3 copies" in summary
    assert "create" in summary
    assert "watch" in summary


def test_a_step_that_does_not_converge_is_named_and_fails_the_demo(tmp_path: Path) -> None:
    for name in ("foo-crd.yaml", "mirror.py", "mirror-crd.yaml"):
        shutil.copy(OPERATORS / name, tmp_path / name)
    (tmp_path / "foo.py").write_text("raise SystemExit('this operator cannot start')\n")
    result = demo("--operators", str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    [failed] = [line for line in result.stdout.splitlines() if line.startswith("  ✗ ")]
    assert "operators started with kopf run" in failed
    assert "the foo operator exited" in failed
    assert "this operator cannot start" in result.stdout  # the end of its log


def test_the_demo_says_where_the_operators_are_missing(tmp_path: Path) -> None:
    result = demo("--operators", str(tmp_path))
    assert result.returncode == 2
    assert "run it from a clone of the project, or pass --operators DIR" in result.stdout
