"""Train the cifar10 preset (DDPM's 35.7M UNet) on CIFAR-10 to a measured Inception FID, on one GPU, within a wall-clock budget.

The run resumes from its own checkpoint, so a long training can be chained over several calls:

  python benchmarks/train_cifar10.py --pack .data/cifar10 --data ../shared/data/cifar10-jpeg/train   # uint8 shards, once
  python benchmarks/train_cifar10.py --data .data/cifar10 --ckpt-dir .runs/cifar10 --minutes 8 --out results_dir
  python benchmarks/train_cifar10.py --data .data/cifar10 --ckpt-dir .runs/cifar10 --minutes 8 --out results_dir   # goes on

What it does: the whole uint8 training set on the GPU (`ddpm_course.gpu.DeviceImages`, random flips there), the
course's Trainer in bf16 with torch.compile (CUDA graphs) and channels-last, an EMA with a half-life in images,
the FID of `--fid-samples` DDIM samples of the EMA weights every `--fid-every` steps against the Inception statistics
of the training set (computed once and cached beside the checkpoint), best.pt by FID, and at the end of the budget
the FID of `--final-samples` samples and a sample grid. The small outputs (fid_log.json, fid.png, samples.png, the
printed log) go to `--out`.

  python benchmarks/train_cifar10.py --tiny --device cpu --minutes 0.5 --out /tmp/c10     # a CPU smoke test
"""
from __future__ import annotations
import argparse, copy, json, math, sys, time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ddpm_course.core import seed_everything, make_generator, image_grid
from ddpm_course.data import image_uint8
from ddpm_course.ddim import ddim_step, ddim_timesteps, sigmas_from_timesteps
from ddpm_course.gpu import DeviceImages, ema_decay_for
from ddpm_course.metrics import inception_fid, inception_stats
from ddpm_course.sampling import sample
from ddpm_course.schedules import make_schedule
from ddpm_course.training import Trainer, VPDenoiser, evaluate_every, smooth
from ddpm_course.unet import unet_preset

LOG = []
def say(*a):
    s = " ".join(str(x) for x in a); print(s, flush=True); LOG.append(s)

