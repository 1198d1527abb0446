"""Build the course's documentation site offline: nbdev processing -> MyST notebooks -> Sphinx HTML.

    python docs/build.py                    # writes docs/_build/html (open docs/_build/html/index.html)
    python docs/build.py --out DIR --work DIR

Quarto cannot be installed here, so instead of `nbdev_docs` this script
1. runs nbdev's own notebook processors on every nbs/*.ipynb, as `nbdev.serve.proc_nbs` does (spawned worker
   processes, `IN_TEST=1`), but into a folder of its own instead of `_proc/`: they add a `show_doc` cell (signature +
   docments) after every exported function and execute only the imports, the exported cells and the `show_doc` cells;
   the notebooks' committed outputs are kept as they are. Two changes to nbdev's defaults: `#| export` cells stay on
   the page (the code is the course) with their directive line, so readers see what goes into the library, and the
   API entries of one cell come in source order (nbdev reverses them);
2. turns the Quarto markup of the processed notebooks into MyST that myst-nb reads (title/description front matter ->
   `# title` + subtitle, `#| echo: false` -> hidden input, `---` rules and Quarto link attributes dropped, nbdev's
   doc links -> links inside this site);
3. runs sphinx-build (myst-nb without execution, sphinx-book-theme, a local MathJax) with a table of contents in
   notebook order (index first) and full-text search.
Any error (a notebook that nbdev cannot process, a Sphinx warning) stops the build with a non-zero exit status.
"""
from __future__ import annotations

import argparse
import configparser
import html
import json
import os
import re
import shutil
import sys
import time
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
NBS = ROOT / "nbs"

# Directives that stay visible at the top of a code cell: they tell the reader what goes into the library and what
# the tests skip. Every other `#|` line (Quarto's echo/output/code-fold options, default_exp, ...) is removed.
KEEP_DIRECTIVES = ("export", "exporti", "exports", "slow", "notest")


def settings() -> configparser.SectionProxy:
    cp = configparser.ConfigParser()
    if not cp.read(ROOT / "settings.ini"): raise FileNotFoundError(f"{ROOT / 'settings.ini'} not found")
    return cp["DEFAULT"]


def page_name(nb: Path) -> str:
    "The HTML page of a notebook, named as nbdev names it (`02_forward_process.ipynb` -> `forward_process`)."
    from nbdev.doclinks import _nbpath2html
    return _nbpath2html(Path(nb.name)).stem


def notebooks() -> list[Path]:
    "nbs/*.ipynb in course order (index first), skipping `_`/`.` files as nbdev does."
    nbs = sorted(p for p in NBS.glob("*.ipynb") if not p.name.startswith(("_", ".")))
    return sorted(nbs, key=lambda p: (p.name != "index.ipynb", p.name))


# ---------------------------------------------------------------------------------------------- 1. nbdev processing
def _course_filter():
    "nbdev's `FilterDefaults`, except that exported code stays on the page and auto `show_doc`s keep source order."
    from nbdev import processors as P

    def rm_hidden(cell):
        "Like nbdev's `rm_export`, but only drops `hide` and `default_exp` cells (exported code is shown)."
        if cell.directives_ and (cell.directives_.keys() & {"hide", "default_exp"}): del cell["source"]

    def keep_directives(cell):
        "Put back the informative directive lines that nbdev strips (`#| export`, `#| slow`, ...)."
        if cell.cell_type != "code" or not cell.get("source") or not cell.directives_: return
        keep = [f"#| {k} {' '.join(v)}".rstrip() for k, v in cell.directives_.items() if k in KEEP_DIRECTIVES]
        if keep: cell.source = "\n".join(keep) + "\n" + cell.source

    class add_show_docs(P.add_show_docs):
        "nbdev's processor inserts the `show_doc` cells of one export cell in reverse order; keep the source order."
        def begin(self):
            orig = P._def_names
            P._def_names = lambda cell, shown: orig(cell, shown)[::-1]
            try: super().begin()
            finally: P._def_names = orig

    class CourseFilter(P.FilterDefaults):
        def base_procs(self):
            swap = {P.rm_export: rm_hidden, P.add_show_docs: add_show_docs}
            return [swap.get(p, p) for p in super().base_procs()] + [keep_directives]

    return CourseFilter


