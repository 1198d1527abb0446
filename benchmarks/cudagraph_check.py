"""A check that the Trainer trains under torch.compile(mode="reduce-overhead") (CUDA graphs) across log steps, with
or without gradient accumulation (--grad-accum): every step's loss is recorded, finite, and the loss falls. Run on a GPU:

  python benchmarks/cudagraph_check.py --out benchmarks/results/cudagraph_check_cuda.txt
"""
import argparse, math, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ddpm_course.core import seed_everything
from ddpm_course.gpu import DeviceImages
from ddpm_course.schedules import make_schedule
from ddpm_course.training import Trainer, smooth
from ddpm_course.unet import unet_preset

p = argparse.ArgumentParser(); p.add_argument("--out", default=None); p.add_argument("--steps", type=int, default=150); p.add_argument("--grad-accum", type=int, default=1)
a = p.parse_args()
seed_everything(0)
data = DeviceImages(torch.randint(0, 256, (4096, 1, 28, 28), dtype=torch.uint8), device="cuda")
tr = Trainer(unet_preset("tiny"), data, make_schedule("linear", 1000), batch_size=128, steps=a.steps, warmup=20, progress=False,
             device="cuda", autocast_dtype=torch.bfloat16, channels_last=True, compile_mode="reduce-overhead", grad_accum=a.grad_accum, log_every=25)
t0 = time.perf_counter(); tr.fit(); secs = time.perf_counter() - t0
h = tr.history["loss"]
lines = [f"# torch {torch.__version__}, {torch.cuda.get_device_name()}: tiny UNet, bf16 + channels_last + compile(mode='reduce-overhead'), "
         f"grad_accum {a.grad_accum}, log_every 25, {a.steps} steps in {secs:.0f} s (compile included)",
         f"steps recorded {len(h)} of {tr.step}; all finite {all(map(math.isfinite, h))}; "
         f"smoothed loss at step 25 {smooth(h)[24]:.4f}, at the end {smooth(h)[-1]:.4f}"]
print("\n".join(lines))
if a.out: Path(a.out).write_text("\n".join(lines) + "\n")
