"""Guidance-distils the demo generator: a UNet that takes the guidance scale as an input and gives, in one pass,
what the shipped model gives with classifier-free guidance in two (Meng et al., "On Distillation of Guided
Diffusion Models", CVPR 2023, stage one). Writes models/demo/generator-distilled/.

Why: with guidance every sampling step runs the UNet on two rows (the prompt and the empty prompt); the
distilled UNet runs one, so the same scheduler and step count cost half. The guidance scale reaches the UNet
the way LCM-distilled Stable Diffusion models take it (`time_cond_proj_dim`, the UNet's `timestep_cond`
input: diffusers' get_guidance_scale_embedding of w = guidance - 1), so engines/diffusion/ runs it unchanged.

How (all on CPU, offline):
  1. Teacher: the shipped models/demo/generator (its ONNX files are the only copy of its weights). The UNet's
     weights are read back into diffusers' UNet2DConditionModel by exporting a copy whose every parameter holds
     a distinct constant through the same exporter, which names each ONNX initializer after the parameter it holds;
     the copy is checked against onnxruntime on the shipped file (max difference printed, must be < 1e-4).
  2. Data: clean latents x0 sampled from the teacher itself (DDIM 25 steps, guidance 5, random captions of
     data/caption-templates.json; the bundle has no VAE encoder to encode MNIST with), then noised to a random
     train timestep. The prompt embeddings come from the shipped text encoder (onnxruntime), frozen.
  3. Student: the teacher's UNet plus `time_embedding.cond_proj` (zero-initialised, so it starts as the
     teacher's conditional model), trained on MSE to the teacher's guided noise prediction
     eps_u + w (eps_c - eps_u), w uniform in [1, W_MAX], at the same (x_t, t, prompt).
  4. Export: the teacher's text encoder, VAE decoder, tokenizer and scheduler unchanged, the student UNet
     through optimum (text-to-image), a MODEL_CARD.md written by hand.

Usage (from the repository root, the venv of tools/requirements-tiny-sd.txt):
    tools/.venv/bin/python tools/distill_demo_generator.py [--steps 1500] [--batch 128] [--threads 2]
Stages leave their results in --work (default /tmp/demo-generator-distill) and a rerun resumes from them.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_demo_generator import (CAPTIONS, COLORS, SCHEDULER, caption_table, log, make_text_encoder,  # noqa: E402
                                  make_tokenizer, make_unet, make_vae, write_tokenizer_files)

ROOT = Path(__file__).resolve().parent.parent
TEACHER = ROOT / "models" / "demo" / "generator"
OUT = ROOT / "models" / "demo" / "generator-distilled"
COND_DIM = 64
W_MAX = 10.0
MARK = 1000.0


def make_student_unet():
    from diffusers import UNet2DConditionModel

    config = {k: v for k, v in make_unet().config.items() if not k.startswith("_")}
    config["time_cond_proj_dim"] = COND_DIM
    return UNet2DConditionModel.from_config(config)


def export_unet(unet, folder: Path) -> Path:
    """The UNet alone through optimum's text-to-image exporter (the pipeline around it is random and discarded)."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline
    from optimum.exporters.onnx import main_export

    work = Path(tempfile.mkdtemp(prefix="distill-export-"))
    write_tokenizer_files(work / "tok")
    tokenizer = make_tokenizer(work / "tok")
    pipe = StableDiffusionPipeline(vae=make_vae().eval(), text_encoder=make_text_encoder(tokenizer).eval(), tokenizer=tokenizer,
                                   unet=unet.eval(), scheduler=DDIMScheduler.from_config({k: v for k, v in SCHEDULER.items() if k != "_class_name"}),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(work / "diffusers", safe_serialization=True)
    main_export(model_name_or_path=str(work / "diffusers"), output=str(folder), task="text-to-image", library_name="diffusers",
                device="cpu", local_files_only=True, do_validation=False)
    shutil.rmtree(work, ignore_errors=True)
    return folder / "unet" / "model.onnx"


def teacher_unet(work: Path):
    """diffusers' UNet with the shipped ONNX unet's weights (see the module docstring)."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    cached = work / "teacher_unet.pt"
    unet = make_unet()
    if cached.exists():
        unet.load_state_dict(torch.load(cached))
        return unet.eval()
    names = [k for k, _ in unet.named_parameters()]
    with torch.no_grad():
        for i, (_, p) in enumerate(unet.named_parameters()):
            p.fill_(MARK + i)
    marked = onnx.load(str(export_unet(unet, work / "marked")))
    shipped = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(TEACHER / "unet" / "model.onnx")).graph.initializer}
    # torch's Linear stores W and computes x W^T: the exporter hands MatMul the transpose (square ones too).
    matmul_b = {n.input[1] for n in marked.graph.node if n.op_type == "MatMul"}
    state = {}
    for init in marked.graph.initializer:
        a = numpy_helper.to_array(init)
        if a.size == 0 or not np.all(a == a.flat[0]) or a.flat[0] < MARK or a.flat[0] != round(a.flat[0]):
            continue  # a constant of the graph, not a parameter
        name = names[int(round(a.flat[0] - MARK))]
        if init.name not in shipped:
            raise SystemExit(f"marked export names {init.name} ({name}); the shipped unet has no such initializer")
        target = unet.state_dict()[name].shape
        value = shipped[init.name]
        if init.name in matmul_b:
            value = value.T
        if value.shape != tuple(target):
            value = value.reshape(target)
        state[name] = torch.from_numpy(np.ascontiguousarray(value))
    missing = [n for n in names if n not in state]
    if missing:
        raise SystemExit(f"no ONNX initializer found for {len(missing)} parameters, e.g. {missing[:3]}")
    unet.load_state_dict(state)
    unet.eval()
    # The check: same output as onnxruntime on the shipped file.
    sess = ort.InferenceSession(str(TEACHER / "unet" / "model.onnx"), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 8, 8, generator=g)
    h = torch.randn(3, 77, 64, generator=g)
    feeds = {"sample": x.numpy(), "encoder_hidden_states": h.numpy()}
    t_in = sess.get_inputs()[1]
    feeds[t_in.name] = np.array(500, dtype=np.float32) if len(t_in.shape) == 0 else np.full([3], 500, dtype=np.int64 if "int" in t_in.type else np.float32)
    ref = sess.run(None, feeds)[0]
    with torch.no_grad():
        out = unet(x, torch.tensor(500), h).sample.numpy()
    diff = float(np.abs(out - ref).max())
    log(f"teacher unet read back from ONNX: {len(state)} parameters, max |torch - onnxruntime| = {diff:.2e}")
    if diff > 1e-4:
        raise SystemExit("the read-back teacher does not match the shipped unet")
    torch.save(unet.state_dict(), cached)
    return unet



def guidance_embedding(w: torch.Tensor, dim: int = COND_DIM) -> torch.Tensor:
    """diffusers' get_guidance_scale_embedding (what engines/diffusion/ feeds `timestep_cond`), float32."""
    w = w.float() * 1000.0
    half = dim // 2
    freq = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    arg = w[:, None] * freq[None, :]
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


def prompt_embeddings(work: Path) -> tuple[torch.Tensor, int]:
    """Every (template, digit, colour) caption and "" (the last row) through the shipped text encoder."""
    import onnxruntime as ort
    from transformers import CLIPTokenizer

    cached = work / "prompts.pt"
    if cached.exists():
        d = torch.load(cached)
        return d["embeddings"], d["empty"]
    tok = CLIPTokenizer(vocab_file=str(TEACHER / "tokenizer" / "vocab.json"), merges_file=str(TEACHER / "tokenizer" / "merges.txt"),
                        pad_token="<|endoftext|>", model_max_length=77)
    ids, _ = caption_table(tok)
    sess = ort.InferenceSession(str(TEACHER / "text_encoder" / "model.onnx"), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    ids_np = ids.numpy().astype(np.int32 if "int32" in inp.type else np.int64)
    emb = torch.from_numpy(np.concatenate([sess.run(None, {inp.name: ids_np[i:i + 64]})[0] for i in range(0, len(ids_np), 64)]))
    torch.save({"embeddings": emb, "empty": len(ids) - 1}, cached)
    return emb, len(ids) - 1


def ddpm_alphas() -> torch.Tensor:
    from diffusers import DDPMScheduler

    keep = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "prediction_type")
    return DDPMScheduler(**{k: v for k, v in SCHEDULER.items() if k in keep}).alphas_cumprod.float()


@torch.no_grad()
def guided(unet, x, t, cond, uncond, w) -> torch.Tensor:
    """The teacher's classifier-free guided noise prediction, both rows in one call."""
    out = unet(torch.cat([x, x]), torch.cat([t, t]), torch.cat([uncond, cond])).sample
    u, c = out.chunk(2)
    return u + w[:, None, None, None] * (c - u)


@torch.no_grad()
def teacher_latents(args, unet, emb, empty, work: Path):
    """Clean latents the teacher draws (DDIM, 25 steps), each with the caption row it was prompted with."""
    from diffusers import DDIMScheduler

    cached = work / "latents.pt"
    if cached.exists():
        return torch.load(cached)
    sched = DDIMScheduler.from_config({k: v for k, v in SCHEDULER.items() if k != "_class_name"})
    gen = torch.Generator().manual_seed(args.seed * 1000 + 7)
    rows, latents = [], []
    t0 = time.time()
    for start in range(0, args.samples, 256):
        b = min(256, args.samples - start)
        r = torch.randint(0, empty, (b,), generator=gen)
        w = torch.tensor([3.0, 5.0, 7.5])[torch.randint(0, 3, (b,), generator=gen)]
        x = torch.randn(b, 4, 8, 8, generator=gen)
        sched.set_timesteps(25)
        for t in sched.timesteps:
            eps = guided(unet, x, t.repeat(b), emb[r], emb[empty].expand(b, -1, -1), w)
            x = sched.step(eps, t, x).prev_sample
        rows.append(r)
        latents.append(x)
        log(f"teacher samples {start + b}/{args.samples} ({time.time() - t0:.0f}s)")
    data = {"latents": torch.cat(latents), "rows": torch.cat(rows), "seconds": time.time() - t0}
    torch.save(data, cached)
    return data


def train_student(args, teacher, emb, empty, data, work: Path):
    student = make_student_unet()
    missing, unexpected = student.load_state_dict(teacher.state_dict(), strict=False)
    assert unexpected == [] and missing == ["time_embedding.cond_proj.weight"], (missing, unexpected)
    torch.nn.init.zeros_(student.time_embedding.cond_proj.weight)
    ema = copy.deepcopy(student)
    opt = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=0.0)
    ckpt = work / "student.pt"
    step, elapsed = 0, 0.0
    if ckpt.exists():
        state = torch.load(ckpt)
        student.load_state_dict(state["student"]); ema.load_state_dict(state["ema"]); opt.load_state_dict(state["opt"])
        step, elapsed = state["step"], state["seconds"]
        log(f"student: resumed at step {step}")
    alphas = ddpm_alphas()
    x0s, rows = data["latents"], data["rows"]
    gen = torch.Generator().manual_seed(args.seed * 1000 + 11 + step)
    uncond = emb[empty]
    student.train()
    t0 = time.time() - elapsed
    running = 0.0
    while step < args.steps:
        b = args.batch
        idx = torch.randint(0, len(x0s), (b,), generator=gen)
        t = torch.randint(0, 1000, (b,), generator=gen)
        a = alphas[t][:, None, None, None]
        xt = a.sqrt() * x0s[idx] + (1 - a).sqrt() * torch.randn(b, 4, 8, 8, generator=gen)
        w = 1 + (W_MAX - 1) * torch.rand(b, generator=gen)
        cond = emb[rows[idx]]
        target = guided(teacher, xt, t, cond, uncond.expand(b, -1, -1), w)
        lr = args.lr * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        pred = student(xt, t, cond, timestep_cond=guidance_embedding(w - 1)).sample
        loss = F.mse_loss(pred, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        step += 1
        with torch.no_grad():
            decay = min(args.ema, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), student.parameters()):
                pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
        running += loss.item()
        if step % 25 == 0 or step == args.steps:
            sec = time.time() - t0
            log(f"student step {step}/{args.steps} loss {running / 25:.5f} lr {lr:.2e} {sec:.0f}s ({sec / step:.2f}s/step)")
            running = 0.0
        if step % 250 == 0 or step == args.steps:
            torch.save({"student": student.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step,
                        "seconds": time.time() - t0}, work / "student.tmp.pt")
            (work / "student.tmp.pt").replace(ckpt)
    return ema.eval(), time.time() - t0


