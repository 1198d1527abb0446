"""Training throughput of one DDPM step: the project's Trainer against the same UNet in a bare loop, diffusers and lucidrains.

Every contender trains an eps-prediction DDPM (T = 1000) on a batch drawn from an image tensor that lives on the device,
so the figure is the step itself: forward, loss, backward, optimiser, EMA (no data loading). The contenders:

  project     ddpm_course.training.Trainer on the cifar10 preset UNet (35.7M parameters), through trainer.train_step()
  bare        the same UNet in a loop written here: q_sample by hand, eps-MSE, backward, clipping, fused AdamW, foreach EMA
  diffusers   diffusers.UNet2DModel with google/ddpm-cifar10-32's configuration (the same 35.7M parameters), the bare loop
  lucidrains  denoising_diffusion_pytorch: Unet(dim=128, dim_mults=(1, 2, 2, 2)) in GaussianDiffusion; loss = diffusion(x), Adam

All of them run in one process, interleaved: each (contender, mode) is built and warmed up once (torch.compile compiles
there; its time is printed, not counted), then R rounds each time N steps of every one in turn, and the median over
rounds is reported. A mode is a '+'-joined list: fp32 | bf16 | fp16, then optionally compile or compile=MODE
(default, max-autotune-no-cudagraphs, reduce-overhead) and cl (channels_last), e.g. bf16+compile=reduce-overhead+cl.

  python benchmarks/train_throughput.py --device cuda                      # writes benchmarks/results/train_throughput_cuda.txt
  python benchmarks/train_throughput.py --device cuda --contenders project,diffusers --modes bf16+compile+cl --project-modes ''
  python benchmarks/train_throughput.py --device cuda --modes fp32,bf16,bf16+compile,bf16+compile+cl \
      --project-modes bf16+compile=max-autotune-no-cudagraphs+cl,bf16+compile=reduce-overhead+cl     # every mode (long compiles)
  python benchmarks/train_throughput.py --tiny --device cpu --rounds 2 --steps 2 --warmup 1 --modes fp32,bf16 --out /tmp/t.txt
"""
from __future__ import annotations
import argparse, contextlib, importlib, importlib.metadata, inspect, math, platform, statistics, sys, time, traceback
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))                      # run from a clone without installing

FLOP_PER_IMAGE = 37.3e9     # forward + backward of the 35.7M DDPM UNet on one 32 x 32 image (3x the forward's 12.4 GFLOP)
CONTENDERS = ("project", "bare", "diffusers", "lucidrains")
PEERS = {"diffusers": "diffusers", "lucidrains": "denoising_diffusion_pytorch"}   # contender -> module it needs
DEFAULT_MODES = "fp32,bf16,bf16+compile+cl"
DEFAULT_PROJECT_MODES = "bf16+compile=reduce-overhead+cl"
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs", "reduce-overhead", "max-autotune")


# ---------------------------------------------------------------------------------------------------- modes
@dataclass(frozen=True)
class Mode:
    "How a contender runs: autocast dtype (None = fp32), torch.compile (and its mode), channels_last."
    dtype: torch.dtype | None = None
    compile: bool = False
    compile_mode: str | None = None       # None: torch.compile's default
    cl: bool = False

    @property
    def label(self) -> str:
        parts = [{None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]]
        if self.compile: parts.append("compile" if self.compile_mode in (None, "default") else f"compile={self.compile_mode}")
        if self.cl: parts.append("cl")
        return "+".join(parts)

    @property
    def cudagraphs(self) -> bool: return self.compile and self.compile_mode == "reduce-overhead"

