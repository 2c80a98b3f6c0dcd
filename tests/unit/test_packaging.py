"""Installed, askloop claims one import name: ``askloop``. Nothing generic (``agent``,
``tools``, ``config``…) lands on a user's sys.path to shadow their own modules."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("agent", "integrations", "tools", "config", "prompts")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_folder_is_listed_under_the_askloop_name():
    on_disk = {
        "askloop." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in FOLDERS
        for init in (ROOT / folder).rglob("__init__.py")
    }
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    assert listed == on_disk


def test_the_wheel_installs_only_the_askloop_name(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("askloop-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"askloop"}
    # the data files the code reads at run time travel with it
    assert "askloop/prompts/answer_with_context.txt" in names
    assert "askloop/config/askloop.example.toml" in names
    assert "askloop/integrations/slack/__init__.py" in names
    assert "askloop/integrations/console/templates/queue.html" in names
    assert "askloop/integrations/console/static/console.js" in names


def test_a_project_with_its_own_tools_and_config_modules_can_use_askloop(tmp_path):
    for name in ("tools", "agent", "config", "integrations", "prompts"):
        (tmp_path / f"{name}.py").write_text(f"MINE = {name!r}\n")
    code = (
        "import tools, config; from askloop.tools import load_tools; "
        "from askloop.config.settings import Settings; "
        "print(tools.MINE, config.MINE, callable(load_tools), Settings().default_tenant)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["tools", "config", "True", "default"]


def test_entry_points_name_askloop_modules():
    project = _pyproject()["project"]
    assert project["scripts"]["askloop"] == "askloop.integrations.cli.main:main"
    assert project["entry-points"]["askloop.tools"]["askloop"] == "askloop.tools:load_tools"
