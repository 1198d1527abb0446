"""Build the documentation site (`python docs/build.py`), serve it on 127.0.0.1 and check it in headless Chromium.

Checks: one page per nbs/*.ipynb, in notebook order in the sidebar, then the API page and the general index; every
page loads with nothing fetched from outside 127.0.0.1, no failed request, no JavaScript error; every <img> loads and
every figure output of a notebook is on its page; math is typeset by MathJax (no raw `$$`, no TeX errors) on the ELBO
page and on every page whose notebook has math; internal links land on existing pages and anchors; no duplicate HTML
ids; the notebook's plumbing is hidden as on nbdev's own sites (no `#|` directive, no `#| hide` cell, no cell that only
imports); no display equation, code cell or output sticks out of the content column (at 1300 and 1900 px) unless
inside a box of its own that scrolls; the exercises' solutions are on the page, collapsed until clicked; the
forward-process page shows `q_sample`'s exported code (marked "exported to ddpm_course.forward") and its API entry
(signature with docments); search finds it; the API page lists every module's exported names linked to their
entries, the general index lists them too; no page links to the repository address of settings.ini.
Chromium comes from Debian (`apt-get install -y chromium`); its absence fails the test, it is never skipped.
"""
import ast
import configparser
import functools
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")))
SCREENSHOT = Path("/tmp/docs_forward_process.png")
WIDTHS = (1300, 1900)  # a laptop and a wide screen


def settings() -> configparser.SectionProxy:
    cp = configparser.ConfigParser()
    cp.read(ROOT / "settings.ini")
    return cp["DEFAULT"]


def modules() -> list[str]:
    "The library's public modules (every ddpm_course/*.py that is not `_private`)."
    lib = settings()["lib_name"]
    return sorted(f"{lib}." + ".".join(f.relative_to(ROOT / lib).with_suffix("").parts)
                  for f in (ROOT / lib).rglob("*.py") if not any(x.startswith("_") for x in f.relative_to(ROOT / lib).parts))


def page_of(nb: Path) -> str:
    "The page nbdev (and docs/build.py) gives a notebook: 02_forward_process.ipynb -> forward_process.html."
    from nbdev.doclinks import _nbpath2html
    return _nbpath2html(Path(nb.name)).name


# The notebooks as the site was built from them: docs/build.py copies nbs/*.ipynb to WORK/nbs when it starts, so that
# a notebook saved again while the site is built and checked is compared with the version the site shows.
BUILT_FROM: list[Path] = []


def read_nb(nb: Path) -> dict:
    copy = BUILT_FROM[0] / nb.name if BUILT_FROM else None
    return json.loads((copy if copy and copy.is_file() else nb).read_text(encoding="utf-8"))


def _directives(src: str) -> dict:
    out = {}
    for line in src.splitlines():
        m = re.match(r"\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$", line)
        if not m: break
        out[m[1]] = m[2]
    return out


def shown_figures(nb: Path) -> int:
    "How many image outputs of the notebook the page must show (cells not hidden by a directive)."
    n = 0
    for c in read_nb(nb)["cells"]:
        d = _directives("".join(c["source"])) if c["cell_type"] == "code" else {}
        if "hide" in d or d.get("include") == "false" or d.get("output") == "false": continue
        n += sum(any(k.startswith("image/") for k in o.get("data", {})) for o in c.get("outputs", []))
    return n


def has_math(nb: Path) -> bool:
    md = "".join("".join(c["source"]) for c in read_nb(nb)["cells"] if c["cell_type"] == "markdown")
    return "$$" in md or re.search(r"(?<![\\$])\$[^$\s][^$]*\$", md) is not None


def source_cells(nb: Path, tag: str | None = None, hidden: bool | None = None) -> list[str]:
    "The code cells' sources: those with cell tag `tag`, those whose first line is `#| hide` (hidden=True) or not."
    out = []
    for c in read_nb(nb)["cells"]:
        if c["cell_type"] != "code": continue
        src = "".join(c["source"])
        if tag is not None and tag not in c.get("metadata", {}).get("tags", []): continue
        if hidden is not None and ("hide" in _directives(src)) != hidden: continue
        out.append(src)
    return out


def without_directives(src: str) -> str:
    lines = src.splitlines()
    while lines and re.match(r"\s*#\|", lines[0]): lines.pop(0)
    return "\n".join(lines).strip()


