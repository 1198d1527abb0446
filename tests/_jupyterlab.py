"""A JupyterLab server of the test's own, for tests/test_jupyterlab.py.

The server runs on a temporary copy of nbs/ (with the saved outputs stripped, so every figure in the page comes
from the run), with its own config, data, runtime, settings and workspace folders, on a free port of 127.0.0.1.
Nothing is written into the repository. Stopping it shuts its kernels down and then kills whatever of its process
tree is left, so no kernel outlives the test.
"""
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

# User settings the server starts with: the whole notebook in the DOM (JupyterLab 4 otherwise keeps only the
# cells on screen, so the outputs of a notebook could not be counted), and nothing fetched from outside.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
}
# Variables of the test process that must not reach the kernels: the headless backend would hide every inline
# figure (ipykernel only sets its inline backend when MPLBACKEND is unset), and the learner's default run skips
# the long `#| slow` cells.
DROP_ENV = ("MPLBACKEND", "DDPM_COURSE_SLOW", "JUPYTER_TOKEN", "JPY_SESSION_NAME", "IN_TEST")


def _die_with_parent():
    "In the child: receive SIGTERM when the test process dies, so a killed test run leaves no server (Linux)."
    try: ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError): pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def strip_outputs(nb: Path):
    "Remove saved outputs and execution counts from a notebook file (in place)."
    d = json.loads(nb.read_text(encoding="utf-8"))
    for c in d["cells"]:
        if c["cell_type"] == "code": c["outputs"], c["execution_count"] = [], None
    nb.write_text(json.dumps(d, indent=1, ensure_ascii=False), encoding="utf-8")


def _stat(pid: int) -> list:
    "Fields 3.. of /proc/PID/stat (state, ppid, ...), or [] when the process is gone."
    try: return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError): return []


def descendants(pid: int) -> list:
    "(pid, start time) of every process below `pid`, read from /proc (the start time tells a reused pid apart)."
    kids = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and (st := _stat(int(p.name))):
            kids.setdefault(int(st[1]), []).append((int(p.name), st[19]))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []): out.append(k); todo.append(k[0])
    return out


def alive(proc: tuple) -> bool:
    "Whether the process (pid, start time) still runs (a zombie or a new process under the same pid does not)."
    st = _stat(proc[0])
    return bool(st) and st[19] == proc[1] and st[0] != "Z"


class LabServer:
    "A running `jupyter lab` on a temporary copy of `nbs`; `url`, `token`, `api(...)`; `stop()` ends it all."

    def __init__(self, nbs: Path, tmp: Path, env: dict, startup_s: float = 180):
        exe = Path(sys.executable).with_name("jupyter-lab")
        if not exe.exists():
            raise FileNotFoundError(f"JupyterLab is not installed next to {sys.executable} (no {exe}): "
                                    "pip install jupyterlab ipywidgets (or pip install -e '.[dev]')")
        self.root = tmp / "nbs"
        shutil.copytree(nbs, self.root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        for nb in self.root.glob("*.ipynb"): strip_outputs(nb)
        dirs = {k: tmp / k.lower() for k in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
                                             "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR")}
        for d in dirs.values(): d.mkdir(parents=True)
        for rel, value in SETTINGS.items():
            f = dirs["JUPYTERLAB_SETTINGS_DIR"] / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps(value))
        env = {k: v for k, v in env.items() if k not in DROP_ENV}
        env.update({k: str(v) for k, v in dirs.items()})
        env.update(PATH=f"{exe.parent}{os.pathsep}{env.get('PATH', '')}", PYDEVD_DISABLE_FILE_VALIDATION="1",
                   JUPYTER_PLATFORM_DIRS="1", PYTHONUNBUFFERED="1")
        self.token = os.urandom(16).hex()
        self.log = tmp / "jupyterlab.log"
        self._logf = open(self.log, "wb")
        port = free_port()
        self.proc = subprocess.Popen(
            [str(exe), "--no-browser", "--ip", "127.0.0.1", "--port", str(port), "--allow-root",
             f"--ServerApp.token={self.token}", f"--ServerApp.root_dir={self.root}",
             "--LabApp.expose_app_in_browser=True"],   # window.jupyterapp: the test reads the notebook's model
            cwd=self.root, env=env, stdout=self._logf, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent)
        self.url = self._wait_ready(dirs["JUPYTER_RUNTIME_DIR"], startup_s)

    def _wait_ready(self, runtime: Path, startup_s: float) -> str:
        "The server's base URL, read from its runtime file (it may have moved to another port) once it answers."
        deadline = time.monotonic() + startup_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            info = next((json.loads(f.read_text()) for f in runtime.glob("jpserver-*.json")
                         if f.stat().st_size), None)
            if info:
                url = f"http://127.0.0.1:{info['port']}"
                try:
                    with urllib.request.urlopen(f"{url}/api/status?token={self.token}", timeout=5): return url
                except (urllib.error.URLError, OSError): pass
            time.sleep(0.5)
        raise TimeoutError(f"jupyter lab did not answer within {startup_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        if not self._logf.closed: self._logf.flush()
        return self.log.read_text(errors="replace")[-n:]

    def api(self, path: str, method: str = "GET", timeout: float = 30):
        req = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
        return json.loads(body) if body else None

    def lab_url(self, notebook: str) -> str:
        return f"{self.url}/lab/tree/{notebook}?token={self.token}&reset"

    def stop(self):
        "Shut the kernels and the server down; kill whatever of the process tree is left."
        me = [(self.proc.pid, st[19])] if (st := _stat(self.proc.pid)) else []
        procs = descendants(self.proc.pid) + me             # kernels run in sessions of their own
        if self.proc.poll() is None:
            try:
                for k in self.api("kernels", timeout=10): self.api(f"kernels/{k['id']}", "DELETE", timeout=30)
                self.api("shutdown", "POST", timeout=10)
            except Exception: pass
            try: self.proc.wait(20)
            except subprocess.TimeoutExpired: pass
        procs += descendants(self.proc.pid)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            left = [p for p in dict.fromkeys(procs) if alive(p)]
            for pid, _ in left:
                try: os.kill(pid, sig)
                except ProcessLookupError: pass
            deadline = time.monotonic() + 10
            while any(alive(p) for p in left) and time.monotonic() < deadline: time.sleep(0.2)
        if self.proc.poll() is None: self.proc.wait(10)
        self._logf.close()
