"""Sample quality against number of sampling steps on MNIST: DDPM and DDIM (eta 0 and 1), EMA and raw weights.

A small reproduction of Song et al. 2021 (DDIM), Table 1, measured with the COURSE FID: the Frechet distance between
the penultimate features of a small MNIST classifier (ddpm_course.metrics), NOT comparable with Inception FID.

It trains chapter 07's `tiny` UNet on the 60,000 MNIST training digits (chapter 08's Trainer, EMA), trains the course
classifier, draws --n-samples digits per setting with chapter 09's ddpm_step (variance beta_t: Song et al.'s sigma-hat)
and chapter 10's ddim_step (eta = 0, 1) on S of the T = 1000 steps (ddim_timesteps), and scores each set against the
10,000 test digits (course FID and KID). Writes metrics_ddim_mnist.{json,md,png} into --out.

  python benchmarks/metrics_ddim_mnist.py --out benchmarks/results              # one H100: about 7 minutes
  python benchmarks/metrics_ddim_mnist.py --pack .devdata/mnist.npz               # pack MNIST as uint8 arrays (11 MB)
  python benchmarks/metrics_ddim_mnist.py --data .devdata/mnist.npz --out $OUT    # read the packed arrays
  python benchmarks/metrics_ddim_mnist.py --width 8 --train-steps 20 --n-samples 100 --steps 2 5 --no-1000 \\
      --classifier-steps 50 --out /tmp/dry                                         # a CPU dry run (a minute)
"""
from __future__ import annotations
import argparse, copy, json, math, platform, sys, time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a clone without installing
from ddpm_course.core import get_device, make_generator, show_images
from ddpm_course.data import image_tensor
from ddpm_course.schedules import make_schedule
from ddpm_course.unet import unet_preset
from ddpm_course.training import Trainer, VPDenoiser
from ddpm_course.sampling import sample, ddpm_step
from ddpm_course.ddim import ddim_step, ddim_timesteps, sigmas_from_timesteps
from ddpm_course.metrics import (train_course_classifier, classifier_accuracy, classifier_features, fid_from_features,
                                 sample_quality)

METHODS = {   # name -> (step rule, its keyword arguments)
    "DDIM (eta = 0)": (ddim_step, dict(eta=0.0)),
    "DDIM (eta = 1)": (ddim_step, dict(eta=1.0)),
    "DDPM (sigma-hat, variance beta_t)": (ddpm_step, dict(variance="beta")),
}
SHORT = {"DDIM (eta = 0)": "DDIM eta=0", "DDIM (eta = 1)": "DDIM eta=1", "DDPM (sigma-hat, variance beta_t)": "DDPM sigma-hat"}


def load_mnist(data: str | None):
    "(x_train, y_train, x_test, y_test): images float32 (N, 1, 28, 28) in [-1, 1], labels long."
    if data is None:
        x, y = image_tensor("mnist", train=True)
        xt, yt = image_tensor("mnist", train=False)
        return x, y, xt, yt
    z = np.load(data)
    f = lambda a: torch.from_numpy(z[a]).float()[:, None] / 127.5 - 1
    return f("x_train"), torch.from_numpy(z["y_train"]).long(), f("x_test"), torch.from_numpy(z["y_test"]).long()