def title_of(nb: Path) -> str:
    first = "".join(read_nb(nb)["cells"][0]["source"])
    m = re.search(r"^#\s+(.+?)\s*$", first, re.MULTILINE)
    assert m, f"nbs/{nb.name}: the first cell must start with `# Title`"
    return m[1]


# ------------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The site, built by the docs command into a temporary folder. Under pytest-xdist the workers of one run share
    one build (the first builds it while holding a lock, the others wait for it). DDPM_COURSE_DOCS_SITE=DIR checks
    the site already built in DIR instead (`python docs/build.py --out DIR --work WORK`; DDPM_COURSE_DOCS_WORK=WORK
    then names the notebooks it was built from), to iterate on the site's look."""
    import fcntl
    if os.environ.get("DDPM_COURSE_DOCS_SITE"):  # a site already built by `python docs/build.py --out DIR`
        d = Path(os.environ["DDPM_COURSE_DOCS_SITE"]).resolve()
        assert (d / "index.html").is_file() and (d / ".buildinfo").is_file(), f"{d} is not a built site"
        if os.environ.get("DDPM_COURSE_DOCS_WORK"): BUILT_FROM[:] = [Path(os.environ["DDPM_COURSE_DOCS_WORK"]) / "nbs"]
        return d
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"): base = base.parent  # this run's root, common to its workers
    d = base / "docs_site"
    d.mkdir(exist_ok=True)
    with open(d / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (d / "result.json").exists():
            t0 = time.time()
            r = subprocess.run([sys.executable, str(ROOT / "docs" / "build.py"), "--out", str(d / "html"),
                                "--work", str(d / "work")], cwd=ROOT, capture_output=True, text=True, timeout=900)
            res = dict(rc=r.returncode, secs=round(time.time() - t0, 1), out=r.stdout[-5000:], err=r.stderr[-10000:])
            (d / "result.json").write_text(json.dumps(res))
        res = json.loads((d / "result.json").read_text())
    print(f"\ndocs build: {res['secs']} s\n{res['out'][-2000:]}{res['err'][-3000:]}")
    if res["rc"] != 0:
        pytest.fail(f"`python docs/build.py` failed (exit {res['rc']}):\n{res['out']}\n{res['err']}")
    BUILT_FROM[:] = [d / "work" / "nbs"]
    return d / "html"


@pytest.fixture(scope="session")
def server(site):
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args): pass
    srv = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    srv.server_close()




_WAIT_MATH = """async () => {
  if (!document.querySelector('script[src*="mathjax"]')) return null;       // Sphinx adds MathJax only where needed
  for (let i = 0; i < 200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 50));
  await MathJax.startup.promise;
  return MathJax.version;
}"""

_IMAGES = """async () => {
  const imgs = [...document.images];
  for (const i of imgs) i.loading = 'eager';
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  return imgs.map(i => ({src: i.getAttribute('src'), w: i.naturalWidth, output: !!i.closest('div.cell_output')}));
}"""

_TEXT = """() => {
  const main = (document.querySelector('main') || document.body).cloneNode(true);
  main.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(e => e.remove());
  return main.textContent;
}"""


@pytest.fixture(scope="session")
def visit(browser, server, site):
    "visit(page) -> what the browser saw on it (cached: each page is loaded once)."
    cache = {}

    def _visit(name: str) -> dict:
        if name in cache: return cache[name]
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        outside, failed, errors = [], [], []
        page.on("request", lambda r: None if urlparse(r.url).hostname == "127.0.0.1" or r.url.startswith(("data:", "blob:", "about:"))
                else outside.append(r.url))
        page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
        page.on("response", lambda r: failed.append(f"{r.url} (HTTP {r.status})") if r.status >= 400 else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_default_timeout(90_000)  # generous: the machine may be busy; nothing here waits on a timer
        resp = page.goto(f"{server}/{name}", wait_until="load")
        res = dict(status=resp.status if resp else None, mathjax=page.evaluate(_WAIT_MATH))
        res.update(images=page.evaluate(_IMAGES), text=page.evaluate(_TEXT),
                   mjx=page.locator("mjx-container").count(),
                   display_mjx=page.locator('mjx-container[display="true"]').count(),
                   merror=page.locator("mjx-merror").count(),
                   h1=page.locator("main h1").first.inner_text().strip(" #¶\n"),
                   links=page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)"),
                   ids=page.evaluate("() => [...document.querySelectorAll('[id]')].map(e => e.id)"),
                   code=page.locator("div.cell_input").all_text_contents(),
                   outside=outside, failed=failed, errors=errors, page=page)
        cache[name] = res
        return res

    yield _visit
    for r in cache.values(): r["page"].close()