def export_student(args, student, work: Path, seconds: float, data_seconds: float) -> None:
    import onnxruntime as ort

    exported = work / "student-export"
    shutil.rmtree(exported, ignore_errors=True)
    onnx_path = export_unet(student, exported)
    out = Path(args.out)
    card = (out / "MODEL_CARD.md").read_text() if (out / "MODEL_CARD.md").exists() else None
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(TEACHER, out, ignore=shutil.ignore_patterns("MODEL_CARD.md", "unet"))
    shutil.copytree(exported / "unet", out / "unet")
    cfg_path = out / "unet" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.pop("_name_or_path", None)
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    if card is not None:
        (out / "MODEL_CARD.md").write_text(card)
    # The check: the exported student equals the torch one.
    sess = ort.InferenceSession(str(out / "unet" / "model.onnx"), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(1)
    x, h, w = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 77, 64, generator=g), torch.tensor([4.0, 6.5])
    names = [i.name for i in sess.get_inputs()]
    t_in = sess.get_inputs()[1]
    feeds = {names[0]: x.numpy(), "encoder_hidden_states": h.numpy(), "timestep_cond": guidance_embedding(w).numpy()}
    feeds[t_in.name] = np.array(300, dtype=np.float32) if len(t_in.shape) == 0 else np.full([2], 300, dtype=np.int64 if "int" in t_in.type else np.float32)
    ref = sess.run(None, feeds)[0]
    with torch.no_grad():
        mine = student(x, torch.tensor(300), h, timestep_cond=guidance_embedding(w)).sample.numpy()
    log(f"exported to {out}; inputs {names}; max |torch - onnxruntime| = {float(np.abs(mine - ref).max()):.2e}")
    times = {"student_seconds": seconds, "teacher_sample_seconds": data_seconds, "steps": args.steps, "batch": args.batch,
             "samples": args.samples, "lr": args.lr, "threads": args.threads, "seed": args.seed, "torch": torch.__version__}
    (work / "times.json").write_text(json.dumps(times, indent=2))
    log(f"times: {times}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default="/tmp/demo-generator-distill")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--export-only", action="store_true", help="export the last checkpoint's EMA weights, whatever its step")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.export_only:
        state = torch.load(work / "student.pt")
        student = make_student_unet()
        student.load_state_dict(state["ema"])
        export_student(args, student.eval(), work, state["seconds"], torch.load(work / "latents.pt")["seconds"])
        return
    teacher = teacher_unet(work)
    for p in teacher.parameters():
        p.requires_grad_(False)
    emb, empty = prompt_embeddings(work)
    data = teacher_latents(args, teacher, emb, empty, work)
    student, seconds = train_student(args, teacher, emb, empty, data, work)
    export_student(args, student, work, seconds, data["seconds"])


if __name__ == "__main__":
    sys.exit(main())
