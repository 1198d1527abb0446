"""Build the course's documentation site offline: nbdev processing -> MyST notebooks -> Sphinx HTML.

    python docs/build.py                    # writes docs/_build/html (open docs/_build/html/index.html)
    python docs/build.py --out DIR --work DIR

Quarto cannot be installed here, so instead of `nbdev_docs` this script
1. runs nbdev's own notebook processors on every nbs/*.ipynb, as `nbdev.serve.proc_nbs` does (spawned worker
   processes, `IN_TEST=1`), but into a folder of its own instead of `_proc/`: they add a `show_doc` cell (signature +
   docments) after every exported function and execute only the imports, the exported cells and the `show_doc` cells;
   the notebooks' committed outputs are kept as they are. Two changes to nbdev's defaults: `#| export` cells stay on
   the page (the code is the course), without their directive line but marked "exported to ddpm_course.X", and the
   API entries of one cell come in source order (nbdev reverses them);
2. turns the processed notebooks into MyST that myst-nb reads, hiding the notebook's plumbing as nbdev's own sites
   do: title/description front matter -> `# title` + subtitle; every `#|` directive line removed (`#| hide` and
   `#| default_exp` cells and cells that only import are not shown); `#| echo: false` -> hidden input; cells
   collapsed in JupyterLab (`jupyter.source_hidden`, e.g. the exercises' solutions, tagged `solution`) -> collapsed
   on the page (myst-nb's `hide-input`, "Show the solution"); `---` rules and Quarto link attributes dropped; nbdev's
   doc links -> links inside this site; links to the repository address of settings.ini (`git_url`, e.g. the
   `[source]` links of the API entries) dropped, since the site must not promise an address that may not exist;
   an index entry for every API entry;
3. writes an API page (`api.html`: every module, its exported names with signature and first docstring line, linked
   to their entries in the chapters) and runs sphinx-build (myst-nb without execution, sphinx-book-theme, a local
   MathJax) with a table of contents in notebook order (index first, then the API page and the general index) and
   full-text search.
Any error (a notebook that nbdev cannot process, a Sphinx warning) stops the build with a non-zero exit status.
The notebooks are copied to `WORK/nbs` when the build starts: the site shows that copy, so a notebook saved again
during the build does not mix two versions (tests/test_docs.py compares the site with that copy).
"""
from __future__ import annotations

import argparse
import ast
import configparser
import copy
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

# Cells collapsed on the page: the exercises' worked solutions (cell tag `solution`), with their own toggle prompts.
SOLUTION_PROMPTS = {"code_prompt_show": "Show the solution", "code_prompt_hide": "Hide the solution"}


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
    """nbdev's `FilterDefaults`, except that exported code stays on the page (marked with its module in the cell's
    metadata `nbdev_export`) and auto `show_doc`s keep source order."""
    from nbdev import processors as P
    from nbdev.config import get_config

    class mark_exports(P.Processor):
        "Record in each exported cell's metadata the module it goes to (nbdev strips the `#| export` line)."
        def begin(self):
            lib = get_config().lib_name
            dflt = next((c.directives_["default_exp"] for c in self.nb.cells
                         if getattr(c, "directives_", None) and c.directives_.get("default_exp")), None)
            self.lib, self.default = lib, (dflt[0] if dflt else None)
            self.nb.metadata["nbdev_default_exp"] = f"{lib}.{self.default}" if self.default else None

        def __call__(self, cell):
            d = cell.directives_ or {}
            kind = next((k for k in ("export", "exports", "exporti") if k in d), None)
            if cell.cell_type != "code" or kind is None: return
            mod = d[kind][0] if d[kind] else self.default
            if mod: cell.metadata["nbdev_export"] = mod if mod.startswith(self.lib + ".") else f"{self.lib}.{mod}"

    def rm_hidden(cell):
        "Like nbdev's `rm_export`, but only drops `hide` and `default_exp` cells (exported code is shown)."
        if cell.directives_ and (cell.directives_.keys() & {"hide", "default_exp"}): del cell["source"]

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
            return [mark_exports] + [swap.get(p, p) for p in super().base_procs()]

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


