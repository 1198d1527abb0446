"""Sampling throughput: network evaluations per second (images x NFE / s) of the project's UNet against diffusers and lucidrains,
and the cost of a whole DDIM-50 run against 50 bare forward passes.

Rows (each in every mode; a mode is fp32 | bf16, then compile[=MODE] and cl, joined by '+', as in train_throughput.py):

  project net         the cifar10 preset UNet (35.7M), net(x, c_noise): the bare network call
  project ddim        ddpm_course: sample(ddim_step, VPDenoiser(net, schedule), sigmas_from_timesteps(schedule, ddim_timesteps(1000, 50)), noise)
  diffusers net       UNet2DModel with google/ddpm-cifar10-32's configuration: unet(x, t).sample
  diffusers ddim      DDIMPipeline's loop: DDIMScheduler.set_timesteps(50); eps = unet(x, t).sample; x = scheduler.step(eps, t, x)
  lucidrains net      denoising_diffusion_pytorch Unet(dim=128, dim_mults=(1, 2, 2, 2)): unet(x, t)
  lucidrains ddim     GaussianDiffusion(unet, sampling_timesteps=50).ddim_sample(shape)

All run in one process, interleaved in rounds, the median over rounds reported; torch.compile compiles the network
(the sampler loops stay eager) during the warm-up, whose time is printed and not counted.

  python benchmarks/sample_throughput.py --device cuda          # writes benchmarks/results/sample_throughput_cuda.txt
  python benchmarks/sample_throughput.py --tiny --device cpu --rounds 2 --steps 2 --warmup 1 --batch-size 4 --nfe 2 --modes fp32 --out /tmp/s.txt
"""
from __future__ import annotations
import argparse, sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import (contender_modes, table, ROOT, FLOP_PER_IMAGE, Printer, Skip, autocast, build_all, common_args, compiled, diffusers_unet,
                              environment, image_size, linear_alpha_bar, lucidrains_unet, median_spread, fmt_mib, n_params,
                              no_value_checks, out_path, parse_modes, profile, project_unet, ratio_lines, run_rounds, select_contenders, setup)

CONTENDERS = ("project", "diffusers", "lucidrains")
KINDS = ("net", "ddim")
DEFAULT_MODES = "fp32,bf16,bf16+compile+cl"
DEFAULT_PROJECT_MODES = "bf16+compile=reduce-overhead+cl"
FORWARD_FLOP = FLOP_PER_IMAGE / 3     # one forward pass of the 35.7M UNet on a 32 x 32 image: 12.4 GFLOP


def prepare(net, mode, device):
    net = net.to(device).eval()
    if mode.cl: net = net.to(memory_format=torch.channels_last)
    return net

def noise_batch(args, device, mode, seed=0):
    S = image_size(args.tiny)
    x = torch.randn(args.batch_size, 3, S, S, generator=torch.Generator().manual_seed(seed)).to(device)
    return x.contiguous(memory_format=torch.channels_last) if mode.cl else x

def random_t(args, device):
    return torch.randint(1, 1001, (args.batch_size,), generator=torch.Generator().manual_seed(1)).to(device)

def mark(mode):
    if mode.cudagraphs: torch.compiler.cudagraph_mark_step_begin()

def build_project(kind, mode, args, device, out):
    from ddpm_course.training import VPDenoiser
    from ddpm_course.schedules import Schedule
    from ddpm_course.sampling import sample
    from ddpm_course.ddim import ddim_step, ddim_timesteps, sigmas_from_timesteps
    raw = prepare(project_unet(args.tiny), mode, device)
    net = compiled(raw, mode, args.compile_backend)
    x = noise_batch(args, device, mode)
    if kind == "net":
        c_noise = random_t(args, device).float()
        def step():
            mark(mode)
            with torch.no_grad(), autocast(device, mode), no_value_checks(): net(x, c_noise)
        return step, n_params(raw)
    schedule = Schedule.from_alpha_bar(linear_alpha_bar())
    D = VPDenoiser(net, schedule)
    sigmas = sigmas_from_timesteps(schedule, ddim_timesteps(schedule.T, args.nfe))
    def step():
        mark(mode)
        with torch.no_grad(), autocast(device, mode): sample(ddim_step, D, sigmas, x)
    return step, n_params(raw)