# ---------------------------------------------------------------------------------------------------------- tests
def test_one_page_per_notebook_in_order(site, visit):
    nbs = sorted(BUILT_FROM[0].glob("*.ipynb")) if BUILT_FROM and BUILT_FROM[0].is_dir() else NOTEBOOKS
    nbs = [nb for nb in nbs if not nb.name.startswith(("_", "."))]
    assert nbs, "no notebooks in nbs/"
    missing = [page_of(nb) for nb in nbs if not (site / page_of(nb)).is_file()]
    assert not missing, f"notebooks without a page: {missing}"
    assert (site / "index.html").is_file()
    # the sidebar lists the notebooks in file order (index first), as the build script's toctree does
    expected = ["index.html"] + [page_of(nb) for nb in nbs if nb.name != "index.ipynb"] + ["api.html", "genindex.html"]
    page = visit("index.html")["page"]
    hrefs = page.evaluate("() => [...document.querySelectorAll('nav.bd-docs-nav a.reference.internal')]"
                          ".map(a => a.getAttribute('href'))")
    got = [h.split("#")[0] or "index.html" for h in hrefs]
    got = [h for i, h in enumerate(got) if h not in got[:i]]
    assert got == expected, f"sidebar order {got}, expected {expected}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_page(nb, site, visit):
    name = page_of(nb)
    r = visit(name)
    assert r["status"] == 200, f"{name}: HTTP {r['status']}"
    assert not r["outside"], f"{name} fetched from outside 127.0.0.1 (a CDN?): {r['outside']}"
    assert not r["failed"], f"{name}: failed requests {r['failed']}"
    assert not r["errors"], f"{name}: JavaScript errors {r['errors']}"
    if nb.name != "index.ipynb":
        assert r["h1"] == title_of(nb), f"{name}: heading {r['h1']!r}, notebook title {title_of(nb)!r}"
    broken = [i["src"] for i in r["images"] if i["w"] == 0]
    assert not broken, f"{name}: images that do not load: {broken}"
    want = shown_figures(nb)
    got = sum(i["output"] for i in r["images"])
    assert got >= want, f"{name}: {got} figure(s) in cell outputs, the notebook has {want}"
    if want: assert got > 0
    text = r["text"]
    if has_math(nb):
        assert r["mathjax"], f"{name}: MathJax was not loaded"
        assert r["mjx"] > 0, f"{name}: no math typeset (no mjx-container)"
    assert r["merror"] == 0, f"{name}: {r['merror']} MathJax error(s) (bad TeX)"
    assert "$$" not in text, f"{name}: raw $$ left in the text: ...{text[max(0, text.index('$$') - 200):text.index('$$') + 200]}..."
    for junk in ("#| ", "{target=", "output: asis", "WARNING: THIS FILE WAS AUTOGENERATED", ":::"):
        assert junk not in text, f"{name}: Quarto/nbdev markup {junk!r} left in the text"
    for src in r["code"]:  # the notebook's plumbing is hidden, as on nbdev's own sites
        first = src.strip().splitlines()[0] if src.strip() else ""
        assert not first.startswith("#|"), f"{name}: a directive left in a code cell: {first}"
        try: body = ast.parse(src).body
        except SyntaxError: body = None
        assert not (body and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in body)), \
            f"{name}: a cell that only imports is shown: {src[:200]!r}"
    shown = {c.strip() for c in r["code"]}
    for src in source_cells(nb, hidden=True):  # `#| hide` cells (the exercises' checkers, ...) stay off the page
        assert without_directives(src) not in shown, f"{name}: a `#| hide` cell is shown: {src[:200]!r}"
    git_url = settings().get("git_url", "").rstrip("/")
    assert not [h for h in r["links"] if git_url and h.startswith(git_url)], f"{name} links to {git_url}"
    dups = sorted({i for i in r["ids"] if r["ids"].count(i) > 1})
    assert not dups, f"{name}: duplicate HTML ids {dups}"
    # internal links land on a page of the site, and on an element of that page
    for href in r["links"]:
        u = urlparse(href)
        if u.hostname != "127.0.0.1": continue
        path = site / unquote(u.path).lstrip("/")
        if path.is_dir(): path = path / "index.html"
        assert path.is_file(), f"{name}: link to a missing page {href}"
        if u.fragment and path.suffix == ".html":
            assert f'id="{unquote(u.fragment)}"' in path.read_text(encoding="utf-8"), f"{name}: link to a missing anchor {href}"