def pack(src: str, out: str, shard_mib: int = 28):
    "The image folder at `src` as uint8 (N, 3, 32, 32) shards of about `shard_mib` MiB each (npz), with labels."
    x, y = (t.numpy() for t in image_uint8(src, size=32, num_workers=8, fallback=False, progress=True))
    Path(out).mkdir(parents=True, exist_ok=True)
    per = max(1, shard_mib * 2**20 // x[0].nbytes)          # images per shard (decoded pixels compress little)
    for k, lo in enumerate(range(0, len(x), per)):
        np.savez_compressed(Path(out) / f"shard_{k:02d}.npz", x=x[lo:lo + per], y=y[lo:lo + per])
    say(f"packed {len(x)} images of {src} into {math.ceil(len(x) / per)} shards in {out}")

def load(data: str) -> torch.Tensor:
    "uint8 (N, 3, 32, 32) from a folder of shards written by pack, or from an image folder (chapter 01's reader)."
    shards = sorted(Path(data).glob("shard_*.npz"))
    if shards: return torch.from_numpy(np.concatenate([np.load(s)["x"] for s in shards]))
    return image_uint8(data, size=32, num_workers=8, fallback=False, progress=True)[0]

@torch.no_grad()
def ddim_samples(net, sched, n: int, steps: int, batch: int, device, seed: int, shape, bf16: bool) -> torch.Tensor:
    "n images in [-1, 1] from DDIM (eta 0) on the EMA network, per-batch seeds (the same n images whatever runs before)."
    D = VPDenoiser(net, sched).eval()
    grid = sigmas_from_timesteps(sched, ddim_timesteps(len(sched.alpha_bar) - 1, steps))
    out = []
    for i, lo in enumerate(range(0, n, batch)):
        b = min(batch, n - lo)
        noise = torch.randn((b, *shape), generator=make_generator(seed + i, device), device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out.append(sample(ddim_step, D, grid, noise).float().clamp(-1, 1))
    return torch.cat(out)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cifar10-jpeg" / "train"))
    p.add_argument("--pack", default=None, help="write uint8 shards of --data into this folder and exit")
    p.add_argument("--ckpt-dir", default=str(ROOT / ".runs" / "cifar10"))
    p.add_argument("--out", default=None, help="folder for the small outputs")
    p.add_argument("--device", default="cuda")
    p.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget of this call (training stops, FID at the end)")
    p.add_argument("--steps", type=int, default=200_000, help="the run's total steps (the cosine ends there)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--ema-half-life-kimg", type=float, default=500.0, help="EMA half-life in thousands of images (EDM's CIFAR-10 value)")
    p.add_argument("--fid-every", type=int, default=5000)
    p.add_argument("--fid-samples", type=int, default=2000)
    p.add_argument("--final-samples", type=int, default=10_000)
    p.add_argument("--fid-steps", type=int, default=50, help="DDIM steps of the FID samples")
    p.add_argument("--compile-mode", default="reduce-overhead")
    p.add_argument("--tiny", action="store_true", help="a tiny UNet on random 16 px images: a smoke test of the pipeline")
    a = p.parse_args(argv)
    if a.pack: return pack(a.data, a.pack)
    dev = torch.device(a.device)
    if dev.type == "cuda": torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    seed_everything(0)
    if a.tiny:
        u8 = torch.randint(0, 256, (256, 3, 16, 16), dtype=torch.uint8, generator=make_generator(0))
        net = unet_preset("tiny", in_channels=3, image_size=16, channel_mult=(1, 2), base_channels=16, groups=4)
    else:
        u8, net = load(a.data), unet_preset("cifar10")
    say(f"# train_cifar10: {len(u8):,} images {tuple(u8.shape[1:])}, torch {torch.__version__}, "
        f"{torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'CPU'}; {sum(p.numel() for p in net.parameters()):,} parameters")
    ckpt = Path(a.ckpt_dir); ckpt.mkdir(parents=True, exist_ok=True)
    ref = ckpt / "ref_stats.npz"
    fid_kw = dict(device=dev, batch_size=250, allow_singular=a.tiny)
    if not ref.exists():
        t0 = time.perf_counter()
        mu, S = inception_stats(u8, **fid_kw)
        np.savez(ref, mu=mu.numpy(), sigma=S.numpy())
        say(f"reference Inception statistics of the {len(u8):,} training images in {time.perf_counter() - t0:.0f} s -> {ref}")
    sched, shape = make_schedule("linear", 1000), tuple(u8.shape[1:])
    gpu = dev.type == "cuda"
    def fid_of(trainer, n=None):
        ema_net = copy.deepcopy(trainer.net); trainer.ema.copy_to(ema_net)
        x = ddim_samples(ema_net, sched, n or a.fid_samples, a.fid_steps, 500, dev, 10_000, shape, gpu)
        return float(inception_fid(x, str(ref), **fid_kw))
    decay = ema_decay_for(a.ema_half_life_kimg * 1000, a.batch_size)
    budget, t0 = a.minutes * 60, time.perf_counter()              # the clock of this call's training (compile included)
    tr = Trainer(net, DeviceImages(u8, device=dev), sched, batch_size=a.batch_size, steps=a.steps, lr=a.lr, warmup=a.warmup,
                 ema_decay=decay, grad_clip=1.0, device=dev, ckpt_dir=ckpt, ckpt_every=1000, progress=False,
                 log_every=100 if gpu else 10, autocast_dtype=torch.bfloat16 if gpu else None, channels_last=gpu,
                 compile_mode=a.compile_mode if gpu else None,
                 callbacks=[evaluate_every(fid_of, a.fid_every, name="fid"),
                            lambda trainer, rec: time.perf_counter() - t0 > budget])
    if (ckpt / "latest.pt").exists():
        tr.resume(ckpt / "latest.pt"); tr.stopped = None            # a budget stop is not the end of the run
        say(f"resumed at step {tr.step}")
    s0 = tr.step
    tr.fit()
    secs = time.perf_counter() - t0
    say(f"trained steps {s0} -> {tr.step} in {secs:.0f} s ({(tr.step - s0) * a.batch_size / max(secs, 1e-9):,.0f} img/s, "
        f"compile and FID evaluations included); smoothed loss {smooth(tr.history['loss'])[-1]:.4f}")
    for s, t, v in tr.history.get("fid", [])[-5:]: say(f"  FID({a.fid_samples} samples, DDIM-{a.fid_steps}) at step {s}: {v:.2f} ({t / 60:.1f} min of training)")
    final = fid_of(tr, a.final_samples)
    say(f"final FID: {final:.2f} from {a.final_samples:,} DDIM-{a.fid_steps} samples of the EMA weights at step {tr.step}, "
        f"against the {len(u8):,} training images")
    if a.out:
        out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
        json.dump(dict(fid=tr.history.get("fid", []), final=dict(step=tr.step, samples=a.final_samples, fid=final),
                       loss=tr.history["loss"][::100]), open(out / "fid_log.json", "w"), indent=1)
        import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
        ema_net = copy.deepcopy(tr.net); tr.ema.copy_to(ema_net)
        grid = image_grid(ddim_samples(ema_net, sched, 64, a.fid_steps, 64, dev, 7, shape, gpu).cpu())
        plt.imsave(out / "samples.png", grid.squeeze())
        h = tr.history.get("fid", [])
        if h:
            fig, ax = plt.subplots(figsize=(5, 3.2))
            ax.plot([t / 60 for _, t, _ in h], [v for _, _, v in h], "o-")
            ax.set(xlabel="training minutes", ylabel=f"FID ({a.fid_samples} samples)", yscale="log"); fig.tight_layout()
            fig.savefig(out / "fid.png", dpi=120)
        (out / "log.txt").write_text("\n".join(LOG) + "\n")

if __name__ == "__main__":
    main()