def build_diffusers(kind, mode, args, device, out):
    raw = prepare(diffusers_unet(args.tiny), mode, device)
    net = compiled(raw, mode, args.compile_backend)
    x = noise_batch(args, device, mode)
    if kind == "net":
        t = random_t(args, device)
        def step():
            mark(mode)
            with torch.no_grad(), autocast(device, mode): net(x, t).sample
        return step, n_params(raw)
    from diffusers import DDIMScheduler
    sched = DDIMScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
                          clip_sample=True, set_alpha_to_one=True)
    def step():                                       # DDIMPipeline.__call__'s loop, eta = 0
        mark(mode)
        sched.set_timesteps(args.nfe)
        img = x
        with torch.no_grad(), autocast(device, mode):
            for t in sched.timesteps:
                eps = net(img, t).sample
                img = sched.step(eps, t, img, eta=0.0).prev_sample
    return step, n_params(raw)

def build_lucidrains(kind, mode, args, device, out):
    unet = prepare(lucidrains_unet(args.tiny, args.lucidrains_flash), mode, device)
    net = compiled(unet, mode, args.compile_backend)
    x = noise_batch(args, device, mode)
    if kind == "net":
        t = random_t(args, device)
        def step():
            mark(mode)
            with torch.no_grad(), autocast(device, mode): net(x, t)
        return step, n_params(unet)
    import denoising_diffusion_pytorch.denoising_diffusion_pytorch as ddp
    from denoising_diffusion_pytorch import GaussianDiffusion
    ddp.tqdm = lambda it, *a, **k: it                 # its progress bar off (it would print 50 lines a run)
    diffusion = GaussianDiffusion(unet, image_size=image_size(args.tiny), timesteps=1000, sampling_timesteps=args.nfe).to(device).eval()
    diffusion.model = net                             # the compiled network inside its sampler
    shape = tuple(x.shape)
    def step():
        mark(mode)
        with torch.no_grad(), autocast(device, mode): diffusion.ddim_sample(shape)
    return step, n_params(unet)

BUILDERS = {"project": build_project, "diffusers": build_diffusers, "lucidrains": build_lucidrains}
DESCRIBE = {
    "project": "net(x, c_noise) of the cifar10 preset UNet; ddim: sample(ddim_step, VPDenoiser(net, schedule), DDIM grid, noise)",
    "diffusers": "UNet2DModel (ddpm-cifar10-32 config) unet(x, t).sample; ddim: DDIMPipeline's loop over DDIMScheduler.step",
    "lucidrains": "Unet(dim=128, dim_mults=(1,2,2,2)) unet(x, t); ddim: GaussianDiffusion(sampling_timesteps=NFE).ddim_sample",
}