def parse_mode(text: str) -> Mode:
    "'bf16+compile=reduce-overhead+cl' -> Mode(torch.bfloat16, True, 'reduce-overhead', True)."
    dtype, comp, cmode, cl = None, False, None, False
    for tok in text.strip().split("+"):
        tok = tok.strip()
        if tok in ("fp32", "bf16", "fp16"): dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[tok]
        elif tok == "compile": comp = True
        elif tok.startswith("compile="):
            comp, cmode = True, tok.split("=", 1)[1]
            if cmode not in COMPILE_MODES: raise ValueError(f"unknown compile mode {cmode!r} in {text!r}; choose one of {COMPILE_MODES}")
            if cmode == "default": cmode = None
        elif tok in ("cl", "channels_last"): cl = True
        else: raise ValueError(f"unknown token {tok!r} in mode {text!r}: use fp32|bf16|fp16, compile[=MODE], cl joined by '+'")
    return Mode(dtype, comp, cmode, cl)

def parse_modes(text: str) -> list[Mode]:
    return [parse_mode(m) for m in text.split(",") if m.strip() and ":" not in m]

def contender_modes(args):
    "modes_for(contender): the --modes for it (its own 'contender:mode' entries if any), plus --project-modes for the project."
    modes, pmodes, per = parse_modes(args.modes), parse_modes(args.project_modes), per_contender_modes(args.modes)
    def modes_for(c):
        base = per.get(c, modes)
        return base + ([m for m in pmodes if m not in base] if c == "project" else [])
    return modes_for

def per_contender_modes(text: str) -> dict:
    "The entries 'contender:mode' of --modes: {contender: [Mode, ...]} (they replace the common modes for that contender)."
    per = {}
    for m in text.split(","):
        if ":" in m:
            c, mode = m.split(":", 1)
            per.setdefault(c.strip(), []).append(parse_mode(mode))
    return per

def autocast(device: torch.device, mode: Mode):
    return torch.autocast(device.type, dtype=mode.dtype or torch.float32, enabled=mode.dtype is not None)

def compiled(fn, mode: Mode, backend: str):
    "torch.compile(fn) as the mode asks (fn unchanged when the mode does not compile)."
    if not mode.compile: return fn
    kw = {"backend": backend}
    if mode.compile_mode is not None and backend == "inductor": kw["mode"] = mode.compile_mode
    return torch.compile(fn, **kw)

def no_value_checks():
    "The project's per-call value checks off (they read tensors, i.e. block the host), where the project has the switch."
    with contextlib.suppress(ImportError, AttributeError):
        from ddpm_course.core import value_checks
        return value_checks(False)
    return contextlib.nullcontext()

class Skip(Exception):
    "This (contender, mode) cannot run here; the message says why."


# ---------------------------------------------------------------------------------------------------- networks
def project_unet(tiny: bool):
    from ddpm_course.unet import unet_preset
    return unet_preset("tiny", in_channels=3, image_size=16) if tiny else unet_preset("cifar10")