def _repo_link_dropper(cfg):
    """Drop links to the repository address of settings.ini (`git_url`, a placeholder that may not exist) and to the
    published site's address (`doc_host` + `doc_baseurl`; links inside this site are made by `_doc_link_fixer`):
    nbdev's `[source]` link of each API entry goes, any other such link keeps its text."""
    urls = [u.rstrip("/") for u in (cfg.get("git_url", ""), cfg.get("doc_host", "") + cfg.get("doc_baseurl", ""))]
    urls = [u for u in urls if u]
    if not urls: return lambda s: s
    u = "(?:" + "|".join(re.escape(u) for u in urls) + ")"
    source = re.compile(r"\[source\]\(" + u + r"[^)\s]*\)(?:\{[^}]*\})?[ \t]*\n?")
    md = re.compile(r"\[([^\]]*)\]\(" + u + r"(?:[/#?][^)\s]*)?\)(?:\{[^}]*\})?")
    tag = re.compile(r"<a\s[^>]*href=[\"']" + u + r"(?:[/#?][^\"']*)?[\"'][^>]*>(.*?)</a>", re.DOTALL | re.IGNORECASE)
    auto = re.compile(r"<(" + u + r"(?:[/#?][^>\s]*)?)>")

    def drop(s: str) -> str: return auto.sub(r"\1", tag.sub(r"\1", md.sub(r"\1", source.sub("", s))))
    return drop


def _split_directives(src: str) -> tuple[dict, str]:
    "Leading `#| key: value` / `#| flag` lines -> (options, the code without them)."
    lines, opts = src.splitlines(), {}
    i = 0
    while i < len(lines) and (m := _re_dir.match(lines[i])):
        d = m[1]
        first = d.split()[0] if d else ""
        key, val = d.split(":", 1) if ":" in first else (first, d[len(first):])  # `echo: false` or `export core`
        key = key.strip()
        if key: opts[key] = val.strip()
        i += 1
    return opts, "\n".join(lines[i:])


def _false(v: str) -> bool: return v.strip().lower() in ("false", "no", "0")


def _parse(code: str) -> list | None:
    "The top-level statements of a code cell (IPython magics and shell lines blanked), or None if it is not Python."
    code = "\n".join("" if l.lstrip().startswith(("%", "!")) else l for l in code.splitlines())
    try: return ast.parse(code).body
    except SyntaxError: return None


def only_imports(code: str) -> bool:
    "True for a cell of import statements only (plumbing: the site does not show it)."
    body = _parse(code)
    return bool(body) and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in body)


def _patched_class(node) -> str | None:
    "`Cls` for `@patch def f(self: Cls, ...)` (fastcore's way of adding a method in a later cell), else None."
    if not any((d.id if isinstance(d, ast.Name) else getattr(getattr(d, "func", None), "id", None)) == "patch"
               for d in node.decorator_list if isinstance(d, (ast.Name, ast.Call))): return None
    args = node.args.posonlyargs + node.args.args
    ann = args[0].annotation if args else None
    return ann.id if isinstance(ann, ast.Name) else None


def defined_names(code: str) -> list[str]:
    "Names a cell defines at top level, as show_doc names them (`Cls.meth` for a patched method)."
    out = []
    for n in _parse(code) or []:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and (cls := _patched_class(n)): out.append(f"{cls}.{n.name}")
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): out.append(n.name)
        elif isinstance(n, (ast.Assign, ast.AnnAssign)):
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target]):
                out += [e.id for e in ast.walk(t) if isinstance(e, ast.Name)]
    return out


def _index_cell(entries: list[str]) -> dict:
    "A markdown cell of Sphinx index entries (one `{index}` directive each: the directive takes one entry per line)."
    src = "\n\n".join(f"```{{index}} single: {e}\n```" for e in entries)
    return dict(cell_type="markdown", metadata={}, source=src)


def index_entries(name: str, module: str | None) -> list[str]:
    "The general index's entries of an API name: `q_sample (ddpm_course.forward)` and under its module."
    return [f"{name} ({module})", f"{module}; {name}"] if module else [name]


