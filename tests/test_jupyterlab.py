"""The chapters as a learner meets them: opened in JupyterLab in Chromium and run with Run > Run All Cells.

For each notebook of NOTEBOOKS: every code cell runs (an execution count on each, none left at `[*]`), no error and
no stderr box anywhere in the page, the page shows at least as many images as the committed notebook has image
outputs, and moving the notebook's first slider (one step to the right) redraws the image beside it. Each notebook's
wall time in the UI is printed and recorded as the test's `ui_wall_s` property.

JupyterLab runs on a temporary copy of nbs/ with the saved outputs stripped (every image counted comes from the
run), with its own config, settings and runtime folders (tests/_jupyterlab.py); one server and one browser per
test process, so it works under pytest-xdist. Chromium is Debian's (`apt-get install -y chromium`), driven by
Playwright with `executable_path`, never a downloaded browser; a missing Chromium, Playwright or JupyterLab fails
the test, it is never skipped. On failure a screenshot is saved as /tmp/jupyterlab_<notebook>.png.
"""
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _jupyterlab import LabServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# The notebooks driven through the UI (stems of nbs/*.ipynb); a notebook without a slider skips only that check.
NOTEBOOKS = ["02_forward_process", "10_ddim", "12_guidance"]
RUN_TIMEOUT_S = 600      # Run All on a loaded machine; the notebooks aim at about a minute of CPU time
WIDGET_TIMEOUT_S = 120   # a slider's redraw: one more kernel call, then the browser renders it
INSTALL = "pip install -e '.[dev]' (or pip install jupyterlab ipywidgets playwright)"


def saved_images(nb: Path) -> int:
    """Image outputs saved in the committed notebook, except in `#| slow` cells: the UI run is a learner's default
    run, where those cells are skipped (their saved figures come from a long run)."""
    n = 0
    for c in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
        if c["cell_type"] != "code" or re.match(r"#\|\s*slow\b", "".join(c["source"])): continue
        n += sum(any(k.startswith("image/") for k in o.get("data", {})) for o in c.get("outputs", []))
    return n


# ------------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def lab(tmp_path_factory, data_root):
    "A JupyterLab server of this test process on a copy of nbs/; stopped (kernels and all) at the end."
    try:
        import jupyterlab, jupyterlab_widgets, ipywidgets  # noqa: F401
    except ImportError as e:
        pytest.fail(f"JupyterLab with ipywidgets is needed for the browser test ({e}): {INSTALL}")
    env = dict(os.environ, OMP_NUM_THREADS="1", DDPM_COURSE_DATA=str(data_root))
    try:
        srv = LabServer(ROOT / "nbs", tmp_path_factory.mktemp("jupyterlab"), env)
    except (FileNotFoundError, RuntimeError, TimeoutError) as e:
        pytest.fail(f"could not start JupyterLab: {e}")
    yield srv
    srv.stop()