def pack(path: str):
    "Write MNIST (from DDPM_COURSE_DATA) as compressed uint8 arrays: about 11 MB, small enough to copy to another machine."
    x, y, xt, yt = load_mnist(None)
    u8 = lambda a: ((a[:, 0] + 1) * 127.5).round().to(torch.uint8).numpy()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, x_train=u8(x), y_train=y.numpy().astype(np.uint8), x_test=u8(xt), y_test=yt.numpy().astype(np.uint8))
    print(f"wrote {path} ({Path(path).stat().st_size / 2**20:.1f} MiB)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None, help="a .npz written by --pack (default: MNIST from DDPM_COURSE_DATA)")
    p.add_argument("--pack", default=None, help="write the packed MNIST .npz to this path and exit")
    p.add_argument("--out", default="benchmarks/results", help="folder of the results")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: the best available)")
    p.add_argument("--width", type=int, default=32, help="base_channels of the tiny UNet (32: the preset)")
    p.add_argument("--train-steps", type=int, default=15000, help="UNet optimiser steps (at most)")
    p.add_argument("--train-seconds", type=float, default=200.0, help="fewer steps if the measured speed needs more than this")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ema-decay", type=float, default=0.999)
    p.add_argument("--classifier-steps", type=int, default=2000)
    p.add_argument("--n-samples", type=int, default=2000, help="samples per setting (the course FID needs > 64)")
    p.add_argument("--steps", type=int, nargs="+", default=[10, 20, 50, 100], help="numbers of sampling steps S")
    p.add_argument("--no-1000", action="store_true", help="skip the S = 1000 runs")
    p.add_argument("--spacing", default="trailing", help="ddim_timesteps spacing: trailing, leading or linspace")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-limit", type=float, default=480.0, help="skip sampling settings that would end after this many seconds")
    a = p.parse_args(argv)
    if a.pack: return pack(a.pack)

    t_start = time.perf_counter()
    elapsed = lambda: time.perf_counter() - t_start
    dev = get_device(a.device)
    if dev.type == "cuda": torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    x, y, xt, yt = load_mnist(a.data)
    print(f"device {dev} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else platform.processor() or 'cpu'}), "
          f"torch {torch.__version__}; MNIST {tuple(x.shape)} train, {tuple(xt.shape)} test", flush=True)

    # 1. the feature network of the course FID
    clf = train_course_classifier("mnist", steps=a.classifier_steps, batch_size=256, seed=a.seed, device=dev, data=(x, y))
    acc = classifier_accuracy(clf, xt, yt)
    f_test = classifier_features(xt, clf).to("cpu")
    n = a.n_samples
    g = make_generator(a.seed + 1)
    floor = float(fid_from_features(classifier_features(x[torch.randperm(len(x), generator=g)[:n]], clf).cpu(), f_test))
    print(f"{clf.label}: classifier test accuracy {acc:.4f}; {n:,} training digits vs the test set: {floor:.3f} "
          f"(the floor at this n) [{elapsed():.0f} s]", flush=True)

    # 2. the diffusion model
    sched = make_schedule("linear", T=1000)
    net_cfg = dict(base_channels=a.width)
    hooks = dict(autocast_dtype=torch.bfloat16) if dev.type == "cuda" else {}
    def trainer(steps):
        torch.manual_seed(a.seed)
        return Trainer(unet_preset("tiny", **net_cfg), x, sched.alpha_bar, batch_size=a.batch, steps=steps, lr=a.lr,
                       warmup=min(200, steps // 10), ema_decay=a.ema_decay, seed=a.seed, device=dev, progress=False, **hooks)
    steps = a.train_steps
    if a.train_seconds and steps > 60:   # measure the speed, then train as many steps as fit in --train-seconds
        probe = trainer(steps)
        for _ in probe.run(10): pass
        if dev.type == "cuda": torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in probe.run(60): pass
        if dev.type == "cuda": torch.cuda.synchronize()
        per_step = (time.perf_counter() - t0) / 50
        steps = max(100, min(steps, int(a.train_seconds / per_step)))
        print(f"training speed {1 / per_step:.1f} steps/s at batch {a.batch}: {steps} steps", flush=True)
        del probe
    tr = trainer(steps)
    t0 = time.perf_counter()
    for rec in tr.run():
        if rec["step"] % max(1, steps // 5) == 0: print(f"  step {rec['step']}: smoothed loss {rec['smooth']:.4f}", flush=True)
    train_s = time.perf_counter() - t0
    raw = copy.deepcopy(tr.net).eval()
    ema = copy.deepcopy(tr.net).eval(); tr.ema.copy_to(ema)
    denoisers = {"EMA": VPDenoiser(ema, sched.alpha_bar), "raw": VPDenoiser(raw, sched.alpha_bar)}
    print(f"trained {steps} steps in {train_s:.0f} s ({tr.config['net.n_params']:,} parameters) [{elapsed():.0f} s]", flush=True)

    # 3. sampling at S steps, cheap settings first; S = 1000 last (skipped if it would overrun --time-limit)
    S_list = sorted(set(a.steps)) + ([] if a.no_1000 else [1000])
    plan = [(S, w, m) for S in S_list if S < 1000 for w in denoisers for m in METHODS]
    plan += [(1000, w, m) for w in denoisers for m in METHODS if 1000 in S_list]
    noise = torch.randn(n, 1, 28, 28, generator=make_generator(a.seed + 2)).to(dev)   # the same noise for every setting
    results, grids, nfe_s = [], {}, None
    with torch.no_grad():   # warm-up (kernel selection) outside the timings
        for D in denoisers.values(): D(noise, torch.full((n,), 1.0, dtype=torch.float64, device=dev))
    info = dict(command=" ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
                device=str(dev), device_name=torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
                torch=torch.__version__, metric=clf.label, classifier_test_accuracy=acc, classifier_steps=a.classifier_steps,
                n_samples=n, n_reference=len(f_test), floor_train_vs_test=floor, unet=dict(preset="tiny", **net_cfg),
                unet_params=tr.config["net.n_params"], train_steps=steps, batch=a.batch, lr=a.lr, ema_decay=a.ema_decay,
                train_seconds=train_s, final_smoothed_loss=tr.early["smooth"] / (1 - tr.smoothing ** tr.step),
                schedule="linear, T = 1000", spacing=a.spacing, results=results, skipped=[])
    def save():
        (out / "metrics_ddim_mnist.json").write_text(json.dumps(info, indent=1))
    for S, w, m in plan:
        if nfe_s is not None and elapsed() + 1.2 * S * nfe_s > a.time_limit:
            info["skipped"].append(dict(S=S, weights=w, method=m)); print(f"  skip S={S} {w} {m}: time limit", flush=True); continue
        step, kw = METHODS[m]
        sig = sigmas_from_timesteps(sched, ddim_timesteps(1000, S, a.spacing))
        t0 = time.perf_counter()
        with torch.no_grad():
            xs = sample(step, denoisers[w], sig, noise, generator=make_generator(a.seed + 3, dev), prior="vp", **kw).clamp(-1, 1)
        if dev.type == "cuda": torch.cuda.synchronize()
        secs = time.perf_counter() - t0
        nfe_s = secs / S   # seconds per step at n samples, from the latest (largest S so far) setting
        q = sample_quality(xs, f_test, clf, generator=make_generator(a.seed + 4))
        results.append(dict(S=S, weights=w, method=m, course_fid=q["course_fid_mnist"], course_kid=q["course_kid_mnist"],
                            course_kid_std=q["course_kid_mnist_std"], seconds=secs))
        if w == "EMA" and S in (min(S_list), max(S_list)): grids[(S, m)] = xs[:36].float().cpu()
        print(f"  S={S:4d} {w:3s} {m:34s} {clf.label} {q['course_fid_mnist']:8.3f}  KID {q['course_kid_mnist']:.4f} "
              f"({secs:.1f} s) [{elapsed():.0f} s]", flush=True)
        save()
    info["total_seconds"] = elapsed()
    save()
    write_table(info, out / "metrics_ddim_mnist.md")
    plot(info, grids, out / "metrics_ddim_mnist.png")
    print((out / "metrics_ddim_mnist.md").read_text())


def write_table(info: dict, path: Path):
    "A markdown table: one row per (method, weights), one column per S."
    S_all = sorted({r["S"] for r in info["results"]})
    lines = [f"{info['metric']} of {info['n_samples']:,} samples against the {info['n_reference']:,} MNIST test digits "
             f"(lower is better; {info['n_samples']:,} real training digits score {info['floor_train_vs_test']:.2f}, the floor "
             f"at this sample size). Not comparable with Inception FID.", "",
             "| sampler | weights | " + " | ".join(f"S = {S}" for S in S_all) + " |",
             "|---|---|" + "---:|" * len(S_all)]
    for m in METHODS:
        for w in ("EMA", "raw"):
            cell = {r["S"]: r["course_fid"] for r in info["results"] if r["method"] == m and r["weights"] == w}
            if cell: lines.append(f"| {m} | {w} | " + " | ".join(f"{cell[S]:.2f}" if S in cell else "-" for S in S_all) + " |")
    lines += ["", f"Model: ddpm_course `tiny` UNet ({info['unet_params']:,} parameters), {info['train_steps']:,} steps of batch "
              f"{info['batch']} ({info['train_seconds']:.0f} s), EMA decay {info['ema_decay']}; {info['schedule']}, "
              f"{info['spacing']} spacing. Course classifier test accuracy {info['classifier_test_accuracy']:.4f}. "
              f"Device: {info['device_name']}, torch {info['torch']}; {info['total_seconds']:.0f} s in all.",
              "", f"Command: `python benchmarks/{info['command']}`"]
    if info["skipped"]: lines += ["", "Skipped (time limit): " + ", ".join(f"S={s['S']} {s['weights']} {s['method']}" for s in info["skipped"])]
    path.write_text("\n".join(lines) + "\n")


def plot(info: dict, grids: dict, path: Path):
    "Course FID against S (log-log), EMA solid and raw dashed; sample grids of the EMA model at the smallest and largest S."
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    S_show = sorted({S for S, _ in grids})
    S_all = sorted({r["S"] for r in info["results"]})
    fig = plt.figure(figsize=(12.5, 2.3 * max(2, len(S_show))))
    gs = fig.add_gridspec(max(1, len(S_show)), 1 + len(METHODS), width_ratios=[2.8] + [1] * len(METHODS))
    ax = fig.add_subplot(gs[:, 0])
    for k, m in enumerate(METHODS):
        for w, ls in (("EMA", "-"), ("raw", "--")):
            r = sorted((r["S"], r["course_fid"]) for r in info["results"] if r["method"] == m and r["weights"] == w)
            if r: ax.plot(*zip(*r), ls, marker="o", color=f"C{k}", label=f"{SHORT[m]}, {w}")
    ax.axhline(info["floor_train_vs_test"], color="k", lw=1, ls=":", label="real training digits (floor)")
    ax.set(xscale="log", yscale="log", xlabel="sampling steps S", ylabel=info["metric"],
           title=f"MNIST, {info['n_samples']:,} samples per point")
    ax.set_xticks(S_all, [str(S) for S in S_all]); ax.minorticks_off()
    ax.legend(fontsize=7)
    for row, S in enumerate(S_show):
        for col, m in enumerate(METHODS):
            if (S, m) not in grids: continue
            a2 = fig.add_subplot(gs[row, 1 + col])
            show_images(grids[(S, m)], nrow=6, ax=a2)
            a2.set_title(f"{SHORT[m]}, S = {S} (EMA)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
