"""The commands in fresh processes, with faults a pipe injects: a reader that goes away (`ddpm-demo | head -1`) must
cost none of the run's files, and the command must end quietly (no traceback, no "Exception ignored")."""
import json, os, subprocess, sys
from pathlib import Path

import numpy as np

DEMO = Path(sys.executable).parent / "ddpm-demo"
TINY = ["--steps", "3", "--batch-size", "64", "--n-samples", "50", "--sample-steps", "2", "--no-progress", "--device", "cpu"]
FILES = ("latest.pt", "samples.npy", "samples_ddim.npy", "comparison.png", "loss.png", "denoising.gif", "metrics.json")


def demo_closed_stdout(out: Path, unbuffered: bool):
    "Run ddpm-demo with stdout a pipe that this side closes after the first line (or before any); (exit status, stderr)."
    assert DEMO.is_file(), f"{DEMO} is missing: run `pip install -e .` to install the console scripts"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DDPM_COURSE_OFFLINE": "1", "PYTHONUNBUFFERED": "1" if unbuffered else ""}
    proc = subprocess.Popen([str(DEMO), "--out", str(out), *TINY], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if unbuffered: proc.stdout.readline()            # `| head -1`: one line read, then the reader is gone
    proc.stdout.close()
    err = proc.stderr.read().decode()
    return proc.wait(timeout=300), err


def check_run(out: Path, code: int, err: str):
    assert code == 0 and "Traceback" not in err and "Exception ignored" not in err and "Broken pipe" not in err, (code, err)
    for name in FILES: assert (out / name).is_file(), f"{name} was not written after the reader of stdout went away"
    assert np.load(out / "samples.npy").shape == (50, 2)
    assert json.loads((out / "metrics.json").read_text())["step"] == 3


def test_demo_survives_a_reader_that_goes_after_one_line(tmp_path):
    "Line by line (PYTHONUNBUFFERED, as behind `tee` or a log collector): the next print after the reader went raises EPIPE."
    check_run(tmp_path / "run", *demo_closed_stdout(tmp_path / "run", unbuffered=True))


def test_demo_survives_a_reader_that_never_reads(tmp_path):
    "Block-buffered: the report reaches the closed pipe only at the final flush, which must not fail the exit."
    check_run(tmp_path / "run", *demo_closed_stdout(tmp_path / "run", unbuffered=False))
