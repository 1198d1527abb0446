"""Train the small MNIST UNet of chapter 09 for longer and write the checkpoint that the chapter samples from.

    python tools/make_checkpoint.py              # writes nbs/checkpoints/mnist14_unet.pt

The run: `ddpm_course.sampling.mnist14_trainer` (chapter 08's Trainer, the UNet `MNIST14_NET` of 190,369 parameters,
epsilon-prediction, linear schedule with T = 1000) on all 60,000 MNIST training digits downsampled to 14 x 14, batch 32,
3,000 steps, peak learning rate 2e-3 with 100 warm-up steps and cosine decay, EMA decay 0.995, seed 0, on the CPU with
one thread. The notebook's own run in front of the reader is the same network with 400 steps on 10,000 digits.

The file holds what sampling needs (`ema_checkpoint`): step, config, the EMA weights, the loss per step and the
schedule's alpha_bar, 0.87 MB; it loads with `torch.load(path, weights_only=True)`, i.e. `load_checkpoint(path)`,
and `load_denoiser(path)` turns it into a denoiser D(x, sigma). With one CPU thread the run is deterministic for a
given PyTorch version; other versions and other machines give another network of the same quality.

Measured: `python tools/make_checkpoint.py` took 3.9 minutes (wall and CPU) on one core of an Intel Xeon server CPU
(one thread, PyTorch 2.11, no other load), smoothed loss 0.034; about 13 steps of 32 digits per second. A loaded
laptop core takes longer, in proportion to its speed.
"""
import argparse
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = dict(steps=3000, batch_size=32, lr=2e-3, warmup=100, ema_decay=0.995, n=None, seed=0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "nbs" / "checkpoints" / "mnist14_unet.pt", help="where the checkpoint goes")
    p.add_argument("--steps", type=int, default=RUN["steps"], help="optimiser steps (default %(default)s)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, mps, ...")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: deterministic, and what the timing above used)")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch
    torch.set_num_threads(args.threads)
    from ddpm_course.sampling import mnist14_trainer, ema_checkpoint
    from ddpm_course.training import save_checkpoint, smooth

    trainer = mnist14_trainer(**{**RUN, "steps": args.steps}, device=args.device, progress={"mininterval": 10.0})
    wall, cpu = time.perf_counter(), time.process_time()
    trainer.fit()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    path = save_checkpoint(args.out, ema_checkpoint(trainer))
    print(f"{trainer.step} steps of {trainer.batch_size} digits in {wall / 60:.1f} min wall, {cpu / 60:.1f} min CPU "
          f"on {trainer.device} ({args.threads} thread(s)); smoothed loss {smooth(trainer.history['loss'])[-1]:.4f}; "
          f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
