"""The library's own requirements are exactly what it imports; what only the notebooks use lives in the `course`
extra, and the test and docs tools in `dev`."""
import ast
import configparser
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST = {"sklearn": "scikit-learn", "PIL": "pillow"}  # import name -> distribution name


def settings():
    cp = configparser.ConfigParser(); cp.read(ROOT / "settings.ini")
    return cp["DEFAULT"]


def names(key: str) -> set:
    return {re.split(r"[<>=!~ \[]", r)[0].lower() for r in settings().get(key, "").split()}


def _guarded(tree) -> set:
    "ids of import nodes inside a `try` whose handler catches ImportError: optional extras with their own message."
    out = set()
    for t in ast.walk(tree):
        if isinstance(t, ast.Try) and any(h.type is not None and "ImportError" in ast.unparse(h.type) for h in t.handlers):
            out |= {id(n) for b in t.body for n in ast.walk(b)}
    return out


def imported() -> dict:
    "top-level module -> the files of ddpm_course that import it unconditionally (at any depth of the code)."
    out = {}
    for p in (ROOT / "ddpm_course").glob("*.py"):
        tree = ast.parse(p.read_text(encoding="utf-8"))
        optional = _guarded(tree)
        for node in ast.walk(tree):
            if id(node) in optional: continue
            if isinstance(node, ast.Import): mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module: mods = [node.module]
            else: continue
            for m in mods: out.setdefault(m.split(".")[0], set()).add(p.name)
    return out


def test_library_requirements_are_what_it_imports():
    req = names("requirements")
    third = {m: f for m, f in imported().items() if m not in sys.stdlib_module_names and m not in ("ddpm_course", "__future__")}
    missing = {m: sorted(f) for m, f in third.items() if DIST.get(m, m).lower() not in req}
    assert not missing, f"ddpm_course imports packages its requirements lack: {missing}"
    unused = req - {DIST.get(m, m).lower() for m in third}
    assert not unused, f"settings.ini requirements that the library never imports (move them to course_requirements): {unused}"


def test_notebook_only_packages_are_in_the_course_extra():
    course = names("course_requirements")
    for pkg in ("jupyterlab", "ipywidgets", "scipy"):
        assert pkg in course and pkg not in names("requirements"), f"{pkg} belongs to the course extra"