def diffusers_unet(tiny: bool):
    "UNet2DModel with google/ddpm-cifar10-32's config.json (tiny: the same layout, narrower and shallower, at 16 px)."
    from diffusers import UNet2DModel
    common = dict(in_channels=3, out_channels=3, center_input_sample=False, time_embedding_type="positional",
                  flip_sin_to_cos=False, freq_shift=1, downsample_padding=0, mid_block_scale_factor=1, act_fn="silu",
                  attention_head_dim=None, norm_eps=1e-6, dropout=0.1)
    if tiny:
        return UNet2DModel(sample_size=16, block_out_channels=(32, 64, 64), layers_per_block=1, norm_num_groups=8,
                           down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
                           up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"), **common)
    return UNet2DModel(sample_size=32, block_out_channels=(128, 256, 256, 256), layers_per_block=2, norm_num_groups=32,
                       down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"), **common)

def lucidrains_unet(tiny: bool, flash: bool = False):
    from denoising_diffusion_pytorch import Unet
    if tiny: return Unet(dim=32, dim_mults=(1, 2, 2), dropout=0.1, flash_attn=flash)
    return Unet(dim=128, dim_mults=(1, 2, 2, 2), dropout=0.1, flash_attn=flash)

def n_params(module) -> int: return sum(p.numel() for p in module.parameters())

def image_size(tiny: bool) -> int: return 16 if tiny else 32

def peer_available(name: str) -> tuple[bool, str]:
    "(importable, why not) for a contender's package."
    if name not in PEERS: return True, ""
    try: importlib.import_module(PEERS[name])
    except Exception as e: return False, f"{type(e).__name__}: {e}".splitlines()[0]
    return True, ""


# ---------------------------------------------------------------------------------------------------- training steps
def linear_alpha_bar(T: int = 1000) -> torch.Tensor:
    "DDPM's linear schedule (beta from 1e-4 to 0.02), alpha_bar (T+1,) float64 with alpha_bar[0] = 1."
    from ddpm_course.schedules import make_schedule
    return make_schedule("linear", T).alpha_bar

def plain_step(net, call, data, mode: Mode, args, device, optimizer="adamw", lr=2e-4):
    """One training step as a closure: q_sample by hand, eps-MSE (compiled as a whole when the mode compiles), backward,
    clipping, fused AdamW, foreach EMA. `call(net, x_t, t) -> eps_hat`."""
    net = net.to(device)
    if mode.cl: net = net.to(memory_format=torch.channels_last)
    net.train()
    params = [p for p in net.parameters() if p.requires_grad]
    ab = linear_alpha_bar().to(device)
    sqrt_ab, sqrt_1m_ab, T = ab.sqrt().float(), (1 - ab).sqrt().float(), len(ab) - 1
    B, N = args.batch_size, len(data)

    def loss_fn(x0):
        t = torch.randint(1, T + 1, (B,), device=device)
        eps = torch.randn_like(x0)
        x_t = sqrt_ab[t].view(B, 1, 1, 1) * x0 + sqrt_1m_ab[t].view(B, 1, 1, 1) * eps    # q_sample, Ho et al. eq. 4
        with autocast(device, mode):
            eps_hat = call(net, x_t, t)
        return F.mse_loss(eps_hat.float(), eps)

    loss_fn = compiled(loss_fn, mode, args.compile_backend)
    opt = make_optimizer(optimizer, params, lr, device)
    scaler = torch.amp.GradScaler(device.type, enabled=mode.dtype == torch.float16)
    with torch.no_grad(): ema = [p.detach().clone() for p in params]

    def step():
        if mode.cudagraphs: torch.compiler.cudagraph_mark_step_begin()
        x0 = data[torch.randint(N, (B,), device=device)]
        if mode.cl: x0 = x0.contiguous(memory_format=torch.channels_last)
        loss = loss_fn(x0)
        update(loss, scaler, opt, params, ema, args)
    return step

def update(loss, scaler, opt, params, ema, args):
    "The bare loops' update: backward, clipping, the (fused) optimiser step, the foreach EMA."
    scaler.scale(loss).backward()
    if args.grad_clip:
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(params, args.grad_clip, foreach=True)
    scaler.step(opt); scaler.update()
    opt.zero_grad(set_to_none=True)
    with torch.no_grad(): torch._foreach_lerp_(ema, params, 1 - args.ema_decay)

def make_optimizer(kind: str, params, lr, device):
    "AdamW or Adam, fused where this torch supports it on this device, else foreach."
    cls = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}[kind]
    try: return cls(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError): return cls(params, lr=lr, foreach=True)

_NOTED: set = set()
def note_once(msg: str, out):
    if msg not in _NOTED:
        _NOTED.add(msg); out(msg)

def build_project(mode: Mode, args, device, data, out):
    "trainer.train_step on the cifar10 preset (tiny: the tiny preset at 16 px), with the Trainer's own speed options."
    from ddpm_course.training import Trainer
    net = project_unet(args.tiny)
    params = inspect.signature(Trainer).parameters
    kw = dict(batch_size=args.batch_size, steps=10**9, lr=2e-4, warmup=100, ema_decay=args.ema_decay,
              grad_clip=args.grad_clip or None, device=device, progress=False,
              autocast_dtype=mode.dtype, compile=mode.compile, channels_last=mode.cl)
    if mode.compile and mode.compile_mode is not None:
        if "compile_mode" not in params: raise Skip("this Trainer has no compile_mode= argument yet")
        kw["compile_mode"] = mode.compile_mode
    if mode.compile and args.compile_backend != "inductor":
        if "compile_backend" in params: kw["compile_backend"] = args.compile_backend
        else: raise Skip(f"this Trainer compiles with inductor only (asked for backend {args.compile_backend!r})")
    for k, v in (("log_every", args.log_every), ("fused", None)):
        if k in params: kw[k] = v
        else: note_once(f"note: this Trainer has no {k}= argument yet; the project is measured without it", out)
    missing = [k for k in kw if k not in params]
    if missing: raise Skip(f"this Trainer lacks {missing}")
    trainer = Trainer(net, data, linear_alpha_bar(), **kw)
    return trainer.train_step, n_params(net)

def build_bare(mode: Mode, args, device, data, out):
    net = project_unet(args.tiny)
    def call(net, x_t, t): return net(x_t, t.float())
    step = plain_step(net, call, data, mode, args, device)
    def checked_off_step():
        with no_value_checks(): step()
    return checked_off_step, n_params(net)

def build_diffusers(mode: Mode, args, device, data, out):
    net = diffusers_unet(args.tiny)
    def call(net, x_t, t): return net(x_t, t).sample
    return plain_step(net, call, data, mode, args, device), n_params(net)

_DATA01: dict = {}

def build_lucidrains(mode: Mode, args, device, data, out):
    "loss = GaussianDiffusion(Unet)(x) on images in [0, 1] (it normalises them itself); Adam, clipping, foreach EMA."
    from denoising_diffusion_pytorch import GaussianDiffusion
    unet = lucidrains_unet(args.tiny, args.lucidrains_flash)
    diffusion = GaussianDiffusion(unet, image_size=image_size(args.tiny), timesteps=1000).to(device)
    if mode.cl: diffusion = diffusion.to(memory_format=torch.channels_last)
    diffusion.train()
    params = [p for p in diffusion.parameters() if p.requires_grad]
    fn = compiled(diffusion, mode, args.compile_backend)
    opt = make_optimizer("adam", params, 2e-4, device)
    scaler = torch.amp.GradScaler(device.type, enabled=mode.dtype == torch.float16)
    with torch.no_grad(): ema = [p.detach().clone() for p in params]
    data01 = _DATA01.setdefault(id(data), (data + 1) / 2)     # one copy for all its modes (it counts in the first one's memory)
    B, N = args.batch_size, len(data)

    def step():
        if mode.cudagraphs: torch.compiler.cudagraph_mark_step_begin()
        x = data01[torch.randint(N, (B,), device=device)]
        if mode.cl: x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, mode):
            loss = fn(x)
        update(loss, scaler, opt, params, ema, args)
    return step, n_params(unet)

