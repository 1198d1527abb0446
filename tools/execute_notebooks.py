"""Re-run notebooks top to bottom in a Jupyter kernel and save their outputs (the figures the docs site shows).

    python tools/execute_notebooks.py nbs/02_forward_process.ipynb [more.ipynb ...]

Runs each in its default preset (`#| slow` cells print that they were skipped unless DDPM_COURSE_SLOW=1), with one
thread, then cleans it with nbdev_clean. Prints the wall time of each run.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(paths):
    if not paths: sys.exit(__doc__)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    env.setdefault("DDPM_COURSE_DATA", str((ROOT.parent / "shared" / "data").resolve()))
    bindir = Path(sys.executable).parent
    for p in paths:
        t0 = time.perf_counter()
        r = subprocess.run([str(bindir / "jupyter"), "nbconvert", "--to", "notebook", "--execute", "--inplace",
                            "--ExecutePreprocessor.timeout=1800", str(Path(p).resolve())], cwd=Path(p).resolve().parent, env=env)
        if r.returncode: sys.exit(f"{p} failed (exit {r.returncode})")
        subprocess.run([str(bindir / "nbdev_clean"), "--fname", str(p)], cwd=ROOT, check=True)
        print(f"{p}: {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__": main(sys.argv[1:])
