"""Run every course notebook top to bottom (its tests are the asserts right below the code), and check that the
package is exactly what the notebooks export."""
import filecmp
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.name for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith("_"))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook(name, request, data_root):
    from nbdev.test import test_nb
    skip = ["notest"] if request.config.getoption("--slow") else ["notest", "slow"]
    ok, secs = test_nb(ROOT / "nbs" / name, skip_flags=skip, showerr=True)
    assert ok, f"nbs/{name} failed (its traceback is printed above)"


def test_package_matches_notebooks(tmp_path):
    "`nbdev_export` on the committed notebooks changes nothing in ddpm_course/."
    import subprocess, sys
    shutil.copytree(ROOT / "nbs", tmp_path / "nbs", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copy(ROOT / "settings.ini", tmp_path / "settings.ini")
    exe = Path(sys.executable).with_name("nbdev_export")
    env = {k: v for k, v in os.environ.items() if k != "IN_TEST"}  # nbdev_export does nothing under IN_TEST
    subprocess.run([str(exe)], cwd=tmp_path, check=True, env=env)
    made = sorted(p.relative_to(tmp_path / "ddpm_course") for p in (tmp_path / "ddpm_course").rglob("*.py"))
    ours = sorted(p.relative_to(ROOT / "ddpm_course") for p in (ROOT / "ddpm_course").rglob("*.py"))
    assert made, "no notebook exports anything"
    assert made == ours, f"modules differ: exported {made}, committed {ours}: run nbdev_export"
    for rel in made:
        assert filecmp.cmp(ROOT / "ddpm_course" / rel, tmp_path / "ddpm_course" / rel, shallow=False), \
            f"ddpm_course/{rel} differs from what the notebooks export: edit the notebook, then run nbdev_export"