BUILDERS = {"project": build_project, "bare": build_bare, "diffusers": build_diffusers, "lucidrains": build_lucidrains}
DESCRIBE = {
    "project": "ddpm_course Trainer.train_step() (its own loss, clipping, AdamW, EMA, schedule)",
    "bare": "the same UNet: q_sample + eps-MSE by hand, backward, clip, fused AdamW, foreach EMA",
    "diffusers": "diffusers UNet2DModel (ddpm-cifar10-32 config) in the bare loop",
    "lucidrains": "denoising_diffusion_pytorch: loss = GaussianDiffusion(Unet(dim=128, dim_mults=(1,2,2,2)))(x) with its defaults "
                  "(pred_v, sigmoid schedule), Adam, clip, foreach EMA",
}


# ---------------------------------------------------------------------------------------------------- harness (shared with sample_throughput.py)
def sync(device):
    if device.type == "cuda": torch.cuda.synchronize(device)

def mem_allocated(device) -> int:
    return torch.cuda.memory_allocated(device) if device.type == "cuda" else 0

@dataclass
class Runner:
    "One (contender, mode): its step closure and what was measured."
    contender: str
    mode: Mode
    step: object = None
    params: int = 0
    state_bytes: int = 0            # memory it holds between steps (weights, grads, optimiser, EMA, graph pools)
    peak_extra: int = 0             # the largest extra memory a timed segment allocated on top of that
    compile_s: float | None = None  # the first warm-up step (the compile), when the mode compiles
    rates: list = None              # images/s of each round
    error: str | None = None
    images_per_call: int = 0        # images one call of step() processes (x NFE for sampling)

    @property
    def label(self) -> str: return self.mode.label

