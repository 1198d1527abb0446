"""Write README.md from nbs/index.ipynb (nbdev's own `nbdev_readme` needs Quarto, which these machines lack).

Usage: python tools/make_readme.py [--check]   (--check: exit 1 if README.md is out of date)"""
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def render() -> str:
    nb = nbformat.read(ROOT / "nbs" / "index.ipynb", as_version=4)
    parts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":  # the index's code cells are checks, not reading
            # figures are relative to nbs/ in the notebook, to the repository's root in README.md
            parts.append(cell.source.strip().replace("](figures/", "](nbs/figures/"))
    head = "<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n"
    return head + "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        if (ROOT / "README.md").read_text(encoding="utf-8") != text:
            sys.exit("README.md is out of date: run python tools/make_readme.py")
    else:
        (ROOT / "README.md").write_text(text, encoding="utf-8")
        print("wrote README.md")