def _process_one(src: str, dst: str) -> tuple[str | None, list[str]]:
    "Worker (a spawned process, as in `nbdev.serve_drv`): nbdev-process one notebook -> (traceback or None, warnings)."
    main = sys.modules["__main__"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            os.environ["IN_TEST"] = "1"
            from execnb.nbio import read_nb, write_nb
            nb = read_nb(src)
            _course_filter()()(nb)
            write_nb(nb, dst)
            err = None
        except BaseException:
            err = traceback.format_exc()
        finally:  # nbdev's IPython shell replaces `__main__`, where the next task's `_process_one` is looked up
            sys.modules["__main__"] = main
    msgs = []
    for w in caught:
        m = str(w.message)
        if m.startswith("Found cells containing imports and other code"):
            code = [l for l in m.split("---")[1].strip().splitlines() if l.strip()] if "---" in m else [""]
            m = ("nbdev's processing runs every cell that contains an import, so this cell runs during the docs "
                 f"build; put its imports in a cell of their own: `{code[0]}` ...")
        elif issubclass(w.category, DeprecationWarning): continue
        msgs.append(m)
    return err, msgs


def process_notebooks(nbs: list[Path], dest: Path, workers: int) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(nbs))), mp_context=get_context("spawn")) as ex:
        futs = {nb: ex.submit(_process_one, str(nb), str(dest / nb.name)) for nb in nbs}
        res = {nb: f.result() for nb, f in futs.items()}
    for nb, (_, msgs) in res.items():
        for m in dict.fromkeys(msgs): print(f"docs: warning: nbs/{nb.name}: {m}", file=sys.stderr)
    errors = {nb: err for nb, (err, _) in res.items() if err}
    if errors:
        msg = "\n".join(f"--- nbs/{nb.name}:\n{tb}" for nb, tb in errors.items())
        raise SystemExit(f"{msg}\nnbdev could not process {len(errors)} notebook(s): "
                         f"{', '.join('nbs/' + nb.name for nb in errors)} (tracebacks above). To render the API docs "
                         "nbdev runs only the imports, the exported cells and the show_doc cells, each cell whole: a "
                         "cell that mixes imports with other code then runs without the notebook's other cells. "
                         "Put imports in cells of their own.")


# ------------------------------------------------------------------------------------------ 2. Quarto markup -> MyST
_re_fm = re.compile(r"^---\s*\n(.*?\S.*?)\n---\s*$", re.DOTALL)
_re_dir = re.compile(r"^\s*#\|\s*(.*?)\s*$")
_re_quarto_attrs = re.compile(r'(\]\([^)\s]+\))\{[^}]*target="_blank"[^}]*\}')
_re_md_heading = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)


def api_id(name: str) -> str:
    """The HTML id of the API entry of `name` (a show_doc heading): the name itself, as in nbdev's URLs, but never one
    that Sphinx could give a section (its ids are `[a-z][a-z0-9-]*`): `q_sample`, `Schedule.from_alpha_bar`,
    `Gaussian`, but `sample_api` for `sample`."""
    return name if re.search(r"[^a-z0-9-]", name) else f"{name}_api"


def api_anchors(nb_path: Path) -> dict[str, str]:
    "{lowercased name: HTML id} of the API entries (show_doc outputs) of one processed notebook."
    ids = {}
    for c in json.loads(nb_path.read_text(encoding="utf-8"))["cells"]:
        for o in c.get("outputs", []):
            if (m := _re_md_heading.search("".join(o.get("data", {}).get("text/markdown", "")))):
                ids.setdefault(m[1].lower(), api_id(m[1]))
    return ids


def _doc_link_fixer(cfg, anchors: dict[str, dict[str, str]]):
    """nbdev links `` `name` `` to {doc_host}{doc_baseurl}/page.html#name (lowercased); point them at this site.

    They become inline HTML (MyST would try, and fail, to resolve a relative `.html` link as a document) to the
    anchor that `to_myst` puts on each API entry. `anchors` maps each page (`forward_process.html`) to its entries
    (see `api_anchors`): a method without an entry of its own links to its class's entry, a name without any to the
    top of its page, and a name on no page of the site is not linked."""
    base = (cfg.get("doc_host", "") + cfg.get("doc_baseurl", "")).rstrip("/")
    if not base: return lambda s: s
    pat = re.compile(r"\[`([^`]+)`\]\(" + re.escape(base) + r"/([\w.-]+?\.html)(?:#([^)\s]*))?\)")

    def repl(m):
        code = f'<code class="docutils literal notranslate"><span class="pre">{html.escape(m[1])}</span></code>'
        page, sym = m[2], (m[3] or "").lower()
        if page not in anchors: return code
        ids = [anchors[page][k] for k in (sym, sym.split(".")[0]) if k and k in anchors[page]]
        href = page + (f"#{ids[0]}" if ids else "")
        return f'<a class="reference internal" href="{html.escape(href)}">{code}</a>'
    return lambda s: pat.sub(repl, s)


