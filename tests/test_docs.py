"""Build the documentation site (`python docs/build.py`), serve it on 127.0.0.1 and check it in headless Chromium.

Checks: one page per nbs/*.ipynb, in notebook order in the sidebar; every page loads with nothing fetched from
outside 127.0.0.1, no failed request, no JavaScript error; every <img> loads and every figure output of a notebook is
on its page; math is typeset by MathJax (no raw `$$`, no TeX errors) on the ELBO page and on every page whose
notebook has math; internal links land on existing pages and anchors; no duplicate HTML ids; no Quarto/nbdev markup
left in the text or in the code cells; the forward-process page shows `q_sample`'s exported code and its API entry
(signature with docments); search finds it.
Chromium comes from Debian (`apt-get install -y chromium`); its absence fails the test, it is never skipped.
"""
import functools
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
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NOTEBOOKS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")))
SCREENSHOT = Path("/tmp/docs_forward_process.png")


def page_of(nb: Path) -> str:
    "The page nbdev (and docs/build.py) gives a notebook: 02_forward_process.ipynb -> forward_process.html."
    from nbdev.doclinks import _nbpath2html
    return _nbpath2html(Path(nb.name)).name


def read_nb(nb: Path) -> dict: return json.loads(nb.read_text(encoding="utf-8"))


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


def title_of(nb: Path) -> str:
    first = "".join(read_nb(nb)["cells"][0]["source"])
    m = re.search(r"^#\s+(.+?)\s*$", first, re.MULTILINE)
    assert m, f"nbs/{nb.name}: the first cell must start with `# Title`"
    return m[1]


# ------------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The site, built by the docs command into a temporary folder. Under pytest-xdist the workers of one run share
    one build (the first builds it while holding a lock, the others wait for it)."""
    import fcntl
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


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's browser with "
                    "`apt-get update && apt-get install -y chromium` (do not run `playwright install`)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the Python package playwright is missing: pip install -e '.[dev]'")
    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield b
    b.close()
    pw.stop()


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
    assert NOTEBOOKS, "no notebooks in nbs/"
    missing = [page_of(nb) for nb in NOTEBOOKS if not (site / page_of(nb)).is_file()]
    assert not missing, f"notebooks without a page: {missing}"
    assert (site / "index.html").is_file()
    # the sidebar lists the notebooks in file order (index first), as the build script's toctree does
    expected = ["index.html"] + [page_of(nb) for nb in NOTEBOOKS if nb.name != "index.ipynb"]
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
    for src in r["code"]:  # code cells show no Quarto/nbdev directives but the informative ones
        for line in src.splitlines():
            if not line.startswith("#|"): break
            assert re.match(r"#\|\s*(export|exporti|exports|slow|notest)\b", line), f"{name}: directive left in code: {line}"
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
    # the exported code itself is on the page, marked as exported
    exported = page.locator("div.cell.tag_nbdev-export div.cell_input").all_inner_texts()
    assert any("def q_sample(" in t and "#| export" in t for t in exported), "q_sample's exported source is not shown"
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
