"""The demo's generator and captioner from Python, side by side with `npx diffubias bench`, in one run.

The same ONNX files (models/demo/generator, models/demo/captioner) at the settings the `generate.*`
and `caption.demo` lines report (cli/bench.ts ENGINE_BENCH): diffusers' OnnxStableDiffusionPipeline
(the bundle's DDIM scheduler, each line's steps, guidance and images a call, at the bundle's size) and optimum's
ORTModelForVision2Seq.generate (beam search, 3 beams, 3 captions per image, batches of 8, PNG
decoding and the image processor included, as ours includes them). onnxruntime with the same
thread counts as ours (intra-op: one per core, inter-op: 1). Ours and Python are interleaved, and
the table reports medians and the ratio ours / Python.

    tools/.venv/bin/python tools/bench_engines_reference.py [--rounds 3]

Needs tools/requirements-bench.txt. Python stays here: nothing in the product calls it.
"""
import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
GENERATE = ["generate.paper", "generate.paper.before", "generate.demo", "generate.demo.before"]
NAMES = GENERATE + ["caption.demo"]


def session_options():
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.inter_op_num_threads = 1
    return so


def ours():
    cmd = ["node", str(ROOT / "bin" / "diffubias.js"), "bench", "--only", ",".join(NAMES)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    lines = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
    return {l["name"]: l for l in lines}


class Fed:
    """An ONNX model whose inputs diffusers' ONNX pipeline shapes for optimum's exporter: it feeds
    input_ids as int32 and the timestep as [1]; the demo bundle (torch.onnx) takes int64 ids and a
    scalar timestep, as ours feeds them. Only the dtype and rank change, not the values."""

    def __init__(self, model):
        self.inner = model
        self.model = model.model  # the session, which the pipeline reads input types from
        cond = [i for i in self.model.get_inputs() if i.name == "timestep_cond"]
        self.cond_dim = cond[0].shape[1] if cond else None
        self.guidance = None

    def __call__(self, **inputs):
        fixed = {}
        for k, v in inputs.items():
            if k == "input_ids":
                v = v.astype(np.int64)
            if k == "timestep":
                v = v.reshape(())
            fixed[k] = v
        if self.cond_dim is not None:
            # A guidance-distilled unet takes the guidance as diffusers' LCM pipeline hands it over
            # (get_guidance_scale_embedding of w = guidance - 1), and the pipeline runs without CFG.
            from diffusers import LatentConsistencyModelPipeline

            w = torch.tensor([self.guidance - 1.0])
            emb = LatentConsistencyModelPipeline.get_guidance_scale_embedding(None, w, embedding_dim=self.cond_dim).numpy()
            fixed["timestep_cond"] = np.repeat(emb, fixed["sample"].shape[0], axis=0).astype(np.float32)
        return self.inner(**fixed)


def load_generator(bundle="models/demo/generator"):
    from diffusers import DDIMScheduler, OnnxRuntimeModel, OnnxStableDiffusionPipeline
    from transformers import CLIPTokenizer

    path = ROOT / bundle
    model = lambda part: OnnxRuntimeModel.from_pretrained(path / part, provider="CPUExecutionProvider", sess_options=session_options(), provider_options=None)
    return OnnxStableDiffusionPipeline(
        vae_encoder=None, vae_decoder=model("vae_decoder"), text_encoder=Fed(model("text_encoder")),
        tokenizer=CLIPTokenizer.from_pretrained(path / "tokenizer"), unet=Fed(model("unet")),
        scheduler=DDIMScheduler.from_pretrained(path / "scheduler"), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )


def vae_factor():
    config = json.loads((ROOT / "models" / "demo" / "generator" / "vae_decoder" / "config.json").read_text())
    return 2 ** (len(config["block_out_channels"]) - 1)


def generate_throughput(pipes, shape):
    pipe = pipes[shape["bundle"]]
    batch, batches = shape["batch"], shape["batches"]
    distilled = pipe.unet.cond_dim is not None
    pipe.unet.guidance = shape["guidance"]
    # diffusers' ONNX pipeline assumes SD's VAE factor of 8 (latents of height // 8); the demo
    # VAE's is 4. Asking for 8 x the latent size gives the latents ours uses (8x8 for 32 px
    # images), so the unet does the same work; the VAE then decodes them to ours' 32 px.
    latent_h, latent_w = shape["height"] // vae_factor(), shape["width"] // vae_factor()
    prompts = [f"a photo of the digit {i} in red" for i in range(batch)]  # as engines/diffusion/bench.ts

    def call(b):
        out = pipe(prompts, height=latent_h * 8, width=latent_w * 8, num_inference_steps=shape["steps"],
             guidance_scale=1.0 if distilled else shape["guidance"], generator=np.random.RandomState(b), output_type="np")
        assert out.images.shape[1:3] == (shape["height"], shape["width"]), out.images.shape

    call(0)
    start = time.perf_counter()
    for b in range(1, batches + 1):
        call(b)
    return batch * batches / (time.perf_counter() - start)


def load_captioner():
    from optimum.onnxruntime import ORTModelForVision2Seq
    from transformers import AutoImageProcessor

    path = ROOT / "models" / "demo" / "captioner"
    model = ORTModelForVision2Seq.from_pretrained(
        path, subfolder="onnx", use_merged=True,
        provider="CPUExecutionProvider", session_options=session_options(),
    )
    return model, AutoImageProcessor.from_pretrained(path)


def synthetic_pngs(n):
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def caption_throughput(captioner, shape):
    model, processor = captioner
    pngs = synthetic_pngs(shape["images"])
    batch, per_image = shape["batch"], shape["per_image"]

    def run(items):
        for i in range(0, len(items), batch):
            images = [Image.open(io.BytesIO(b)).convert("RGB") for b in items[i:i + batch]]
            pixels = processor(images=images, return_tensors="pt").pixel_values
            model.generate(pixel_values=pixels, num_beams=max(3, per_image), num_return_sequences=per_image, do_sample=False)

    run(pngs[:batch])
    start = time.perf_counter()
    run(pngs)
    return len(pngs) / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    mine = {n: [] for n in NAMES}
    ref = {n: [] for n in NAMES}
    shapes = {}
    for r in range(args.rounds):
        got = ours()
        for n in NAMES:
            mine[n].append(got[n]["images_per_s"])
            shapes[n] = got[n]
        # Fresh sessions each round, as ours starts a fresh process per round: onnxruntime gets a few
        # percent faster over its first dozen calls, which a pipeline kept across rounds would bank.
        generators = {b: load_generator(b) for b in sorted({shapes[n]["bundle"] for n in GENERATE})}
        captioner = load_captioner()
        for n in GENERATE:
            ref[n].append(generate_throughput(generators, shapes[n]))
        ref["caption.demo"].append(caption_throughput(captioner, shapes["caption.demo"]))
        del generators, captioner
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    print(f"\nimages/s, median of {args.rounds} interleaved rounds; onnxruntime {ort.__version__} (Python) and "
          f"onnxruntime-node (ours), CPU, {os.cpu_count()} cores\n")
    print("| benchmark | settings | ours | Python | ours / Python |")
    print("|---|---|---|---|---|")
    c = shapes["caption.demo"]
    settings = {n: f"{g['bundle'].split('/')[-1]}, {g['steps']} {g['scheduler'].upper()} steps, guidance {g['guidance']}, {g['batch']} x {g['width']}x{g['height']} a call"
                for n, g in ((n, shapes[n]) for n in GENERATE)}
    settings["caption.demo"] = f"beam, {c['per_image']} per image, batch {c['batch']}"
    for n in NAMES:
        a, b = statistics.median(mine[n]), statistics.median(ref[n])
        print(f"| `{n}` | {settings[n]} | {a:,.1f} | {b:,.1f} | {a / b:.2f}x |")
    print("\nnow / before (same engine, same run):")
    for now in ("generate.paper", "generate.demo"):
        before = f"{now}.before"
        print(f"  {now}: ours {statistics.median(mine[now]) / statistics.median(mine[before]):.2f}x, "
              f"Python {statistics.median(ref[now]) / statistics.median(ref[before]):.2f}x")


if __name__ == "__main__":
    main()