def test_elbo_page_math(visit):
    elbo = sorted((ROOT / "nbs").glob("*_elbo.ipynb"))
    assert elbo, "nbs/04_elbo.ipynb is missing: the docs test checks its math"
    assert has_math(elbo[0]), f"nbs/{elbo[0].name} has no $...$ math"
    r = visit(page_of(elbo[0]))
    assert r["mathjax"], "MathJax did not load on the ELBO page"
    assert r["mjx"] > 0 and r["merror"] == 0, f"ELBO page: {r['mjx']} formulas typeset, {r['merror']} errors"
    if any("$$" in "".join(c["source"]) for c in read_nb(elbo[0])["cells"] if c["cell_type"] == "markdown"):
        assert r["display_mjx"] > 0, "ELBO page: its $$ display equations are not typeset as display math"
    assert "$$" not in r["text"]


def test_forward_process_api(visit):
    import inspect
    from fastcore.docments import docments
    from ddpm_course.forward import q_sample
    fwd = [nb for nb in NOTEBOOKS if page_of(nb) == "forward_process.html"]
    assert fwd, "nbs/02_forward_process.ipynb is missing"
    r = visit("forward_process.html")
    page = r["page"]
    # nbdev's show_doc entry: an anchor `q_sample` (as in nbdev's URLs), then the signature with the docments
    entry = page.locator("#q_sample")
    assert entry.count() == 1, "no API entry for q_sample (show_doc output) on the forward-process page"
    sig = page.evaluate("""() => { let e = document.getElementById('q_sample').nextElementSibling;
        while (e && !e.querySelector('pre') && e.tagName !== 'PRE') e = e.nextElementSibling;
        return e ? e.textContent : ''; }""")
    assert "def q_sample(" in sig, f"q_sample's signature is not under its API heading: {sig[:300]!r}"
    docs = docments(q_sample)
    for p in inspect.signature(q_sample).parameters:
        assert p in sig, f"parameter {p} missing from q_sample's API entry"
        if docs.get(p): assert docs[p] in sig, f"the docment of {p} ({docs[p]!r}) is missing from q_sample's API entry"
    assert inspect.getdoc(q_sample).split("\n")[0][:40] in page.locator("main").inner_text()
    # the exported code itself is on the page without its `#| export` line, labelled with its module
    cells = page.locator("div.cell.tag_nbdev-export")
    found = [i for i in range(cells.count()) if "def q_sample(" in cells.nth(i).locator("div.cell_input").inner_text()]
    assert found, "q_sample's exported source is not shown"
    cell = cells.nth(found[0])
    assert "#|" not in cell.locator("div.cell_input").inner_text(), "the `#| export` line is shown"
    label = cell.locator(".nbdev-export-label")
    assert label.count() == 1 and label.inner_text().strip() == "exported to ddpm_course.forward", \
        f"q_sample's cell is not labelled with its module: {label.all_inner_texts()}"
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_search(site, browser, server):
    assert (site / "search.html").is_file() and (site / "searchindex.js").is_file()
    page = browser.new_page()
    try:
        page.goto(f"{server}/search.html?q=q_sample", wait_until="load")
        hit = page.locator("#search-results li a[href*='forward_process']")
        hit.first.wait_for(timeout=30_000)
        assert hit.count() >= 1
    finally:
        page.close()


# ---------------------------------------------------------------------------------------------- lessons on the site
SOLVED = [nb for nb in NOTEBOOKS if source_cells(nb, tag="solution", hidden=False)]