def short_error(e: BaseException) -> str:
    msg = f"{type(e).__name__}: {e}".strip().splitlines()
    return msg[0][:300] if msg else type(e).__name__

def warm_up(r: Runner, device, warmup: int, out):
    "The first call (the compile, when the mode compiles) timed apart, then warmup - 1 more; records the held memory."
    m0 = mem_allocated(device)
    sync(device); t0 = time.perf_counter()
    r.step()
    sync(device); first = time.perf_counter() - t0
    for _ in range(max(0, warmup - 1)): r.step()
    sync(device)
    if r.mode.compile: r.compile_s = first
    r.state_bytes += mem_allocated(device) - m0

def timed_segment(r: Runner, device, steps: int) -> float:
    "images/s over `steps` calls, with the device synchronised before and after."
    if device.type == "cuda": torch.cuda.reset_peak_memory_stats(device)
    m0 = mem_allocated(device)
    sync(device); t0 = time.perf_counter()
    for _ in range(steps): r.step()
    sync(device); dt = time.perf_counter() - t0
    if device.type == "cuda": r.peak_extra = max(r.peak_extra, torch.cuda.max_memory_allocated(device) - m0)
    return r.images_per_call * steps / dt

def run_rounds(runners: list, device, rounds: int, steps: int, out, announce: bool = True, start: int = 0):
    "Interleave the runners: each round times `steps` calls of each, in an order rotated every round (round `start` first)."
    live = [r for r in runners if r.error is None]
    for k in range(rounds):
        j = (start + k) % len(live) if live else 0
        order = live[j:] + live[:j]
        for r in order:
            if r.error is not None: continue
            try: r.rates.append(timed_segment(r, device, steps))
            except Exception as e:
                r.error = f"failed in round {k + 1}: {short_error(e)}"
                out(f"  {r.contender} {r.label}: {r.error}")
                r.step = None
        if announce: out(f"  round {k + 1}/{rounds}: " + ", ".join(f"{r.contender} {r.label} {r.rates[-1]:.0f}" for r in live if r.error is None and r.rates))

def median_spread(rates: list) -> tuple[float, float, float]:
    return statistics.median(rates), min(rates), max(rates)

def environment(device, out, extra_modules=()):
    "Print what the figures depend on."
    out(f"python {platform.python_version()}, torch {torch.__version__}, platform {platform.platform()}")
    out(f"device {device}" + (f": {torch.cuda.get_device_name(device)}, {torch.cuda.get_device_properties(device).total_memory / 2**30:.0f} GiB, "
                              f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}" if device.type == "cuda" else
                              f": {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"))
    vers = []
    for name in ("ddpm_course",) + tuple(extra_modules):
        try: importlib.import_module(name)
        except Exception: vers.append(f"{name} not installed"); continue
        try: vers.append(f"{name} {importlib.metadata.version(name.replace('_', '-'))}")
        except importlib.metadata.PackageNotFoundError: vers.append(f"{name} {getattr(sys.modules[name], '__version__', '?')}")
    out(", ".join(vers))
    out(f"TF32 matmul {torch.backends.cuda.matmul.allow_tf32}, cudnn.benchmark {torch.backends.cudnn.benchmark}")

