"""Run every course notebook top to bottom (its tests are the asserts right below the code), with the real data and,
for the notebooks that read image sets, once more as a learner without the files and without internet (the
scikit-learn digits fallback); and check that the package is exactly what the notebooks export. Each run's time is
printed in the summary."""
import filecmp
import os
import re
import shutil
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.name for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith("_"))
# the notebooks that read an image set through ddpm_course.data (or a command that does)
READS_IMAGES = [n for n in NOTEBOOKS if re.search(r'image_tensor\(|image_dataset\(|--data mnist|"mnist"',
                                                  (ROOT / "nbs" / n).read_text(encoding="utf-8"))]
# 09 reads MNIST as 02 and 08 do (image_tensor("mnist", n=..., size=14 or its own 28 px), whose fallback their offline
# runs cover) and is the longest notebook (about 2.5 minutes): its offline run is left out to keep the suite short.
OFFLINE = [n for n in READS_IMAGES if n not in ("09_ddpm_sampling.ipynb", "index.ipynb")]


def _run(name, request, record_property, nbs=ROOT / "nbs"):
    from nbdev.test import test_nb
    skip = ["notest"] if request.config.getoption("--slow") else ["notest", "slow"]
    t0 = time.perf_counter()
    ok, _ = test_nb(nbs / name, skip_flags=skip, showerr=True)
    record_property("notebook_secs", round(time.perf_counter() - t0, 1))
    return ok


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook(name, request, record_property, data_root):
    assert _run(name, request, record_property), f"nbs/{name} failed (its traceback is printed above)"


@pytest.mark.parametrize("name", OFFLINE)
def test_notebook_offline_without_data(name, request, record_property, tmp_path, monkeypatch):
    "A learner's first run with neither the data files nor internet: every notebook still runs, on the digits."
    monkeypatch.setenv("DDPM_COURSE_DATA", str(tmp_path / "no_data_here"))
    monkeypatch.setenv("DDPM_COURSE_OFFLINE", "1")
    import matplotlib
    monkeypatch.setenv("MPLCONFIGDIR", matplotlib.get_configdir())        # keep matplotlib's font cache
    monkeypatch.setenv("HOME", str(tmp_path / "home"))                      # caches (course classifier, torch hub) of its own
    nbs = tmp_path / "nbs"                   # a copy: the figures it writes (made from the digits) stay out of nbs/
    shutil.copytree(ROOT / "nbs", nbs, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    assert _run(name, request, record_property, nbs), f"nbs/{name} failed offline without the data (traceback above)"


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
