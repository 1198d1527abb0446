"""CPU smoke tests of the throughput benchmarks: each script runs end to end at its tiny size (not a timed test: the figures
printed on a CPU mean nothing), prints a row per installed contender and the ratio lines, and saves what it printed."""
import importlib.util, os, re, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
PEERS = {"diffusers": "diffusers", "lucidrains": "denoising_diffusion_pytorch"}   # contender -> module
SMOKE = ["--tiny", "--device", "cpu", "--rounds", "2", "--steps", "2", "--warmup", "1", "--batch-size", "4",
         "--modes", "fp32", "--project-modes", ""]     # no compile: CPU inductor takes minutes; the GPU run covers it
NUMBER = r"\d+(\.\d+)?"


def installed(contender: str) -> bool:
    return contender not in PEERS or importlib.util.find_spec(PEERS[contender]) is not None


def run_script(name: str, out: Path, *extra: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    p = subprocess.run([sys.executable, str(BENCH / name), *SMOKE, *extra, "--out", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"{name} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p.stdout


def check_saved(stdout: str, out: Path):
    "The file holds exactly the lines printed before the closing '(saved to ...)'."
    assert out.is_file()
    printed = stdout.split("(saved to ")[0]
    assert out.read_text() == printed


def test_train_throughput_smoke(tmp_path):
    out = tmp_path / "train.txt"
    stdout = run_script("train_throughput.py", out)
    check_saved(stdout, out)
    for c in ("project", "bare", "diffusers", "lucidrains"):
        row = re.compile(rf"^{c} +fp32 +{NUMBER} +\({NUMBER} - {NUMBER}\) +n/a +n/a +- +{NUMBER}M$", re.M)
        if installed(c): assert row.search(stdout), f"no table row for {c}:\n{stdout}"
        else: assert f"skipped {c}: not importable" in stdout
    for c in ("diffusers", "lucidrains", "bare"):
        if installed(c): assert re.search(rf"^project/{c} {NUMBER}x  \(project fp32 ", stdout, re.M), f"no ratio line project/{c}:\n{stdout}"
    assert "MFU: n/a" in stdout          # MFU is defined for the 32 px cifar10 size only
    assert "note: this Trainer" not in stdout or "measured without it" in stdout


def test_sample_throughput_smoke(tmp_path):
    out = tmp_path / "sample.txt"
    stdout = run_script("sample_throughput.py", out, "--nfe", "2")
    check_saved(stdout, out)
    for c in ("project", "diffusers", "lucidrains"):
        for kind in ("net", "ddim"):
            row = re.compile(rf"^{c} {kind} +fp32 +{NUMBER} +\({NUMBER} - {NUMBER}\) +n/a +n/a +- +{NUMBER}M$", re.M)
            if installed(c): assert row.search(stdout), f"no table row for {c} {kind}:\n{stdout}"
        if installed(c):
            assert re.search(rf"^{c} DDIM-2 end to end / 2 forward passes \(fp32\): {NUMBER}x the time$", stdout, re.M)
    for c in ("diffusers", "lucidrains"):
        for kind in ("net", "ddim"):
            if installed(c): assert re.search(rf"^project/{c} {kind} {NUMBER}x  \(", stdout, re.M), f"no ratio project/{c} {kind}"


def test_modes_parse():
    sys.path.insert(0, str(BENCH))
    try: from train_throughput import parse_mode, parse_modes
    finally: sys.path.remove(str(BENCH))
    for text in ("fp32", "bf16", "bf16+compile", "bf16+compile+cl", "bf16+compile=reduce-overhead+cl",
                 "fp16+compile=max-autotune-no-cudagraphs"):
        assert parse_mode(text).label == text                    # a label reads back as the same mode
    assert parse_mode("bf16+compile=default").label == "bf16+compile"
    assert parse_mode("bf16+compile=reduce-overhead").cudagraphs and not parse_mode("bf16+compile").cudagraphs
    assert len(parse_modes("fp32,bf16+cl,")) == 2
    for bad in ("bf17", "bf16+compile=fastest", "bf16+nhwc"):
        with pytest.raises(ValueError): parse_mode(bad)
