"""What needs no helm: each chart's CRDs are the operator's own, and the image's build inputs
are all there (the Dockerfile cannot be built here: no Docker engine)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from _helpers.charts import CHARTS, ROOT

DOCKERFILE = ROOT / "Dockerfile"


def crd_files() -> list[Path]:
    return sorted(path for chart in CHARTS for path in (chart / "crds").glob("*.yaml"))


def test_every_chart_has_crds_of_an_example_operator() -> None:
    assert CHARTS, "no charts found under charts/"
    for chart in CHARTS:
        assert list((chart / "crds").glob("*.yaml")), f"{chart.name} has no CRD in crds/"


@pytest.mark.parametrize("crd", crd_files(), ids=lambda path: f"{path.parts[-3]}/{path.name}")
def test_a_charts_crd_is_identical_to_its_operators_manifest(crd: Path) -> None:
    manifest = ROOT / "operators" / crd.name
    assert manifest.exists(), f"charts/.../crds/{crd.name} has no operators/{crd.name}"
    assert crd.read_bytes() == manifest.read_bytes(), (
        f"{crd.relative_to(ROOT)} differs from {manifest.relative_to(ROOT)}: copy it over")


def test_every_chart_runs_an_operator_file_that_the_image_holds() -> None:
    for chart in CHARTS:
        values = yaml.safe_load((chart / "values.yaml").read_text())
        in_image = Path(values["operator"]["file"])
        assert in_image.parent == Path("/app/operators")
        assert (ROOT / "operators" / in_image.name).exists(), f"{chart.name}: {in_image}"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1])
            for line in lines if line and not line.startswith("#")]


def test_everything_the_image_copies_from_the_repository_exists_and_is_sent() -> None:
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    assert ignored[0] == "*", ".dockerignore starts by excluding everything"
    copied = [source for instruction, args in dockerfile_instructions()
              if instruction == "COPY" and "--from=" not in args
              for source in shlex.split(args)[:-1]]
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is missing"
        assert f"!{source}" in ignored or f"!{source}/" in ignored, (
            f".dockerignore leaves {source} out of the build context")


def test_the_image_runs_kopf_on_an_operator_file_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    froms = [args for instruction, args in instructions if instruction == "FROM"]
    assert len(froms) >= 2, "multi-stage: build, then final"
    assert "AS build" in froms[0]
    final = instructions[max(i for i, (ins, _) in enumerate(instructions) if ins == "FROM"):]
    assert not any("pip install" in args for ins, args in final if ins == "RUN")
    user = [args for ins, args in final if ins == "USER"]
    assert user, "a USER in the final stage"
    uid = user[-1].split(":")[0]
    assert uid.isdigit(), "numeric, so the kubelet can check runAsNonRoot"
    assert uid != "0"
    entrypoint = [yaml.safe_load(args) for ins, args in final if ins == "ENTRYPOINT"][-1]
    assert entrypoint[:2] == ["kopf", "run"]
    command = [yaml.safe_load(args) for ins, args in final if ins == "CMD"][-1]
    assert (ROOT / "operators" / Path(command[-1]).name).exists()
    assert any(arg.startswith("--liveness=") for arg in command)