def profile(runners: list, contender: str, device, steps: int, out, rows: int = 25):
    "torch.profiler over `steps` calls of the contender's best mode: the top ops, and how busy the device was against the wall."
    r = best(runners, contender)
    if r is None: out(f"profile: {contender} has no mode that ran"); return
    from torch.profiler import ProfilerActivity, profile as tprofile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sync(device)
    with tprofile(activities=acts) as prof:
        t0 = time.perf_counter()
        for _ in range(steps): r.step()
        sync(device); wall = time.perf_counter() - t0
    ka = prof.key_averages()
    out(f"\nprofile of {contender} {r.label}: {steps} calls, {1e3 * wall / steps:.2f} ms each on the wall clock")
    if device.type == "cuda":
        busy = sum(getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0)) for e in ka) / 1e6
        out(f"device busy {1e3 * busy / steps:.2f} ms per call = {100 * busy / wall:.0f}% of the wall clock (the rest: the host is the bottleneck or waits)")
    for key in (("self_device_time_total", "self_cuda_time_total") if device.type == "cuda" else ("self_cpu_time_total",)):
        try: out(ka.table(sort_by=key, row_limit=rows)); break
        except Exception: continue

def best(runners: list, contender: str):
    ok = [r for r in runners if r.contender == contender and r.error is None and r.rates]
    return max(ok, key=lambda r: median_spread(r.rates)[0]) if ok else None

def ratio_lines(runners: list, base: str, others, unit: str, name=None) -> list[str]:
    "'project/diffusers 1.23x (...)' for each other contender, each at its best mode; name(base, other) makes the line's head."
    name = name or (lambda b, o: f"{b}/{o}")
    lines, b = [], best(runners, base)
    for o in others:
        ro = best(runners, o)
        if b is None or ro is None:
            why = f"{base}: no mode ran" if b is None else f"{o}: no mode ran"
            lines.append(f"{name(base, o)} n/a ({why})"); continue
        mb, mo = median_spread(b.rates)[0], median_spread(ro.rates)[0]
        lines.append(f"{name(base, o)} {mb / mo:.2f}x  ({base} {b.label} {mb:.0f} {unit} vs {o} {ro.label} {mo:.0f} {unit})")
    return lines

def fmt_mib(n: int, device) -> str:
    return "n/a" if device.type != "cuda" else f"{n / 2**20:.0f}"

class Printer:
    "print() that also writes each line to --out as it goes (a run stopped halfway leaves what it had printed)."
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")
    def __call__(self, *a):
        s = " ".join(str(x) for x in a)
        print(s, flush=True)
        with open(self.path, "a") as f: f.write(s + "\n")
    def close(self): print(f"(saved to {self.path})")

def out_path(args, device, script: str) -> Path:
    "--out, or benchmarks/results/<script>_<device type>[_tiny].txt"
    if args.out: return Path(args.out)
    return ROOT / "benchmarks" / "results" / f"{script}_{device.type}{'_tiny' if args.tiny else ''}.txt"

def select_contenders(text: str, allowed, out) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in names if c not in allowed]
    if bad: raise SystemExit(f"unknown contender(s) {bad}; choose from {', '.join(allowed)}")
    keep = []
    for c in names:
        ok, why = peer_available(c)
        if ok: keep.append(c)
        else: out(f"skipped {c}: not importable ({why}); pip install -e '.[bench]' installs the peers")
    return keep