def main(argv=None):
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()), formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    common_args(p, 1024, DEFAULT_MODES, DEFAULT_PROJECT_MODES, CONTENDERS)
    p.set_defaults(warmup=3)          # a ddim call is already nfe network calls
    p.add_argument("--kinds", default=",".join(KINDS), help="net (bare forward passes) and/or ddim (a whole DDIM run)")
    p.add_argument("--nfe", type=int, default=50, help="DDIM steps (network evaluations) of one ddim run")
    p.add_argument("--traceback", action="store_true", help="print the traceback of a failing mode")
    args = p.parse_args(argv)
    device = setup(args)
    out = Printer(out_path(args, device, "sample_throughput"))
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if not kinds or any(k not in KINDS for k in kinds): raise SystemExit(f"--kinds must be a comma list of {KINDS}, got {args.kinds!r}")
    out(f"# sample_throughput: network evaluations per second (images x NFE / s), batch {args.batch_size}, "
        f"{image_size(args.tiny)} px, DDIM-{args.nfe}{' (TINY networks: a smoke test, not a measurement)' if args.tiny else ''}")
    environment(device, out, ("diffusers", "denoising_diffusion_pytorch"))
    contenders = select_contenders(args.contenders, CONTENDERS, out)
    for c in contenders: out(f"{c:11s} {DESCRIBE[c]}")
    out(f"rounds {args.rounds}; per round {args.steps} forward passes (net) or max(1, steps // nfe) runs (ddim); "
        f"{args.warmup} warm-up calls; compile backend {args.compile_backend}")

    modes_for = contender_modes(args)
    out("building and warming up:")
    runners = []
    for kind in kinds:
        ipc = args.batch_size * (args.nfe if kind == "ddim" else 1)
        def builder(c, kind=kind):
            def build(mode, args, device, out): return BUILDERS[c](kind, mode, args, device, out)
            return build
        runners += build_all(contenders, modes_for, builder, args, device, out, ipc, suffix=f" {kind}")
    out("timing:")
    ddim_runs = max(1, args.steps // args.nfe)
    net_rs = [r for r in runners if r.contender.endswith(" net")]
    ddim_rs = [r for r in runners if r.contender.endswith(" ddim")]
    # interleave everything: one round = every net row for `steps` calls, then every ddim row for `ddim_runs` runs
    for k in range(args.rounds):
        run_rounds(net_rs, device, 1, args.steps, out, announce=False, start=k)
        run_rounds(ddim_rs, device, 1, ddim_runs, out, announce=False, start=k)
        out(f"  round {k + 1}/{args.rounds}: " + ", ".join(f"{r.contender} {r.label} {r.rates[-1]:.0f}"
                                                          for r in runners if r.error is None and len(r.rates) == k + 1))
    report(runners, contenders, kinds, args, device, out)
    for c in [c.strip() for c in args.profile.split(",") if c.strip()]:      # e.g. "project ddim"
        profile(runners, c, device, args.profile_steps, out)
    out.close()

def report(runners, contenders, kinds, args, device, out):
    mfu_ok = not args.tiny
    table(runners, args, device, out, FORWARD_FLOP, "img*NFE/s", 16, 38)
    if mfu_ok:
        out(f"MFU = img*NFE/s x {FORWARD_FLOP / 1e9:.1f} GFLOP (one forward pass of the 35.7M DDPM UNet on a 32 x 32 image) / "
            f"{args.peak_tflops:.0f} TFLOP/s (assumed dense bf16 peak; H100/H200 SXM: 989)"
            + ("; * lucidrains' network differs, its MFU uses the same nominal FLOP count" if "lucidrains" in contenders else ""))
    else: out("MFU: n/a (only defined for the 32 px cifar10 size)")
    # the sampler's overhead: a whole DDIM run against nfe bare forward passes, in the same mode
    for c in contenders:
        if "net" not in kinds or "ddim" not in kinds: break
        for rd in runners:
            if rd.contender != f"{c} ddim" or rd.error is not None or not rd.rates: continue
            rn = next((r for r in runners if r.contender == f"{c} net" and r.mode == rd.mode and r.error is None and r.rates), None)
            if rn is None: continue
            over = median_spread(rn.rates)[0] / median_spread(rd.rates)[0]
            out(f"{c} DDIM-{args.nfe} end to end / {args.nfe} forward passes ({rd.label}): {over:.2f}x the time")
    if "project" in contenders:
        for kind in kinds:
            others = [f"{c} {kind}" for c in ("diffusers", "lucidrains") if c in contenders]
            for line in ratio_lines(runners, f"project {kind}", others, "img*NFE/s",
                                    name=lambda b, o: f"{b.split()[0]}/{o.split()[0]} {kind}"):
                out(line)


if __name__ == "__main__":
    main()
