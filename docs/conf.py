"""Sphinx configuration of the course site. Build it with `python docs/build.py` (see that file): it writes the
MyST notebooks that this configuration reads; sphinx-build alone on nbs/ would miss nbdev's API docs."""
import configparser
from pathlib import Path

_cfg = configparser.ConfigParser()
_cfg.read(Path(__file__).resolve().parents[1] / "settings.ini")
_s = _cfg["DEFAULT"]

project = _s["lib_name"]
author = _s.get("author", "")
copyright = _s.get("copyright", "")
release = version = _s.get("version", "")
html_title = f"{project} {release}"

extensions = ["myst_nb", "sphinx-mathjax-offline"]  # the latter serves MathJax 3 from _static: no CDN
myst_enable_extensions = ["dollarmath", "amsmath", "attrs_inline", "attrs_block"]
myst_dmath_double_inline = True      # `$$...$$` inside a paragraph is display math too
nb_execution_mode = "off"           # show the committed outputs; never run the notebooks
nb_render_markdown_format = "myst"  # show_doc outputs are markdown (with math, tables, code)
nb_merge_streams = True
nb_ipywidgets_js = {}               # no widget JavaScript from a CDN
suppress_warnings = ["myst.header"]  # notebooks may go from the title straight to `###`

exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_show_sourcelink = False
# No repository link or button: settings.ini's git_url is not known to exist. No download button either: it would
# offer the processed page (without the exercises' checkers), not the notebook a learner runs.
html_theme_options = {
    "use_repository_button": False,
    "use_source_button": False,
    "use_edit_page_button": False,
    "use_issues_button": False,
    "use_download_button": False,
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "navbar_persistent": [],  # the search field lives in the left sidebar; no second one in the top bar
}


def _export_labels(app, doctree, docname):
    """Mark each exported code cell (docs/build.py records its module in the cell's metadata `nbdev_export`) with a
    small label "exported to ddpm_course.X", in place of the `#| export` line that the site does not show. Runs after
    myst-nb's post-transforms, which expect a cell's first child to be its source."""
    from docutils import nodes
    from html import escape
    for node in doctree.findall(nodes.container):
        mod = (node.get("cell_metadata") or {}).get("nbdev_export") if node.get("nb_element") == "cell_code" else None
        if mod:
            node.insert(0, nodes.raw("", f'<div class="nbdev-export-label">exported to <code>{escape(mod)}</code></div>',
                                     format="html"))


def setup(app):
    app.connect("doctree-resolved", _export_labels)
