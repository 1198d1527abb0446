"""The notebooks read as lessons: a kernel is named, the first figure comes early, exported cells are short,
bad-input checks sit in a "Checks" section at the end, every chapter 02-13 ends with exercises whose solutions are
collapsed and whose checkers are shown to reject wrong answers, saved outputs hold no error or stderr box, and the
text speaks of diffusion, not of how the course was produced."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")))
CHAPTERS = [p for p in NBS if re.match(r"\d\d", p.name)]
# the chapters that end with exercises: the concepts from the forward process to the metrics (not the CLI chapter)
EXERCISED = [p for p in CHAPTERS if "02" <= p.name[:2] <= "15" and not p.name.startswith("11a")]
# the chapters that open with a picture (00 and 00a are plumbing)
PICTURED = [p for p in CHAPTERS if p.name[:2] >= "01"]


def cells(nb: Path) -> list:
    return json.loads(nb.read_text(encoding="utf-8"))["cells"]


def src(c) -> str: return "".join(c["source"])


def has_figure(c) -> bool:
    if c["cell_type"] == "markdown": return bool(re.search(r"!\[[^\]]*\]\([^)]+\.(png|gif|svg|jpg)\)", src(c)))
    return any(any(k.startswith("image/") for k in o.get("data", {})) for o in c.get("outputs", []))


@pytest.mark.parametrize("nb", NBS, ids=[p.stem for p in NBS])
def test_kernelspec(nb):
    ks = json.loads(nb.read_text(encoding="utf-8"))["metadata"].get("kernelspec", {})
    assert ks.get("name") == "python3", f"nbs/{nb.name} names no python3 kernel: JupyterLab would ask for one"


@pytest.mark.parametrize("nb", PICTURED, ids=[p.stem for p in PICTURED])
def test_first_figure_early(nb):
    cs = cells(nb)
    first = next((i for i, c in enumerate(cs) if has_figure(c)), None)
    assert first is not None, f"nbs/{nb.name} shows no figure"
    assert first <= max(3, len(cs) // 5), (f"nbs/{nb.name}: the first figure is in cell {first} of {len(cs)}; "
                                           "open the chapter with a picture of what it achieves")


@pytest.mark.parametrize("nb", NBS, ids=[p.stem for p in NBS])
def test_exported_cells_short(nb):
    for i, c in enumerate(cells(nb)):
        s = src(c)
        if c["cell_type"] == "code" and re.match(r"#\|\s*export", s):
            n = len(s.splitlines())
            assert n <= 60, f"nbs/{nb.name} cell {i}: an exported cell of {n} lines; build it up from smaller cells"


@pytest.mark.parametrize("nb", NBS, ids=[p.stem for p in NBS])
def test_bad_input_checks_at_the_end(nb):
    cs = cells(nb)
    checks = next((i for i, c in enumerate(cs) if c["cell_type"] == "markdown" and re.match(r"##\s+Checks\b", src(c))), None)
    early = [i for i, c in enumerate(cs) if c["cell_type"] == "code" and "test_fail(" in src(c)
             and (checks is None or i < checks)]
    assert not early, (f"nbs/{nb.name}: test_fail checks in cells {early}, before the '## Checks' section: "
                       "gather bad-input checks there so the concept cells read as a story")


def exercises(nb: Path) -> list[tuple[str, list]]:
    "[(heading, cells of that exercise)] of the '## Exercises' section."
    cs = cells(nb)
    start = next((i for i, c in enumerate(cs) if c["cell_type"] == "markdown" and re.match(r"##\s+Exercises\b", src(c))), None)
    if start is None: return []
    out = []
    for c in cs[start + 1:]:
        if c["cell_type"] == "markdown" and re.match(r"##\s", src(c)): break
        if c["cell_type"] == "markdown" and re.match(r"###\s+Exercise\b", src(c)): out.append((src(c).splitlines()[0], []))
        elif out: out[-1][1].append(c)
    return out


@pytest.mark.parametrize("nb", EXERCISED, ids=[p.stem for p in EXERCISED])
def test_exercises(nb):
    ex = exercises(nb)
    assert 2 <= len(ex) <= 4, f"nbs/{nb.name}: {len(ex)} exercises under '## Exercises' (### Exercise ...), expected 2 to 4"
    for head, cs in ex:
        code = [c for c in cs if c["cell_type"] == "code"]
        sols = [c for c in code if "solution" in c.get("metadata", {}).get("tags", [])]
        assert sols, f"nbs/{nb.name} {head!r}: no worked solution (a code cell tagged 'solution')"
        learner = [c for c in code[:code.index(sols[0])] if "solution" not in c.get("metadata", {}).get("tags", [])]
        assert learner, f"nbs/{nb.name} {head!r}: no cell for the learner's answer before the solution"
        for s in sols:
            assert s.get("metadata", {}).get("jupyter", {}).get("source_hidden"), \
                f"nbs/{nb.name} {head!r}: the solution cell is not collapsed (metadata jupyter.source_hidden)"
            assert re.search(r"assert\s+check", src(s)), f"nbs/{nb.name} {head!r}: the solution is not asserted through its checker"
        after = code[code.index(sols[-1]) + 1:]
        assert any(re.search(r"assert\s+not\s", src(c)) for c in after), \
            f"nbs/{nb.name} {head!r}: no test that the checker rejects a wrong answer (`assert not check...` after the solution)"


@pytest.mark.parametrize("nb", NBS, ids=[p.stem for p in NBS])
def test_saved_outputs_hold_no_error(nb):
    for i, c in enumerate(cells(nb)):
        for o in c.get("outputs", []):
            assert o.get("output_type") != "error", f"nbs/{nb.name} cell {i} saved an error output"
            assert not (o.get("output_type") == "stream" and o.get("name") == "stderr"), \
                f"nbs/{nb.name} cell {i} saved a stderr output (a pink box in JupyterLab): {''.join(o.get('text', ''))[:200]!r}"


PRODUCTION_TALK = re.compile(r"build machine|rules of the course|notebook executor|TOOLCHAIN|shared build|/work/|/root/|"
                             r"/home/\w|(January|February|March|April|May|June|July|August|September|October|November|"
                             r"December) 20\d\d|\b20\d\d-\d\d-\d\d\b", re.IGNORECASE)


@pytest.mark.parametrize("path", NBS + [ROOT / "README.md"], ids=[p.stem for p in NBS] + ["README"])
def test_text_speaks_of_diffusion(path):
    text = path.read_text(encoding="utf-8")
    hits = [text[max(0, m.start() - 60):m.end() + 60].replace("\\n", " ") for m in PRODUCTION_TALK.finditer(text)]
    assert not hits, f"{path.name} speaks of how the course was produced, not of diffusion: {hits[:3]}"


def test_progress_bars_are_tqdm_auto():
    for p in (ROOT / "ddpm_course").glob("*.py"):
        assert not re.search(r"from tqdm import|^\s*import tqdm\s*$", p.read_text(encoding="utf-8"), re.MULTILINE), \
            f"ddpm_course/{p.name}: use tqdm.auto (a widget bar in JupyterLab, text in a terminal)"
