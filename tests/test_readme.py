"""README.md is generated from nbs/index.ipynb and names the commands CI runs."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_is_generated_from_index():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "make_readme.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_readme_names_each_command():
    for section in ("install", "test", "docs"):
        r = subprocess.run([sys.executable, str(ROOT / "tools" / "readme_command.py"), section], capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.strip(), f"README.md lacks a command under '## {section.title()}'"


def test_syllabus_lists_every_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for nb in sorted((ROOT / "nbs").glob("[0-9]*.ipynb")):
        assert f"`{nb.stem}`" in readme, f"the README's syllabus table lacks {nb.stem}"