def common_args(p: argparse.ArgumentParser, batch_size: int, modes: str, project_modes: str, contenders):
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the median over rounds is reported")
    p.add_argument("--steps", type=int, default=20, help="timed calls per contender and round")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls per (contender, mode) before the rounds (the compile happens here)")
    p.add_argument("--contenders", default=",".join(contenders), help="comma list; peers that are not importable are skipped")
    p.add_argument("--modes", default=modes, help="comma list of modes for every contender, e.g. fp32,bf16,bf16+compile+cl; an entry contender:mode replaces them for that contender")
    p.add_argument("--project-modes", default=project_modes, help="extra modes for the project only ('' for none)")
    p.add_argument("--compile-backend", default="inductor", help="torch.compile backend (eager / aot_eager for a quick check of the capture)")
    p.add_argument("--tiny", action="store_true", help="tiny networks at 16 px: the same code paths, for a CPU smoke test")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak assumed for MFU (H100/H200 SXM: 989)")
    p.add_argument("--no-tf32", action="store_true", help="leave TF32 off for fp32 matmuls and convolutions")
    p.add_argument("--lucidrains-flash", action="store_true", help="lucidrains' Unet with flash_attn=True")
    p.add_argument("--out", default=None, help="where the printed text is saved")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", default="", help="after the rounds, profile the best mode of these contenders (comma list, e.g. project)")
    p.add_argument("--profile-steps", type=int, default=5, help="calls profiled per contender")

def setup(args):
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        if device.index is not None: torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not args.no_tf32
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(args.seed)
    return device

def build_all(contenders, modes_for, builder, args, device, out, images_per_call, *build_args, suffix: str = "") -> list[Runner]:
    "Build and warm up every (contender, mode); a failure is printed and kept, never raised. Rows are named contender + suffix."
    runners = []
    for c in contenders:
        for mode in modes_for(c):
            r = Runner(c + suffix, mode, rates=[], images_per_call=images_per_call)
            m0 = mem_allocated(device)
            t0 = time.perf_counter()
            try:
                r.step, r.params = builder(c)(mode, args, device, *build_args, out)
                r.state_bytes = mem_allocated(device) - m0
                warm_up(r, device, args.warmup, out)
                out(f"  built {r.contender} {mode.label}: {r.params / 1e6:.2f}M parameters, ready in {time.perf_counter() - t0:.1f} s"
                    + (f" (first call, with the compile: {r.compile_s:.1f} s)" if r.compile_s is not None else ""))
            except Skip as e:
                r.error, r.step = f"skipped: {e}", None
                out(f"  {r.contender} {mode.label}: {r.error}")
            except Exception as e:
                r.error, r.step = f"failed: {short_error(e)}", None
                out(f"  {r.contender} {mode.label}: {r.error}")
                if args.traceback: traceback.print_exc()
            runners.append(r)
            if r.error is not None and device.type == "cuda": torch.cuda.empty_cache()
    return runners


# ---------------------------------------------------------------------------------------------------- main
def main(argv=None):
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()), formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    common_args(p, 128, DEFAULT_MODES, DEFAULT_PROJECT_MODES, CONTENDERS)
    p.add_argument("--n-data", type=int, default=4096, help="images in the device-resident data tensor")
    p.add_argument("--grad-clip", type=float, default=1.0, help="global-norm clipping for every contender (0: off)")
    p.add_argument("--ema-decay", type=float, default=0.9999)
    p.add_argument("--log-every", type=int, default=100, help="the Trainer's log_every (host syncs only every N steps)")
    p.add_argument("--traceback", action="store_true", help="print the traceback of a failing mode")
    args = p.parse_args(argv)
    device = setup(args)
    out = Printer(out_path(args, device, "train_throughput"))
    out(f"# train_throughput: one DDPM training step (eps-MSE, T = 1000), batch {args.batch_size}, "
        f"{image_size(args.tiny)} px{' (TINY networks: a smoke test, not a measurement)' if args.tiny else ''}")
    environment(device, out, ("diffusers", "denoising_diffusion_pytorch"))
    contenders = select_contenders(args.contenders, CONTENDERS, out)
    for c in contenders: out(f"{c:11s} {DESCRIBE[c]}")
    out(f"rounds {args.rounds} x {args.steps} timed steps, {args.warmup} warm-up steps, grad clip {args.grad_clip or 'off'}, "
        f"EMA decay {args.ema_decay}, compile backend {args.compile_backend}")

    g = torch.Generator().manual_seed(args.seed)
    S = image_size(args.tiny)
    data = torch.randn(args.n_data, 3, S, S, generator=g).clamp(-1, 1).to(device)     # stands in for images in [-1, 1]
    modes_for = contender_modes(args)
    out("building and warming up:")
    runners = build_all(contenders, modes_for, lambda c: BUILDERS[c], args, device, out, args.batch_size, data)
    out("timing:")
    run_rounds(runners, device, args.rounds, args.steps, out)
    report(runners, contenders, args, device, out)
    for c in [c.strip() for c in args.profile.split(",") if c.strip()]: profile(runners, c, device, args.profile_steps, out)
    out.close()