def to_myst(src: Path, dst: Path, fix_links, toctree: list[str] | None, drop_links=lambda s: s,
            page: str = "", api: list | None = None) -> tuple[str, str | None]:
    """Rewrite one nbdev-processed notebook for myst-nb (see the module docstring) -> (its title, its module). Each
    API entry (show_doc output) is appended to `api` as dict(name, module, page, id)."""
    nb = json.loads(src.read_text(encoding="utf-8"))
    default_mod = nb.get("metadata", {}).get("nbdev_default_exp")
    fix = lambda s: drop_links(fix_links(s))
    # the module of each name defined in an exported cell, for the API entries that follow
    mod_of = {}
    for c in nb["cells"]:
        if c["cell_type"] == "code" and (m := c.get("metadata", {}).get("nbdev_export")):
            for n in defined_names(_split_directives("".join(c.get("source", "")))[1]): mod_of.setdefault(n, m)
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
                    cells.append(dict(cell_type="markdown", metadata={}, source=fix(head)))
                continue
            cells.append(c)
            continue
        if c["cell_type"] == "markdown":
            if text.strip().startswith("<!-- WARNING: THIS FILE WAS AUTOGENERATED"): continue
            c["source"] = fix(_one_line_display_math(text))
            cells.append(c)
            continue
        # code cell
        opts, code = _split_directives(text)
        if _false(opts.get("include", "true")): continue
        tags = set(md.get("tags", []))
        jup = md.get("jupyter", {})
        if _false(opts.get("echo", "true")) or only_imports(code): tags.add("remove-input")
        if _false(opts.get("output", "true")): tags.add("remove-output")
        if "remove-input" in tags and not c.get("outputs"): continue
        if "remove-input" not in tags and (jup.get("source_hidden") or "solution" in tags):
            tags.add("hide-input")  # collapsed in JupyterLab -> collapsed on the page
            if "solution" in tags: md["mystnb"] = dict(SOLUTION_PROMPTS)
        if jup.get("outputs_hidden") and c.get("outputs"): tags.add("hide-output")
        if md.get("nbdev_export"): tags.add("nbdev-export")
        if tags: md["tags"] = sorted(tags)
        c["source"] = code
        outs, entries = [], []
        for o in c.get("outputs", []):
            data = o.get("data")
            if data is not None:
                data.pop("application/vnd.jupyter.widget-view+json", None)
                if "text/markdown" in data:
                    t = "".join(data["text/markdown"])
                    t = re.sub(r"^\s*---\s*\n", "", t)            # the rule nbdev puts before each show_doc
                    t = drop_links(t)                                  # the [source] link to the repository
                    t = _re_quarto_attrs.sub(r"\1", t)                 # Quarto's attributes of any other link
                    if (h := _re_md_heading.search(t)):                # an API entry: give it its anchor
                        t = f'<div class="api-anchor" id="{html.escape(api_id(h[1]))}"></div>\n\n' + t
                        mod = mod_of.get(h[1]) or mod_of.get(h[1].split(".")[0]) or default_mod
                        entries.append(dict(name=h[1], module=mod, page=page, id=api_id(h[1])))
                    data["text/markdown"] = fix_links(t)
                if not data: continue
            outs.append(o)
        c["outputs"] = outs
        if entries:
            cells.append(_index_cell([e for a in entries for e in index_entries(a["name"], a["module"])]))
            if api is not None: api.extend(entries)
        cells.append(c)
    if not title: raise SystemExit(f"nbs/{src.name}: no title; its first cell must be `# Title` and `> subtitle`")
    if toctree is not None:
        toc = "```{toctree}\n:hidden:\n:maxdepth: 1\n:titlesonly:\n\n" + "\n".join(toctree) + "\n```"
        cells.append(dict(cell_type="markdown", metadata={}, source=toc))
    for i, c in enumerate(cells): c["id"] = f"cell-{i}"  # nbdev's added cells have none; nbformat 4.5 wants one
    meta = {k: v for k, v in nb.get("metadata", {}).items() if k not in ("widgets", "jupytext", "nbdev_default_exp")}
    meta["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    meta.setdefault("language_info", {"name": "python", "pygments_lexer": "ipython3"})
    nb["metadata"], nb["cells"], nb["nbformat"], nb["nbformat_minor"] = meta, cells, 4, 5
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    return title, default_mod


def default_index(cfg, dst: Path, toctree: list[str]) -> None:
    "Until nbs/index.ipynb exists: a home page from settings.ini."
    toc = "```{toctree}\n:maxdepth: 1\n:titlesonly:\n\n" + "\n".join(toctree) + "\n```"
    dst.write_text(f"# {cfg.get('title', cfg['lib_name'])}\n\n{{.subtitle}}\n{cfg.get('description', '')}\n\n{toc}\n")


# ------------------------------------------------------------------------------------------------------ API page
def _is_method(node, in_class: bool) -> bool:
    "True when the first parameter is the instance or class (dropped from the signature shown)."
    if _patched_class(node): return True
    decos = {d.id for d in node.decorator_list if isinstance(d, ast.Name)}
    return in_class and "staticmethod" not in decos


def _signature(node, in_class: bool = False) -> str:
    "`(x0, t, schedule, noise=None)`: a function's parameters (annotations left out), a class's `__init__`'s."
    if isinstance(node, ast.ClassDef):
        init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        if init is None:  # a dataclass (or NamedTuple): its annotated fields
            fields = [f"{n.target.id}={ast.unparse(n.value)}" if n.value else n.target.id for n in node.body
                      if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
            return f"({', '.join(fields)})"
        node, in_class = init, True
    a = copy.deepcopy(node.args)
    for arg in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg]:
        if arg is not None: arg.annotation = None
    if _is_method(node, in_class):  # defaults belong to the last parameters: dropping the first never moves them
        if a.posonlyargs: a.posonlyargs = a.posonlyargs[1:]
        elif a.args: a.args = a.args[1:]
    return f"({ast.unparse(a)})"


def _first_line(node) -> str:
    doc = ast.get_docstring(node) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else None
    if not doc and isinstance(node, ast.ClassDef):
        init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        doc = ast.get_docstring(init) if init else None
    return (doc or "").strip().split("\n\n")[0].replace("\n", " ").strip()


def module_api(path: Path) -> list[dict]:
    """The exported names of one module file (its `__all__`, in order): dict(name, kind, sig, doc, methods), methods
    being {name: (node, defined in the class body)} of the class's methods and of those patched onto it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names, defs, patched = [], {}, {}
    for n in tree.body:
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets):
            try: names = list(ast.literal_eval(n.value))
            except ValueError: pass
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and (cls := _patched_class(n)):
            patched.setdefault(cls, {})[n.name] = n
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs[n.name] = n
    out = []
    for name in names:
        node = defs.get(name)
        kind = "class" if isinstance(node, ast.ClassDef) else "function" if node is not None else "constant"
        methods = {}
        if isinstance(node, ast.ClassDef):
            for m in node.body:
                if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)): methods[m.name] = (m, True)
            methods.update({k: (v, False) for k, v in patched.get(name, {}).items()})
        out.append(dict(name=name, kind=kind, sig=_signature(node) if node is not None else "",
                        doc=_first_line(node) if node is not None else "", methods=methods))
    return out


def _code_html(s: str) -> str:
    return f'<code class="docutils literal notranslate"><span class="pre">{html.escape(s)}</span></code>'


def _md_text(s: str) -> str:
    "A docstring line as MyST text: `<...>` kept literal (not raw HTML); `code` and $math$ render as in the chapters."
    return s.replace("<", "&lt;").replace(">", "&gt;")


def write_api_page(dst: Path, cfg, modules: list[tuple[str, str | None, str]], entries: list[dict]) -> None:
    """The API page: for each module (dotted name, its chapter's page or None, the chapter's title), every exported
    name with its signature and the first line of its docstring, linked to its API entry in the chapter. Names that
    have no entry there get their index entry here."""
    lib = cfg["lib_name"]
    by_key = {(e["module"], e["name"]): e for e in entries}
    by_name = {}
    for e in entries: by_name.setdefault(e["name"], []).append(e)
    out = ["# API", "",
           f"Every module of `{lib}` with the names it exports (`from {lib}.MODULE import NAME`), their parameters and "
           "the first line of their documentation. Each name links to its entry in the chapter that derives it, with "
           "the full signature and what each parameter means.", ""]
    for mod, page, chapter in modules:
        path = ROOT / cfg.get("lib_path", lib) / Path(*mod.split(".")[1:]).with_suffix(".py")
        if not path.is_file(): continue
        api = module_api(path)
        if not api: continue
        out += [f"## `{mod}`", ""]
        here = [f"{mod} (module)"]
        if page: out += [f"From the chapter [{chapter}]({page}.ipynb).", ""]

        def link(name, text):
            e = by_key.get((mod, name)) or (by_name[name][0] if len(by_name.get(name, [])) == 1 else None)
            if e: return f'<a class="reference internal" href="{e["page"]}.html#{e["id"]}">{_code_html(text)}</a>'
            here.extend(index_entries(name, mod))
            return (f'<a class="reference internal" href="{page}.html">{_code_html(text)}</a>' if page
                    else _code_html(text))

        items = []
        for a in api:
            line = f"- {link(a['name'], a['name'])}"
            if a["sig"]: line += f"`{a['sig']}`{{.api-sig}}"
            line += f" ({a['kind']})" if a["kind"] != "function" else ""
            if a["doc"]: line += f": {_md_text(a['doc'])}"
            items.append(line)
            for m, (node, in_class) in a["methods"].items():  # the methods that have an API entry of their own in a chapter
                full = f"{a['name']}.{m}"
                if (mod, full) not in by_key and len(by_name.get(full, [])) != 1: continue
                sub = f"  - {link(full, full)}`{_signature(node, in_class)}`{{.api-sig}}"
                if (d := _first_line(node)): sub += f": {_md_text(d)}"
                items.append(sub)
        out += ["\n\n".join(f"```{{index}} single: {e}\n```" for e in here), ""] + items + [""]
    dst.write_text("\n".join(out), encoding="utf-8")


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
    snap, proc, src = work / "nbs", work / "proc", work / "src"
    for d in (snap, proc, src, out): shutil.rmtree(d, ignore_errors=True)
    src.mkdir(parents=True)
    snap.mkdir(parents=True)
    # The site shows the notebooks as they are when the build starts, even if they are saved again meanwhile: a copy
    # of them (and of the GIFs and PNGs that they show through markdown links) is what gets processed.
    for nb in nbs: shutil.copy2(nb, snap / nb.name)
    if (NBS / "figures").is_dir(): shutil.copytree(NBS / "figures", src / "figures")

    process_notebooks([snap / nb.name for nb in nbs], proc, workers or os.cpu_count() or 1)
    t1 = time.time()
    fix_links = _doc_link_fixer(cfg, {f"{n}.html": api_anchors(proc / nb.name) for nb, n in zip(nbs, names)})
    drop_links = _repo_link_dropper(cfg)
    pages = [n for n in names if n != "index"]
    toc = pages + ["api", "genindex"]  # the API page and Sphinx's general index close the sidebar
    entries, modules = [], []
    for nb, name in zip(nbs, names):
        title, mod = to_myst(proc / nb.name, src / f"{name}.ipynb", fix_links, toc if name == "index" else None,
                             drop_links, name, entries)
        if mod and mod not in [m for m, _, _ in modules]: modules.append((mod, name, title))
    lib = ROOT / cfg.get("lib_path", cfg["lib_name"])
    for f in sorted(lib.rglob("*.py")):  # modules that no notebook names as its default_exp
        mod = ".".join((cfg["lib_name"],) + f.relative_to(lib).with_suffix("").parts)
        if not any(part.startswith("_") for part in f.relative_to(lib).parts) and mod not in [m for m, _, _ in modules]:
            modules.append((mod, None, None))
    write_api_page(src / "api.md", cfg, modules, entries)
    if "index" not in names: default_index(cfg, src / "index.md", toc)
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
