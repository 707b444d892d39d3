"""A short chaos soak of the Foo operator: ``bench/chaos_soak.py`` at a small scale.

The script runs as a subprocess (the embedded server and ``kopf run`` are its own children, on
loopback) with 30 Foos and 30 s of churn under every kind of fault, and writes its figures as
JSON. The test asserts properties of the end state and of the operator's writes — never timings,
but for a generous convergence deadline. It takes about a minute; the script bounds every phase
and the test bounds the script.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).parents[2] / "bench" / "chaos_soak.py"
FOOS = 30
CHURN = 30  # seconds
RATE = 5  # churn actions per second
CONVERGE_TIMEOUT = 30  # seconds after the churn: generous (a correct operator needs 1-6 s)
QUIET = 5  # seconds the settled operator is watched for writes
SEED = 1
TIMEOUT = 300  # seconds for the whole script, far beyond its own bounds (~90 s at most)

# The busiest second of operator writes that a correct operator can reach, from the default
# controller rate limiter (client-go's DefaultControllerRateLimiter: a 10 qps bucket with a
# burst of 100, combined by max with per-item exponential backoff). In any one second, the
# reconciles come from:
#   - retries after errors (injected 500s and 429s): requeued through the limiter, so at most
#     the bucket's burst plus a second of its rate: RETRY_BURST + RETRY_QPS;
#   - watch events: each churn action changes one Foo or its Deployment, and its reconcile
#     settles in at most EVENT_ROUNDS rounds (the Deployment written -> its event; its simulated
#     status -> an event; the Foo's status written -> an event; a last round that writes nothing),
#     the workqueue collapsing duplicate keys: EVENT_ROUNDS * RATE;
#   - a restart or a relist after 410, which enqueues every Foo once: FOOS.
# Each reconcile of operators/foo.py writes at most WRITES_PER_RECONCILE times (delete the
# Deployment of a former name, create or patch the wanted one, patch the Foo's status, post an
# Event). Writes that never settle — a reconcile whose own writes keep being undone, say for a
# Foo whose cache lags behind the server — would exceed this bound by far (2,229 writes in one
# second before the controller held such keys back).
WRITES_PER_RECONCILE = 4
RETRY_BURST, RETRY_QPS = 100, 10
EVENT_ROUNDS = 4
PEAK_WRITES_BOUND = WRITES_PER_RECONCILE * (RETRY_BURST + RETRY_QPS + EVENT_ROUNDS * RATE + FOOS)
# A settled operator has nothing to write; a few writes leave room for a stray late Event.
WRITES_AFTER_SETTLING_BOUND = 3

FAULT_KINDS = {"burst", "drop-watches", "outage-410", "pause", "restart", "foo-watch-lag",
               "kill-9"}


def run_soak(tmp_path: Path) -> tuple[dict[str, Any], str]:
    """The script's figures and its printed table (with the operator's log kept in tmp_path)."""
    figures = tmp_path / "soak.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--foos", str(FOOS), "--churn", str(CHURN),
         "--rate", str(RATE), "--seed", str(SEED), "--converge-timeout", str(CONVERGE_TIMEOUT),
         "--quiet", str(QUIET), "--kills", "3",
         # A kill during a pause tests the operator's start while the server is away; with
         # Kopf retrying a failed startup after 60 s, it would hide the rest of a 30 s churn.
         # The full soak (bench/chaos_soak.py's defaults) does it.
         "--kills-in-pause", "0",
         "--json", str(figures), "--keep-logs", str(tmp_path)],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )
    assert result.returncode == 0, f"the soak failed:\n{result.stdout}\n{result.stderr[-5000:]}"
    report: dict[str, Any] = json.loads(figures.read_text())
    return report, f"{result.stdout}\n(operator log: {tmp_path / 'operator.log'})"


def test_the_foo_operator_converges_and_stays_calm_after_churn_under_faults(
    tmp_path: Path,
) -> None:
    report, table = run_soak(tmp_path)

    # The harness did what it says: every kind of fault, every kill, the whole journal.
    assert set(report["faults"]) >= FAULT_KINDS, table
    assert report["fault_errors"] == [], table
    assert report["kills"] == 3, table
    assert report["journal_lost"] == 0, table
    assert report["foos"] > 0, table

    problems = []
    if report["divergent"]:
        problems.append(f"{report['divergent']} Foos without their Deployment as specified, "
                        f"e.g. {report['divergent_examples']}")
    if report["orphans"]:
        problems.append(f"{report['orphans']} Deployments owned by no existing Foo")
    if report["stuck"]:
        problems.append(f"{report['stuck']} Foos stuck with a deletionTimestamp")
    if report["converge_seconds"] is None:
        problems.append(f"not converged within {CONVERGE_TIMEOUT} s after the churn")
    after = report["writes_after_settled"]
    if after is None or after > WRITES_AFTER_SETTLING_BOUND:
        problems.append(f"{after} operator writes in the {QUIET} s after settling "
                        f"(at most {WRITES_AFTER_SETTLING_BOUND})")
    if report["peak_writes_per_second"] > PEAK_WRITES_BOUND:
        problems.append(f"{report['peak_writes_per_second']} operator writes in one second "
                        f"(at most {PEAK_WRITES_BOUND} under the rate limiter)")
    assert not problems, "\n".join(problems) + "\n\n" + table