_re_fence = re.compile(r"(^[ \t]*(?:```|~~~).*?^[ \t]*(?:```|~~~)[ \t]*$)", re.MULTILINE | re.DOTALL)
_re_dmath = re.compile(r"\$\$(.+?)\$\$", re.DOTALL)


def _one_line_display_math(md: str) -> str:
    """Put each `$$...$$` on one line (outside code fences). Jupyter finds math before it parses markdown, MyST after:
    a line of an equation that starts with `- ` or `+ ` (or a blank line in it) would end the paragraph and leave
    raw `$$` on the page. TeX does not care about the line breaks (equations with `%` comments are left alone)."""
    def join(m): return m[0] if re.search(r"(?<!\\)%", m[1]) else "$$" + re.sub(r"[ \t]*\n\s*", " ", m[1]) + "$$"
    parts = _re_fence.split(md)
    return "".join(p if i % 2 else _re_dmath.sub(join, p) for i, p in enumerate(parts))


def _split_directives(src: str) -> tuple[dict, str]:
    "Leading `#| key: value` / `#| flag` lines -> (options, code without the lines that are not kept)."
    lines, opts, kept = src.splitlines(), {}, []
    i = 0
    while i < len(lines) and (m := _re_dir.match(lines[i])):
        d = m[1]
        first = d.split()[0] if d else ""
        key, val = d.split(":", 1) if ":" in first else (first, d[len(first):])  # `echo: false` or `export core`
        key = key.strip()
        if key: opts[key] = val.strip()
        if key in KEEP_DIRECTIVES: kept.append(lines[i])
        i += 1
    return opts, "\n".join(kept + lines[i:])


def _false(v: str) -> bool: return v.strip().lower() in ("false", "no", "0")