# ------------------------------------------------------------------------------------------- what the page shows
# The state of the open notebook: its cells from JupyterLab's model (execution counts, outputs), and from the DOM
# what the learner sees (prompts, error/stderr boxes also inside widgets, rendered images).
_STATE = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model || !panel.sessionContext) return null;
  const m = panel.content.model, code = [];
  for (let i = 0; i < m.cells.length; i++) {
    const c = m.cells.get(i);
    if (c.type !== 'code') continue;
    const outs = c.outputs.toJSON().map(o => ({type: o.output_type, name: o.name || null,
      text: o.output_type === 'error' ? `${o.ename}: ${o.evalue}` : (o.name === 'stderr' ? [].concat(o.text).join('') : '')}));
    code.push({cell: i, count: c.executionCount, outs, first: c.sharedModel.getSource().split('\\n')[0]});
  }
  const nb = panel.content.node;
  return {
    ncells: m.cells.length, code,
    dom_cells: nb.querySelectorAll('.jp-Cell').length,
    busy: [...nb.querySelectorAll('.jp-InputPrompt')].filter(p => p.textContent.includes('*')).length,
    errors: [...nb.querySelectorAll('.jp-OutputArea-output')]
              .filter(o => /stderr|error/.test(o.dataset.mimeType || '')).map(o => o.textContent.slice(0, 800)),
    images: [...nb.querySelectorAll('.jp-OutputArea-output img')].filter(i => i.complete && i.naturalWidth > 0).length,
    kernel: panel.sessionContext.kernelDisplayStatus,
    dialog: (document.querySelector('.jp-Dialog') || {}).textContent || null,
  };
}"""

# The first slider of the notebook and the image after it in the same cell's outputs.
_SLIDER = """() => {
  const nb = window.jupyterapp.shell.currentWidget.content.node;
  const s = nb.querySelector('.widget-slider');
  if (!s) return null;
  const cell = s.closest('.jp-Cell');
  const imgs = [...cell.querySelectorAll('.jp-OutputArea-output img')]
                 .filter(i => s.compareDocumentPosition(i) & Node.DOCUMENT_POSITION_FOLLOWING);
  const img = imgs.find(i => i.complete && i.naturalWidth > 0);
  const readout = s.querySelector('.widget-readout');
  return {cell: [...nb.querySelectorAll('.jp-Cell')].indexOf(cell), src: img ? img.src : null,
          value: readout ? readout.textContent.trim() : null, nimgs: imgs.length};
}"""


def _kernel_of(lab, name: str, timeout: float = 180):
    "The kernel JupyterLab started for the notebook (its session), once it is idle."
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for s in lab.api("sessions"):
            if s["path"].endswith(f"{name}.ipynb") and s.get("kernel"):
                k = lab.api(f"kernels/{s['kernel']['id']}")
                if k["execution_state"] == "idle": return k["id"]
        time.sleep(0.5)
    raise AssertionError(f"{name}: no idle kernel within {timeout:.0f} s of opening the notebook "
                         f"(is metadata.kernelspec set?)\n{lab.log_tail()}")


def _run_all(page, lab, kernel: str, name: str) -> dict:
    "Click Run > Run All Cells and wait until the kernel is idle and every cell ran (or one failed)."
    page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Run All Cells")').click()
    t0, done, st = time.monotonic(), 0, None
    while time.monotonic() - t0 < RUN_TIMEOUT_S:
        time.sleep(2)
        st = page.evaluate(_STATE)
        assert not st["dialog"], f"{name}: JupyterLab shows a dialog: {st['dialog'][:500]}"
        idle = lab.api(f"kernels/{kernel}")["execution_state"] == "idle"
        ran = all(c["count"] for c in st["code"]) or st["errors"]  # Run All stops at the first error
        done = done + 1 if idle and ran and st["busy"] == 0 else 0
        if done >= 2: break                                         # idle twice in a row: nothing is queued
    else:
        left = [c["cell"] for c in st["code"] if not c["count"]] if st else "?"
        raise AssertionError(f"{name}: Run All did not finish within {RUN_TIMEOUT_S} s (cells not run: {left})")
    st["wall_s"] = time.monotonic() - t0
    return st


def _wait_images(page, want: int, timeout: float = WIDGET_TIMEOUT_S) -> dict:
    "Widgets render after the kernel is idle: give their images a moment to appear."
    deadline = time.monotonic() + timeout
    while True:
        st = page.evaluate(_STATE)
        if st["images"] >= want or st["errors"] or time.monotonic() > deadline: return st
        time.sleep(1)


def _screenshot(page, name: str):
    path = Path(f"/tmp/jupyterlab_{name}.png")
    try:
        err = page.locator('.jp-OutputArea-output[data-mime-type*="stderr"], '
                           '.jp-OutputArea-output[data-mime-type*="error"]')
        if err.count(): err.first.scroll_into_view_if_needed(timeout=5000)
        page.screenshot(path=str(path), timeout=30_000)
        print(f"screenshot of the failure: {path}")
    except Exception as e:
        print(f"no screenshot ({e})")


# ---------------------------------------------------------------------------------------------------------- test
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_in_jupyterlab(name, lab, browser, record_property):
    nb = ROOT / "nbs" / f"{name}.ipynb"
    cells = json.loads((lab.root / nb.name).read_text(encoding="utf-8"))["cells"]   # the copy the server runs
    want_images = saved_images(nb)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)    # generous: the machine may be busy; nothing here waits on a timer
    kernel = None
    try:
        page.goto(lab.lab_url(nb.name), wait_until="load")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                               "window.jupyterapp.shell.currentWidget.content && "
                               f"window.jupyterapp.shell.currentWidget.content.node.querySelectorAll('.jp-Cell').length >= {len(cells)}")
        kernel = _kernel_of(lab, name)
        st = _run_all(page, lab, kernel, name)
        record_property("ui_wall_s", round(st["wall_s"], 1))
        print(f"{name}: Run All Cells in JupyterLab took {st['wall_s']:.0f} s of wall time")

        # every cell ran, and nothing went to stderr or raised
        assert st["ncells"] == len(cells) and st["dom_cells"] == len(cells), \
            f"{name}: JupyterLab shows {st['dom_cells']} cells of {len(cells)} (windowingMode must be 'none')"
        bad = [f"cell {c['cell']} ({c['first'][:60]!r}): {o['type']} {o['name'] or ''} {o['text'][:600]}"
               for c in st["code"] for o in c["outs"] if o["type"] == "error" or o["name"] == "stderr"]
        assert not bad, f"{name}: error or stderr output in JupyterLab:\n" + "\n".join(bad)
        assert not st["errors"], f"{name}: error or stderr boxes in the page:\n" + "\n---\n".join(st["errors"])
        not_run = [c["cell"] for c in st["code"] if not c["count"]]
        assert not not_run, f"{name}: code cells without an execution count after Run All: {not_run}"

        # as many figures as the committed notebook shows
        secs = st["wall_s"]
        st = _wait_images(page, want_images)
        st["wall_s"] = secs
        assert not st["errors"], f"{name}: error or stderr boxes in the page:\n" + "\n---\n".join(st["errors"])
        print(f"{name}: {st['images']} images in the page, {want_images} image outputs in the committed notebook")
        assert st["images"] >= want_images, (f"{name}: the page shows {st['images']} images, the committed notebook "
                                             f"has {want_images} image outputs")

        # the first slider redraws the image beside it
        sl = page.evaluate(_SLIDER)
        if sl is None:
            pytest.skip(f"{name} has no slider: the slider check is skipped; its other checks passed "
                        f"(Run All Cells took {st['wall_s']:.0f} s)")
        deadline = time.monotonic() + WIDGET_TIMEOUT_S
        while not sl["src"] and time.monotonic() < deadline:
            time.sleep(1); sl = page.evaluate(_SLIDER)
        assert sl["src"], f"{name}: no image after the slider of cell {sl['cell']}"
        handle = page.locator(".jp-Notebook .widget-slider").first.locator(".noUi-handle").first
        handle.scroll_into_view_if_needed()
        img = page.locator(".jp-Notebook .jp-Cell").nth(sl["cell"]).locator(".jp-OutputArea-output img").last
        shot = img.screenshot()
        handle.focus()
        handle.press("ArrowRight")
        deadline, after = time.monotonic() + WIDGET_TIMEOUT_S, sl
        while time.monotonic() < deadline:
            time.sleep(1)
            after = page.evaluate(_SLIDER)
            if after["src"] and after["src"] != sl["src"]: break
        assert after["value"] != sl["value"], f"{name}: ArrowRight did not move the slider (still {sl['value']})"
        assert after["src"] and after["src"] != sl["src"], \
            f"{name}: moving the slider from {sl['value']} to {after['value']} did not redraw the image"
        time.sleep(1)                                                 # let the new image paint
        assert img.screenshot() != shot, f"{name}: the image looks the same after moving the slider"
        st = page.evaluate(_STATE)
        assert not st["errors"], f"{name}: moving the slider gave errors:\n" + "\n---\n".join(st["errors"])
    except BaseException as e:
        if not isinstance(e, pytest.skip.Exception): _screenshot(page, name)
        raise
    finally:
        page.close()
        if kernel:                        # free the kernel's memory before the next notebook
            try: lab.api(f"kernels/{kernel}", "DELETE", timeout=60)
            except Exception: pass