@pytest.mark.parametrize("nb", SOLVED, ids=[nb.stem for nb in SOLVED])
def test_solutions_collapsed(nb, visit):
    "Each worked solution (a code cell tagged `solution`) is on the page, collapsed; clicking its toggle shows it."
    name = page_of(nb)
    sols = source_cells(nb, tag="solution", hidden=False)
    page = visit(name)["page"]
    cells = page.locator("div.cell.tag_solution")
    assert cells.count() == len(sols), f"{name}: {cells.count()} solution cells on the page, the notebook has {len(sols)}"
    for i, src in enumerate(sols):
        cell = cells.nth(i)
        details, code = cell.locator("details.hide"), cell.locator("div.cell_input")
        assert details.count() == 1, f"{name}: solution {i + 1} is not collapsible"
        first = next(l for l in without_directives(src).splitlines() if l.strip())
        assert first.strip() in code.text_content(), f"{name}: solution {i + 1} ({first!r}) is not in the page"
        assert details.get_attribute("open") is None and not code.is_visible(), f"{name}: solution {i + 1} is not collapsed"
        summary = details.locator("summary")
        assert "solution" in summary.inner_text().lower(), f"{name}: toggle of solution {i + 1}: {summary.inner_text()!r}"
        summary.click()
        code.wait_for(state="visible", timeout=10_000)
        assert first.strip() in code.inner_text(), f"{name}: clicking does not show solution {i + 1}"
        summary.click()  # collapsed again, as the other checks expect
        code.wait_for(state="hidden", timeout=10_000)


_OVERFLOW = """() => {
  const col = document.querySelector('main .bd-article') || document.querySelector('main');
  const cs = getComputedStyle(col), cr = col.getBoundingClientRect();
  const left = cr.left + parseFloat(cs.paddingLeft) - 1, right = cr.right - parseFloat(cs.paddingRight) + 1;
  const scrolls = e => ['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(e).overflowX);
  const inside = e => { const r = e.getBoundingClientRect(); return r.left >= left && r.right <= right; };
  const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
                    (typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\\s+/).join('.') : '');
  const bad = [];
  for (const e of col.querySelectorAll('*')) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || (r.left >= left && r.right <= right)) continue;
    if (getComputedStyle(e).position === 'fixed') continue;
    let p = e.parentElement, boxed = false;
    for (; p && p !== col; p = p.parentElement) if (scrolls(p) && inside(p)) { boxed = true; break; }
    if (boxed) continue;
    const q = e.parentElement;  // report the outermost element that sticks out
    const qr = q && q !== col ? q.getBoundingClientRect() : null;
    if (qr && (qr.left < left || qr.right > right)) continue;
    bad.push(`${name(e)} (${Math.round(r.left)}..${Math.round(r.right)} px, column ${Math.round(left)}..${Math.round(right)}): ` +
             (e.textContent || '').trim().slice(0, 80));
  }
  const boxes = [...col.querySelectorAll('mjx-container[display="true"], div.cell_input, div.cell_output')]
    .filter(e => e.getBoundingClientRect().width > 0);
  return {bad, boxes: boxes.length, docw: document.documentElement.scrollWidth, vw: window.innerWidth,
          colw: Math.round(right - left)};
}"""

WIDE_PAGES = [page_of(nb) for nb in NOTEBOOKS] + ["api.html"]


@pytest.mark.parametrize("name", WIDE_PAGES, ids=[n[:-5] for n in WIDE_PAGES])
def test_nothing_cut_at_the_right_edge(name, visit):
    """At 1300 and 1900 px no display equation, code cell, output or table runs past the content column: what is wider
    scrolls inside a box of its own that fits the column. The column is wider than the theme's default."""
    page = visit(name)["page"]
    try:
        for w in WIDTHS:
            page.set_viewport_size({"width": w, "height": 900})
            page.wait_for_timeout(200)
            r = page.evaluate(_OVERFLOW)
            assert not r["bad"], f"{name} at {w} px: {len(r['bad'])} element(s) cut at the column's edge: {r['bad'][:8]}"
            assert r["docw"] <= r["vw"], f"{name} at {w} px: the page scrolls sideways ({r['docw']} > {r['vw']} px)"
            # the theme's column is 700 px at 1300 px and 790 px at 1900 px; code lines run to about 120 characters
            assert r["colw"] >= (950 if w == 1300 else 1100), f"{name} at {w} px: a content column of {r['colw']} px"
    finally:
        page.set_viewport_size({"width": 1300, "height": 900})


