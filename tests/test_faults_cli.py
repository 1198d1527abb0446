"""The commands in fresh processes, with faults from outside: a reader that goes away (`ddpm-demo | head -1`) must
cost none of the run's files, and the command must end quietly (no traceback, no "Exception ignored"); a SIGTERM
while training (a scheduler taking the machine back) must leave a checkpoint that --resume continues."""
import json, os, signal, subprocess, sys
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


def test_demo_sigterm_leaves_a_checkpoint_that_resume_continues(tmp_path):
    "SIGTERM mid-run: the step in flight finishes, latest.pt is written and named, nothing is sampled; --resume goes on."
    assert DEMO.is_file(), f"{DEMO} is missing: run `pip install -e .` to install the console scripts"
    from ddpm_course.training import load_checkpoint
    out, env = tmp_path / "run", {**os.environ, "OMP_NUM_THREADS": "1", "DDPM_COURSE_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    args = ["--out", str(out), "--batch-size", "64", "--n-samples", "50", "--sample-steps", "2", "--no-progress", "--device", "cpu",
            "--ckpt-every", "0"]
    proc = subprocess.Popen([str(DEMO), *args, "--steps", "1000000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    said = []
    for line in proc.stdout:                     # training has run for a few seconds once the time estimate is printed
        said.append(line)
        if line.startswith("training:") and "s per step" in line: break
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "Traceback" not in err, (proc.returncode, "".join(said) + rest, err)
    ck = load_checkpoint(out / "latest.pt")
    step = ck["step"]
    assert 0 < step < 1000000 and ck["stopped"] is None and ck["history"]["step"] == list(range(1, step + 1))
    assert f"SIGTERM at step {step}: stopped after writing {out / 'latest.pt'}; continue with the same command and --resume" in err, err
    assert not (out / "samples.npy").exists(), "nothing is sampled after a SIGTERM"
    r = subprocess.run([str(DEMO), *args, "--steps", str(step + 3), "--resume"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert f"resumed {out / 'latest.pt'} at step {step}" in r.stdout, r.stdout
    ck2 = load_checkpoint(out / "latest.pt")
    assert ck2["step"] == step + 3 and ck2["history"]["step"] == list(range(1, step + 4))
    assert ck2["history"]["loss"][:step] == ck["history"]["loss"]          # the first part of the run is kept as it was
    assert np.load(out / "samples.npy").shape == (50, 2)


def test_torchrun_sigterm_stops_every_rank_at_one_step(tmp_path):
    "SIGTERM to torchrun, which passes it to both ranks: they stop at one step, rank 0 writes latest.pt and says so once;"
    " one process then resumes the run (the global batch is kept)."
    from ddpm_course.training import load_checkpoint
    out, env = tmp_path / "run", {**os.environ, "OMP_NUM_THREADS": "1", "DDPM_COURSE_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    args = ["--out", str(out), "--batch-size", "64", "--n-samples", "50", "--sample-steps", "2", "--no-progress", "--device", "cpu",
            "--ckpt-every", "0"]
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "--no-python",
                             str(DEMO), *args, "--steps", "1000000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=tmp_path)
    said = []
    for line in proc.stdout:
        said.append(line)
        if line.startswith("training:") and "s per step" in line: break
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=300)
    ck = load_checkpoint(out / "latest.pt")
    step = ck["step"]
    assert proc.returncode != 0 and 0 < step < 1000000, (proc.returncode, "".join(said) + rest, err)
    assert ck["history"]["step"] == list(range(1, step + 1)) and ck["config"]["batch_size"] == 64
    msg = f"SIGTERM at step {step}: stopped after writing {out / 'latest.pt'}; continue with the same command and --resume"
    assert err.count(msg) == 1, err                                          # rank 0 speaks; rank 1 stopped at the same step
    assert not (out / "samples.npy").exists()
    r = subprocess.run([str(DEMO), *args, "--steps", str(step + 3), "--resume"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and f"resumed {out / 'latest.pt'} at step {step}" in r.stdout, (r.stdout, r.stderr)
    ck2 = load_checkpoint(out / "latest.pt")
    assert ck2["step"] == step + 3 and ck2["history"]["loss"][:step] == ck["history"]["loss"]
