"""The project as a package: `pip wheel .` gives a wheel that installs one top-level package,
`moderate`, and the installed tool works from outside the repository.

The wheel is built from a copy of the project's files (a build in place could pick up a
stale build/lib) and installed with `pip install --no-deps` into a scratch venv. The
dependencies are not downloaded again: the scratch venv sees this venv's site-packages
through a .pth line, which makes the installed libraries importable without running this
venv's editable-install hook, so `moderate` can only come from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from moderate.cli import build_app
from moderate.seeds import seed_threads
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
STAGES = ("seeds", "labels", "model", "service")  # installed as moderate.<stage>
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
    "artifacts", "tests", "bench",
)  # fmt: skip


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command; its output, or the test fails with what it said."""
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip wheel .` builds from a clean copy of the project."""
    source = tmp_path_factory.mktemp("source") / "moderate"
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    out = tmp_path_factory.mktemp("wheel")
    run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-w", str(out), str(source)],
        cwd=out,
    )  # fmt: skip
    (built,) = out.glob("moderate-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A scratch venv with the wheel installed; its bin directory."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv)
    python = venv / "bin" / "python"
    purelib = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=venv
    )
    (Path(purelib.strip()) / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--disable-pip-version-check", str(wheel)],
        cwd=venv,
    )  # fmt: skip
    yield venv / "bin"


def outside(tmp_path: Path) -> dict[str, str]:
    """An environment with nothing pointing into the repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MODERATE_"))}
    env["HOME"] = str(tmp_path)
    return env


def test_the_wheel_installs_one_top_level_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top_level = archive.read(next(n for n in names if n.endswith(".dist-info/top_level.txt")))
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"moderate"}
    assert top_level.decode().split() == ["moderate"]
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)


def test_the_wheel_holds_every_module_and_data_file_of_the_stages(wheel: Path) -> None:
    """Each stage's folder is in the wheel under moderate/, so a new subpackage missing from
    pyproject.toml's package list, or a data file its package data misses, fails here."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = {
        f"moderate/{p.relative_to(ROOT / 'moderate')}" for p in (ROOT / "moderate").rglob("*.py")
    }
    for stage in STAGES:
        folder = ROOT / stage
        expected |= {f"moderate/{stage}/{p.relative_to(folder)}" for p in folder.rglob("*.py")}
    expected |= {f"moderate/seeds/threads/{p.name}" for p in seed_threads()}
    expected |= {f"moderate/model/reference/{p.name}" for p in (ROOT / "model/reference").iterdir()}
    expected |= {f"moderate/model/data/{p.name}" for p in (ROOT / "model/data").iterdir()}
    expected |= {"moderate/labels/GUIDELINES.md", "moderate/service/review/templates/queue.html",
                 "moderate/service/review/static/review.js"}  # fmt: skip
    assert sorted(expected - names) == []  # what the wheel misses
    assert not any(name.startswith("moderate/labels/data/") for name in names)  # team data


def test_installed_tool_runs_from_outside_the_repository(installed: Path, tmp_path: Path) -> None:
    env = outside(tmp_path)
    where = run(
        [str(installed / "python"), "-c",
         "import moderate, moderate.model.engine as e, moderate.service.app as a; "
         "print(moderate.__file__, e.__file__, a.__file__)"],
        cwd=tmp_path, env=env,
    )  # fmt: skip
    for path in where.split():
        assert Path(path).is_relative_to(installed.parent), where
    probe = f"import importlib.util as u; print([s for s in {STAGES!r} if u.find_spec(s)])"
    found = run([str(installed / "python"), "-c", probe], cwd=tmp_path, env=env)
    assert found.strip() == "[]"  # nothing but `moderate` at the top level

    shown = run([str(installed / "moderate"), "--help"], cwd=tmp_path, env=env)
    assert "split" in shown and "serve" in shown and "train" in shown

    page = shutil.copy(seed_threads()[-1], tmp_path / "thread.txt")
    lines = run([str(installed / "moderate"), "split", str(page)], cwd=tmp_path, env=env)
    split = [json.loads(line) for line in lines.splitlines()]
    here = CliRunner().invoke(build_app(), ["split", str(page)])
    assert here.exit_code == 0, here.output
    assert [r["id"] for r in split] == [json.loads(line)["id"] for line in here.stdout.splitlines()]
    assert len(split) >= 40


def test_installed_main_job_scores_the_shipped_seeds_with_the_shipped_model(
    installed: Path, tmp_path: Path
) -> None:
    """`moderate run` with no arguments, outside the repository: the seed threads and the
    reference model come from the installed package, the output lands in the directory."""
    said = run([str(installed / "moderate"), "run"], cwd=tmp_path, env=outside(tmp_path))
    assert "scored by the shipped reference model" in said
    scored = (tmp_path / "build" / "seeds-scored.csv").read_text("utf-8").splitlines()
    assert len(scored) > 40 and scored[0].startswith("id,")