def table(runners, args, device, out, flop: float, unit: str, cw: int, mw: int):
    "The results: per (contender, mode) the median and range over rounds, peak memory, MFU at `flop` per unit, compile time, parameters."
    mfu_ok = not args.tiny
    out("")
    out(f"{'contender':{cw}s} {'mode':{mw}s} {unit:>10s} {'(min - max)':>21s} {'peak MiB':>9s} {'MFU':>7s} {'compile s':>9s} {'params':>8s}")
    for r in runners:
        if r.error is not None or not r.rates:
            out(f"{r.contender:{cw}s} {r.label:{mw}s} {r.error or 'no round ran'}"); continue
        med, lo, hi = median_spread(r.rates)
        mfu = f"{100 * med * flop / (args.peak_tflops * 1e12):.1f}%" if mfu_ok else "n/a"
        if mfu_ok and r.contender.startswith("lucidrains"): mfu += "*"          # another network: a nominal figure
        comp = f"{r.compile_s:.1f}" if r.compile_s is not None else "-"
        out(f"{r.contender:{cw}s} {r.label:{mw}s} {med:10.1f} {f'({lo:.1f} - {hi:.1f})':>21s} {fmt_mib(r.state_bytes + r.peak_extra, device):>9s} "
            f"{mfu:>7s} {comp:>9s} {r.params / 1e6:7.2f}M")
    out("")

def report(runners, contenders, args, device, out):
    mfu_ok = not args.tiny
    table(runners, args, device, out, FLOP_PER_IMAGE, "img/s", 11, 44)
    counts = {c: next((r.params for r in runners if r.contender == c and r.params), None) for c in contenders}
    out("parameters: " + ", ".join(f"{c} {n:,}" if n else f"{c} ?" for c, n in counts.items()))
    if not args.tiny and counts.get("diffusers") and counts.get("project"):
        rel = abs(counts["diffusers"] - counts["project"]) / counts["project"]
        out(f"diffusers vs project parameters: {100 * rel:.2f}% apart")
        assert rel < 0.01, f"diffusers' UNet2DModel has {counts['diffusers']:,} parameters, the project's {counts['project']:,}: more than 1% apart"
    if mfu_ok:
        out(f"MFU = img/s x {FLOP_PER_IMAGE / 1e9:.1f} GFLOP (one training step of the 35.7M DDPM UNet per 32 x 32 image) / "
            f"{args.peak_tflops:.0f} TFLOP/s (assumed dense bf16 peak; H100/H200 SXM: 989)"
            + ("; * lucidrains' network differs, its MFU uses the same nominal FLOP count" if "lucidrains" in contenders else ""))
    else: out("MFU: n/a (only defined for the 32 px cifar10 size)")
    out("peak MiB: the memory a contender holds between steps plus the most its timed steps allocated on top"
        + ("" if device.type == "cuda" else " (n/a off CUDA)"))
    if "project" in contenders:
        others = [c for c in ("diffusers", "lucidrains", "bare") if c in contenders]
        for line in ratio_lines(runners, "project", others, "img/s"): out(line)


if __name__ == "__main__":
    main()