def to_myst(src: Path, dst: Path, fix_links, toctree: list[str] | None) -> None:
    "Rewrite one nbdev-processed notebook for myst-nb (see the module docstring)."
    nb = json.loads(src.read_text(encoding="utf-8"))
    cells, title = [], None
    for i, c in enumerate(nb["cells"]):
        text = "".join(c.get("source", ""))
        md = c.setdefault("metadata", {})
        md.pop("language", None)
        if c["cell_type"] == "raw":
            if i == 0 and (m := _re_fm.match(text.strip())):
                import yaml
                fm = yaml.safe_load(m[1]) or {}
                title = fm.get("title")
                if title:
                    head = f"# {title}"
                    if fm.get("description"): head += f"\n\n{{.subtitle}}\n{fm['description']}"
                    cells.append(dict(cell_type="markdown", metadata={}, source=fix_links(head)))
                continue
            cells.append(c)
            continue
        if c["cell_type"] == "markdown":
            if text.strip().startswith("<!-- WARNING: THIS FILE WAS AUTOGENERATED"): continue
            c["source"] = fix_links(_one_line_display_math(text))
            cells.append(c)
            continue
        # code cell
        opts, code = _split_directives(text)
        if _false(opts.get("include", "true")): continue
        tags = set(md.get("tags", []))
        if _false(opts.get("echo", "true")): tags.add("remove-input")
        if _false(opts.get("output", "true")): tags.add("remove-output")
        if "remove-input" in tags and not c.get("outputs"): continue
        if opts.keys() & {"export", "exports", "exporti"}: tags.add("nbdev-export")
        if tags: md["tags"] = sorted(tags)
        c["source"] = code
        outs = []
        for o in c.get("outputs", []):
            data = o.get("data")
            if data is not None:
                data.pop("application/vnd.jupyter.widget-view+json", None)
                if "text/markdown" in data:
                    t = "".join(data["text/markdown"])
                    t = re.sub(r"^\s*---\s*\n", "", t)            # the rule nbdev puts before each show_doc
                    t = _re_quarto_attrs.sub(r"\1{.nbdev-source}", t)  # Quarto link attributes of the [source] link
                    if (h := _re_md_heading.search(t)):                # an API entry: give it its anchor
                        t = f'<div class="api-anchor" id="{html.escape(api_id(h[1]))}"></div>\n\n' + t
                    data["text/markdown"] = fix_links(t)
                if not data: continue
            outs.append(o)
        c["outputs"] = outs
        cells.append(c)
    if not title: raise SystemExit(f"nbs/{src.name}: no title; its first cell must be `# Title` and `> subtitle`")
    if toctree is not None:
        toc = "```{toctree}\n:hidden:\n:maxdepth: 1\n:titlesonly:\n\n" + "\n".join(toctree) + "\n```"
        cells.append(dict(cell_type="markdown", metadata={}, source=toc))
    for i, c in enumerate(cells): c["id"] = f"cell-{i}"  # nbdev's added cells have none; nbformat 4.5 wants one
    meta = {k: v for k, v in nb.get("metadata", {}).items() if k not in ("widgets", "jupytext")}
    meta["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    meta.setdefault("language_info", {"name": "python", "pygments_lexer": "ipython3"})
    nb["metadata"], nb["cells"], nb["nbformat"], nb["nbformat_minor"] = meta, cells, 4, 5
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")


def default_index(cfg, dst: Path, toctree: list[str]) -> None:
    "Until nbs/index.ipynb exists: a home page from settings.ini."
    toc = "```{toctree}\n:maxdepth: 1\n:titlesonly:\n\n" + "\n".join(toctree) + "\n```"
    dst.write_text(f"# {cfg.get('title', cfg['lib_name'])}\n\n{{.subtitle}}\n{cfg.get('description', '')}\n\n{toc}\n")


# ----------------------------------------------------------------------------------------------------- 3. Sphinx
def sphinx(src: Path, out: Path, doctrees: Path) -> None:
    from sphinx.cmd.build import build_main
    args = ["-b", "html", "-c", str(DOCS), "-d", str(doctrees), "-E", "-W", "--keep-going", "-q", str(src), str(out)]
    if build_main(args) != 0: raise SystemExit("sphinx-build failed (its errors and warnings are printed above)")


def build(out: Path = DOCS / "_build" / "html", work: Path = DOCS / "_src", workers: int | None = None) -> Path:
    "Build the site into `out`, using `work` for the intermediate notebooks; return `out`."
    t0 = time.time()
    os.chdir(ROOT)  # nbdev finds settings.ini from the working directory
    cfg = settings()
    nbs = notebooks()
    if not nbs: raise SystemExit(f"no notebooks in {NBS}")
    names = [page_name(nb) for nb in nbs]
    if len(set(names)) != len(names):
        raise SystemExit(f"two notebooks map to the same page name: {sorted(zip(names, [n.name for n in nbs]))}")
    out, work = Path(out).resolve(), Path(work).resolve()
    for d in (out, work):  # both get emptied: never a folder that holds the sources
        if any(d == p or d in p.parents for p in (ROOT, DOCS / "conf.py", NBS)):
            raise SystemExit(f"refusing to use {d} as an output folder: it holds the project's sources")
    if out.exists() and any(out.iterdir()) and not (out / ".buildinfo").exists():
        raise SystemExit(f"refusing to empty {out}: it is not a Sphinx HTML output folder (no .buildinfo)")
    proc, src = work / "proc", work / "src"
    for d in (proc, src, out): shutil.rmtree(d, ignore_errors=True)
    src.mkdir(parents=True)
    if (NBS / "figures").is_dir():  # GIFs and PNGs that notebooks show through markdown links
        shutil.copytree(NBS / "figures", src / "figures")

    process_notebooks(nbs, proc, workers or os.cpu_count() or 1)
    t1 = time.time()
    fix_links = _doc_link_fixer(cfg, {f"{n}.html": api_anchors(proc / nb.name) for nb, n in zip(nbs, names)})
    pages = [n for n in names if n != "index"]
    for nb, name in zip(nbs, names):
        to_myst(proc / nb.name, src / f"{name}.ipynb", fix_links, pages if name == "index" else None)
    if "index" not in names: default_index(cfg, src / "index.md", pages)
    sphinx(src, out, work / "doctrees")
    print(f"docs: {len(nbs)} notebooks -> {out} in {time.time() - t0:.1f} s "
          f"(nbdev processing {t1 - t0:.1f} s, sphinx {time.time() - t1:.1f} s)")
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DOCS / "_build" / "html", help="HTML output folder")
    p.add_argument("--work", type=Path, default=DOCS / "_src", help="folder for the intermediate notebooks")
    p.add_argument("--workers", type=int, default=None, help="processes for nbdev's processing (default: CPUs)")
    a = p.parse_args(argv)
    build(a.out, a.work, a.workers)


if __name__ == "__main__":
    main()
