"""The measurements that chapter 14 (GPU training) shows besides the training throughput of train_throughput.py.

  1. data paths: batches per second of DeviceImages (the whole uint8 set on the GPU, flips there) against a
     DataLoader over the same uint8 set in host memory (random flip in the workers; num_workers, pin_memory and
     persistent_workers set), each batch ending as a float tensor in [-1, 1] on the GPU;
  2. host syncs: the Trainer on the small `tiny` UNet (where launches, not arithmetic, bound a step) with
     log_every=1 (a sync every step) against log_every=50, eager and compiled, bf16;
  3. the largest batch that fits: largest_batch(cuda_memory_fits(step)) on the cifar10 preset UNet, bf16 + channels_last;
  4. float16 with its loss scale for a few hundred steps: the scale and whether every loss stayed finite.

Images are random uint8 (throughput does not depend on their content). Contenders of 1 and 2 are interleaved in
rounds and the median is reported. Run on a GPU:

  python benchmarks/gpu_chapter.py --out benchmarks/results/gpu_chapter_cuda.txt
"""
from __future__ import annotations
import argparse, json, statistics, sys, time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ddpm_course.core import seed_everything, make_generator
from ddpm_course.gpu import DeviceImages, largest_batch, cuda_memory_fits
from ddpm_course.schedules import make_schedule
from ddpm_course.training import Trainer
from ddpm_course.unet import unet_preset

LINES = []
def say(*a):
    s = " ".join(str(x) for x in a); print(s, flush=True); LINES.append(s)

def sync(dev):
    if dev.type == "cuda": torch.cuda.synchronize(dev)

class FlipU8(torch.utils.data.Dataset):
    "uint8 images in host memory; __getitem__ flips at random, as a CPU augmentation pipeline would."
    def __init__(self, u8): self.u8 = u8
    def __len__(self): return len(self.u8)
    def __getitem__(self, i):
        x = self.u8[i]
        return x.flip(-1) if torch.rand(()) < 0.5 else x

def loader_batches(u8, B, workers, dev):
    dl = torch.utils.data.DataLoader(FlipU8(u8), batch_size=B, shuffle=True, drop_last=True, num_workers=workers,
                                     pin_memory=dev.type == "cuda", persistent_workers=workers > 0)
    while True:
        for x in dl: yield x.to(dev, non_blocking=True).float().div_(127.5).sub_(1.0)

def data_paths(dev, B, n, rounds, per_round, workers):
    u8 = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8)
    on_dev = DeviceImages(u8, device=dev)
    g = make_generator(0, dev)
    feeds = {"DeviceImages": iter(lambda: on_dev.sample(B, g), None),
             f"DataLoader (workers={workers}, pin_memory, persistent)": loader_batches(u8, B, workers, dev)}
    for f in feeds.values():
        for _ in range(20): next(f)
    rates = {k: [] for k in feeds}
    for _ in range(rounds):
        for k, f in feeds.items():
            sync(dev); t0 = time.perf_counter()
            for _ in range(per_round): x = next(f)
            sync(dev); rates[k].append(per_round * B / (time.perf_counter() - t0))
    say(f"\n## 1. data paths: images per second delivered to the GPU as float in [-1, 1], batch {B}, {n:,} uint8 images 3x32x32")
    for k, r in rates.items(): say(f"  {k:<48} {statistics.median(r):>14,.0f} img/s")
    med = {k: statistics.median(r) for k, r in rates.items()}
    k0, k1 = list(med)
    say(f"  DeviceImages / DataLoader {med[k0] / med[k1]:.1f}x")
    return med

