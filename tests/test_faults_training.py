"""Faults of a training run that need a process of their own: SIGTERM and Ctrl-C (SIGINT) during Trainer.fit.

A child process trains a small toy run and sends itself the signal from a callback, before the first periodic
checkpoint (or with ckpt_every=0). The checkpoint it leaves must load, say the step it stopped at, and resume to
the same weights as an uninterrupted run."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

SETUP = textwrap.dedent('''
    import os, signal, sys, torch
    from ddpm_course.core import seed_everything
    from ddpm_course.data import SwissRoll2D
    from ddpm_course.mlp import ResidualMLP
    from ddpm_course.schedules import make_schedule
    from ddpm_course.training import Trainer, load_checkpoint
    CFG = dict(dim=2, hidden=16, depth=1, emb_dim=8)
    def trainer(ckpt_dir=None, ckpt_every=0, callbacks=()):
        seed_everything(0)
        return Trainer(ResidualMLP(**CFG), SwissRoll2D(), make_schedule("linear", 100), steps=12, batch_size=16, warmup=2,
                       device="cpu", progress=False, net_config=CFG, ckpt_dir=ckpt_dir, ckpt_every=ckpt_every,
                       callbacks=callbacks)
''')

CHILD = SETUP + textwrap.dedent('''
    ckpt_dir, ckpt_every, sig, at, times = sys.argv[1], int(sys.argv[2]), getattr(signal, sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    def send(tr, rec):
        if rec["step"] == at:
            for _ in range(times): os.kill(os.getpid(), sig)
    tr = trainer(ckpt_dir, ckpt_every, (send,))
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    try:
        tr.fit()
        print("RETURNED", tr.step, tr.interrupted, "|", tr.stopped)
    except KeyboardInterrupt as err:
        print("KEYBOARDINTERRUPT", tr.step, "|", err)
    print("RESTORED", (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before)
''')


def child(tmp_path, ckpt_every, sig, at, times=1):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), str(ckpt_every), sig, str(at), str(times)],
                       capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def uninterrupted_and_resumed(tmp_path):
    "(state of a 12-step run in one go, state of a run resumed from tmp_path / latest.pt), in this process."
    ns = {}
    exec(SETUP, ns)
    whole = ns["trainer"]().fit()
    torch.manual_seed(123)                                 # other global RNG state: the checkpoint must restore it
    resumed = ns["trainer"](tmp_path / "resumed").resume(tmp_path / "latest.pt").fit()
    return whole, resumed


@pytest.mark.parametrize("ckpt_every", [0, 10])
def test_sigterm_saves_and_resumes(tmp_path, ckpt_every):
    out = child(tmp_path, ckpt_every, "SIGTERM", at=3)
    # the step is finished, latest.pt is written (no periodic one was due yet), its path is printed, fit returns
    assert f"SIGTERM at step 3: the step was finished, the checkpoint is {tmp_path / 'latest.pt'}" in out, out
    assert "RETURNED 3 SIGTERM | SIGTERM at step 3" in out and "RESTORED True" in out, out
    ns = {}
    exec(SETUP, ns)
    ck = ns["load_checkpoint"](tmp_path / "latest.pt")
    assert ck["step"] == 3 and ck["stopped"] is None        # a signal is not the end of the run
    whole, resumed = uninterrupted_and_resumed(tmp_path)
    assert resumed.step == whole.step == 12
    for k, v in whole.net.state_dict().items(): assert torch.equal(resumed.net.state_dict()[k], v), k
    for k, v in whole.ema.shadow.items(): assert torch.equal(resumed.ema.shadow[k], v), k
    assert resumed.history["loss"] == whole.history["loss"]


def test_sigint_saves_then_raises(tmp_path):
    out = child(tmp_path, 0, "SIGINT", at=4)
    assert f"SIGINT at step 4: the step was finished, the checkpoint is {tmp_path / 'latest.pt'}" in out, out
    assert "KEYBOARDINTERRUPT 4 | SIGINT at step 4" in out and "RESTORED True" in out, out
    ns = {}
    exec(SETUP, ns)
    assert ns["load_checkpoint"](tmp_path / "latest.pt")["step"] == 4


def test_second_sigint_aborts_at_once(tmp_path):
    out = child(tmp_path, 0, "SIGINT", at=4, times=2)
    assert "KEYBOARDINTERRUPT 4 | a second SIGINT: training stopped at once, without a checkpoint" in out, out
    assert "RESTORED True" in out, out
    assert not (tmp_path / "latest.pt").exists()


def test_no_ckpt_dir_says_so(tmp_path):
    code = SETUP + textwrap.dedent('''
        def send(tr, rec):
            if rec["step"] == 2: os.kill(os.getpid(), signal.SIGTERM)
        tr = trainer(None, 0, (send,)).fit()
        print("RETURNED", tr.step, "|", tr.stopped)
        tr.fit()                                                    # run() again continues the interrupted run
        print("CONTINUED", tr.step, tr.stopped)
    ''')
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "RETURNED 2 | SIGTERM at step 2: the step was finished, no checkpoint was written (no ckpt_dir)" in p.stdout, p.stdout
    assert "CONTINUED 12 None" in p.stdout, p.stdout


def test_handlers_only_in_the_main_thread(tmp_path):
    "fit() in another thread trains and leaves the process's handlers alone (Python allows them only in the main thread)."
    ns = {}
    exec(SETUP, ns)
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    seen, errors = [], []
    def work():
        try:
            tr = ns["trainer"](tmp_path, 0, (lambda t, rec: seen.append(signal.getsignal(signal.SIGTERM)),))
            tr.fit(until=3)
        except BaseException as err: errors.append(err)
    th = threading.Thread(target=work); th.start(); th.join()
    assert not errors, errors
    assert seen and all(h is before[1] for h in seen)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert ns["load_checkpoint"](tmp_path / "latest.pt")["step"] == 3
