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
html_theme_options = {
    "repository_url": _s.get("git_url", ""),
    "repository_branch": _s.get("branch", "main"),
    "path_to_docs": _s.get("nbs_path", "nbs"),
    "use_repository_button": True,
    "use_download_button": True,
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "navbar_persistent": [],  # the search field lives in the left sidebar; no second one in the top bar
}