def host_syncs(dev, B, rounds, steps):
    sched = make_schedule("linear", 1000)
    data = DeviceImages(torch.randint(0, 256, (4096, 1, 28, 28), dtype=torch.uint8), device=dev)
    runs = {}
    for compile in (False, True):
        for log_every in (1, 50):
            seed_everything(0)
            tr = Trainer(unet_preset("tiny"), data, sched, batch_size=B, steps=10**6, warmup=10, progress=False, device=dev,
                         autocast_dtype=torch.bfloat16, channels_last=True, compile=compile, log_every=log_every)
            t0 = time.perf_counter()
            for _ in range(100): tr.train_step()
            sync(dev)
            runs[(compile, log_every)] = (tr, time.perf_counter() - t0)
    rates = {k: [] for k in runs}
    for _ in range(rounds):
        for k, (tr, _) in runs.items():
            sync(dev); t0 = time.perf_counter()
            for _ in range(steps): tr.train_step()
            sync(dev); rates[k].append(steps * B / (time.perf_counter() - t0))
    say(f"\n## 2. host syncs: the tiny UNet ({sum(p.numel() for p in runs[(False, 1)][0].net.parameters()):,} parameters, 28 px), "
        f"batch {B}, bf16 + channels_last, images per second")
    for (c, le), r in rates.items():
        say(f"  {'compiled' if c else 'eager':<9} log_every={le:<3} {statistics.median(r):>10,.0f} img/s   (warm-up of 100 steps: {runs[(c, le)][1]:.1f} s)")
    for c in (False, True):
        say(f"  {'compiled' if c else 'eager'}: log_every=50 / log_every=1 {statistics.median(rates[(c, 50)]) / statistics.median(rates[(c, 1)]):.2f}x")
    return {f"{'compiled' if c else 'eager'} log_every={le}": statistics.median(r) for (c, le), r in rates.items()}

def auto_batch(dev, hi):
    sched = make_schedule("linear", 1000)
    data = DeviceImages(torch.randint(0, 256, (4096, 3, 32, 32), dtype=torch.uint8), device=dev)
    probes = []
    def step(b):
        probes.append(b)
        seed_everything(0)
        tr = Trainer(unet_preset("cifar10"), data, sched, batch_size=b, steps=10, warmup=1, progress=False, device=dev,
                     autocast_dtype=torch.bfloat16, channels_last=True, log_every=10)
        for _ in range(2): tr.train_step()
    t0 = time.perf_counter()
    best = largest_batch(cuda_memory_fits(step, dev, headroom=0.9), hi=hi, multiple=8)
    total = torch.cuda.get_device_properties(dev).total_memory
    say(f"\n## 3. the largest batch: cifar10 preset (35.7M), bf16 + channels_last, eager, peak under 90% of {total / 2**30:.0f} GiB")
    say(f"  largest_batch -> {best} (searched up to {hi}) in {len(probes)} probes {probes}, {time.perf_counter() - t0:.0f} s")
    return {"best": best, "probes": probes}

def fp16(dev, steps):
    sched = make_schedule("linear", 1000)
    data = DeviceImages(torch.randint(0, 256, (4096, 1, 28, 28), dtype=torch.uint8), device=dev)
    seed_everything(0)
    tr = Trainer(unet_preset("tiny"), data, sched, batch_size=128, steps=steps, warmup=20, progress=False, device=dev,
                 autocast_dtype=torch.float16, channels_last=True, log_every=25).fit()
    finite = all(map(lambda v: v == v and abs(v) != float("inf"), tr.history["loss"]))
    say(f"\n## 4. float16 + GradScaler, tiny UNet, {steps} steps: every loss finite: {finite}; final loss scale {tr.scaler.get_scale():g}; "
        f"smoothed loss {tr.early['smooth'] / (1 - 0.98 ** tr.step):.4f}")
    return {"finite": finite, "scale": tr.scaler.get_scale()}

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", default=None, help="text results (a .json with the numbers is written beside it)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--hi", type=int, default=8192, help="largest batch the search tries")
    p.add_argument("--parts", default="1,2,3,4")
    a = p.parse_args(argv)
    dev = torch.device(a.device)
    if dev.type == "cuda": torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    say(f"# chapter 14 measurements: torch {torch.__version__}, "
        f"{torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'CPU'}; command: python benchmarks/gpu_chapter.py {' '.join(argv or sys.argv[1:])}")
    parts, res = a.parts.split(","), {}
    if "1" in parts: res["data"] = data_paths(dev, 128, 50_000, a.rounds, 200, a.workers)
    if "2" in parts: res["syncs"] = host_syncs(dev, 128, a.rounds, 100)
    if "3" in parts and dev.type == "cuda": res["auto_batch"] = auto_batch(dev, a.hi)
    if "4" in parts: res["fp16"] = fp16(dev, 300)
    if a.out:
        out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(LINES) + "\n"); out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")

if __name__ == "__main__":
    main()