def _entries(page) -> dict[str, str]:
    "{link text: href} of the links on a page's article."
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('main a.reference.internal')]
        .map(a => [a.textContent.trim(), a.getAttribute('href')]))""")


def _lands(site: Path, href: str, base: str = "api.html") -> bool:
    u = urlparse(href)
    path = site / (unquote(u.path) if u.path else base)
    if not path.is_file(): return False
    return not u.fragment or f'id="{unquote(u.fragment)}"' in path.read_text(encoding="utf-8")


def test_api_page(site, visit):
    "api.html: every module and its exported names, with signature and first docstring line, linked to their entries."
    assert (site / "api.html").is_file(), "no API page"
    r = visit("api.html")
    assert not r["outside"] and not r["failed"] and not r["errors"], (r["outside"], r["failed"], r["errors"])
    page = r["page"]
    text = page.locator("main").inner_text()
    links = page.evaluate("() => [...document.querySelectorAll('main a.reference.internal')]"
                          ".map(a => [a.textContent.trim(), a.getAttribute('href')])")
    hrefs = {}
    for t, h in links: hrefs.setdefault(t, h)
    for mod in modules():
        m = importlib.import_module(mod)
        names = getattr(m, "__all__", [])
        if not names: continue
        assert mod in text, f"the API page does not list the module {mod}"
        for n in names:
            assert n in hrefs, f"the API page does not list {mod}.{n}"
            assert _lands(site, hrefs[n]), f"the API page's link of {mod}.{n} ({hrefs[n]}) lands nowhere"
            obj = getattr(m, n)
            if inspect.isfunction(obj) and obj.__module__ == mod:
                assert hrefs[n].split("#")[0] != "api.html" and "#" in hrefs[n], \
                    f"{mod}.{n} is not linked to its API entry in a chapter ({hrefs[n]})"
    # q_sample with its parameters and the first line of its docstring, linked to its entry
    from ddpm_course.forward import q_sample
    assert hrefs["q_sample"] == "forward_process.html#q_sample", hrefs["q_sample"]
    line = next(l for l in text.splitlines() if l.startswith("q_sample("))
    for p in inspect.signature(q_sample).parameters: assert p in line, f"parameter {p} missing: {line!r}"
    assert inspect.getdoc(q_sample).split("\n")[0][:40] in line, line
    # linked from the sidebar of every page
    side = visit("forward_process.html")["page"].evaluate(
        "() => [...document.querySelectorAll('nav.bd-docs-nav a.reference.internal')].map(a => a.getAttribute('href'))")
    assert "api.html" in side and "genindex.html" in side, f"the sidebar does not link the API page and the index: {side}"


def test_general_index(site, visit):
    "genindex.html lists every exported function and class, each entry landing on its API entry."
    r = visit("genindex.html")
    entries = r["page"].evaluate("() => [...document.querySelectorAll('main table.indextable a')]"
                                 ".map(a => [a.textContent.trim(), a.getAttribute('href')])")
    assert entries, "the general index is empty"
    listed = {re.sub(r"\s*\(.*\)$", "", t) for t, _ in entries}
    for mod in modules():
        m = importlib.import_module(mod)
        for n in getattr(m, "__all__", []):
            obj = getattr(m, n)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(obj, "__module__", None) == mod:
                assert n in listed, f"{mod}.{n} is not in the general index"
    for t, h in entries:
        assert _lands(site, h, "genindex.html"), f"index entry {t!r} links to {h}, which does not exist"
    q = [h for t, h in entries if t == "q_sample (ddpm_course.forward)"]
    assert q and q[0].startswith("forward_process.html#"), f"q_sample's index entry: {q}"


def test_no_repository_links(site):
    "settings.ini's git_url is a placeholder that may not exist: no page links to it (no [source] links, no buttons)."
    cfg = settings()
    bad = [u.rstrip("/") for u in (cfg.get("git_url", ""), cfg.get("doc_host", "") + cfg.get("doc_baseurl", "")) if u]
    assert bad
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > len(NOTEBOOKS)
    for f in pages:
        html = f.read_text(encoding="utf-8")
        for u in bad:
            hits = re.findall(r"""(?:href|src|action)\s*=\s*["']""" + re.escape(u) + r"""[^"']*""", html)
            assert not hits, f"{f.relative_to(site)} links to {u}: {hits[:3]}"
        assert "Source repository" not in html and "fa-github" not in html, f"{f.relative_to(site)}: a repository button"
