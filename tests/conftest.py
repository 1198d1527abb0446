"""Shared pytest setup: one thread per test process, the data root, and the `--slow` flag for long notebook cells."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# Tests read the real image sets from ../shared/data (torchvision's layouts) unless DDPM_COURSE_DATA says otherwise.
os.environ.setdefault("DDPM_COURSE_DATA", str((ROOT.parent / "shared" / "data").resolve()))


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False,
                     help="also run notebook cells flagged `#| slow` (long training runs)")


def pytest_configure(config):
    # `#| slow` cells also check ddpm_course.core.run_slow(), so a learner's top-to-bottom run skips them too
    if config.getoption("--slow"): os.environ["DDPM_COURSE_SLOW"] = "1"


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    "Debian's Chromium driven by Playwright (never a downloaded browser); missing, it fails the test, never skips."
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's browser with "
                    "`apt-get update && apt-get install -y chromium` (do not run `playwright install`)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the Python package playwright is missing: pip install -e '.[dev]'")
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    except Exception:
        pw.stop()
        raise
    yield b
    b.close()
    pw.stop()


@pytest.fixture(scope="session")
def data_root():
    "The image-data root; a missing root fails the test (never skips): the tests need the real data."
    root = Path(os.environ["DDPM_COURSE_DATA"])
    if not (root / "MNIST" / "raw").is_dir():
        pytest.fail(f"image data not found under {root} (looked for {root / 'MNIST' / 'raw'}); "
                    "set DDPM_COURSE_DATA to a folder holding MNIST/, FashionMNIST/ and cifar10-jpeg/")
    return root


_TIMES = []


def pytest_runtest_logreport(report):
    "Collect the notebook run times (recorded by tests/test_notebooks.py; xdist carries them to the controller)."
    if report.when == "call":
        for k, v in report.user_properties:
            if k in ("notebook_secs", "ui_wall_s"):
                what = "Run All Cells in JupyterLab" if k == "ui_wall_s" else "nbdev_test"
                _TIMES.append((f"{report.nodeid.split('::')[-1]}  ({what})", v, report.outcome))


def pytest_terminal_summary(terminalreporter):
    if not _TIMES: return
    tr = terminalreporter
    tr.section("notebook run times (wall seconds, this machine, top to bottom)")
    for name, secs, outcome in sorted(_TIMES, key=lambda t: t[0]):
        tr.write_line(f"{secs:8.1f}  {name}{'' if outcome == 'passed' else '  (' + outcome + ')'}")
