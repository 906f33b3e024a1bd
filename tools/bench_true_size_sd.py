"""diffusers' ONNX pipeline (optimum-onnx ORTStableDiffusionPipeline / ORTStableDiffusionXLPipeline, i.e. diffusers'
own __call__ over onnxruntime sessions) on a bundle made by tools/make_true_size_sd.py, with the settings of
scripts/bench-true-size-generator.ts; prints one JSON line in the same fields.

    OMP_NUM_THREADS=2 tools/.venv/bin/python tools/bench_true_size_sd.py <folder> [--steps 2] [--images 1]
        [--size 512] [--guidance 7.5] [--threads 2] [--warmup-steps 1] [--scheduler <kind>]

onnxruntime sessions as ours opens them (graph optimisation all, intra-op --threads, inter-op 1). One warm-up
call (one image, --warmup-steps steps), then one timed call of --images prompts: s_per_step from
callback_on_step_end's timestamps ((last - first) / (steps - 1)), pre_s = start to the first step's end less one
step, decode_s = after the last step (VAE decode and output_type="np" post-processing). Scheduler: the bundle's
if the engine implements that class, else DDIM from the bundle's config (the engine's fallback), so both run
the same number of unet passes. peak_rss_gb: ru_maxrss of this process (torch is imported: about 0.5 GB of it); rss_after_load_gb: RSS once the
sessions are open.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

KINDS = {"ddim": "DDIMScheduler", "euler": "EulerDiscreteScheduler", "euler_a": "EulerAncestralDiscreteScheduler",
         "lcm": "LCMScheduler", "dpmpp_2m": "DPMSolverMultistepScheduler"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--images", type=int, default=1)
    ap.add_argument("--size", type=int)
    ap.add_argument("--guidance", type=float, default=7.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup-steps", type=int, default=1)
    ap.add_argument("--scheduler", choices=sorted(KINDS))
    a = ap.parse_args()

    import diffusers
    import torch
    from optimum.onnxruntime import ORTDiffusionPipeline

    torch.set_num_threads(a.threads)
    folder = a.folder.resolve()
    info_path = folder / "true_size.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    onnx_bytes = {p.name: sum(f.stat().st_size for f in p.iterdir() if f.name.startswith("model.onnx"))
                  for p in sorted(folder.iterdir()) if (p / "model.onnx").exists()}

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    t = time.perf_counter()
    pipe = ORTDiffusionPipeline.from_pretrained(folder, provider="CPUExecutionProvider", session_options=so)
    load_s = time.perf_counter() - t
    rss_after_load = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) / 1024 ** 2
    pipe.set_progress_bar_config(disable=True)

    bundle_class = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())["_class_name"]
    kind = a.scheduler or next((k for k, c in KINDS.items() if c == bundle_class), "ddim")
    pipe.scheduler = getattr(diffusers, KINDS[kind]).from_config(pipe.scheduler.config)
    size = a.size or pipe.unet.config.sample_size * pipe.vae_scale_factor
    prompts = [f"a photo of the digit {i} in red" for i in range(a.images)]

    def call(n: int, steps: int, seed: int, marks: list | None = None):
        def on_step(_pipe, _i, _t, kwargs):
            if marks is not None:
                marks.append(time.perf_counter())
            return kwargs

        return pipe(prompts[:n], num_inference_steps=steps, guidance_scale=a.guidance, height=size, width=size,
                    generator=torch.Generator().manual_seed(seed), output_type="np", callback_on_step_end=on_step)

    t = time.perf_counter()
    call(1, a.warmup_steps, 1000)
    warmup_s = time.perf_counter() - t

    marks: list[float] = []
    t = time.perf_counter()
    out = call(a.images, a.steps, 0, marks)
    end = time.perf_counter()
    per_step = (marks[-1] - marks[0]) / (len(marks) - 1) if len(marks) >= 2 else marks[0] - t
    image = np.asarray(out.images[0], dtype=np.float32)
    r = lambda x, d=3: round(float(x), d)  # noqa: E731
    print(json.dumps({
        "engine": "diffusers (optimum-onnx ORT pipeline)", "pipeline": type(pipe).__name__, "family": info.get("family"),
        "variant": info.get("variant"), "scale": info.get("scale"), "unet_params": info.get("params", {}).get("unet"),
        "params": info.get("params", {}), "onnx_gb": {k: r(v / 1e9) for k, v in onnx_bytes.items()},
        "onnx_total_gb": r(sum(onnx_bytes.values()) / 1e9), "size": size, "steps": a.steps, "images": a.images,
        "guidance": a.guidance, "unet_batch": 2 * a.images if a.guidance > 1 else a.images, "scheduler": kind,
        "timesteps": [float(x) for x in pipe.scheduler.timesteps], "threads": a.threads,
        "load_s": r(load_s, 2), "warmup_s": r(warmup_s, 2), "warmup_steps": a.warmup_steps,
        "s_per_step": r(per_step), "pre_s": r(marks[0] - t - per_step), "decode_s": r(end - marks[-1]),
        "s_per_image": r((end - t) / a.images), "total_s": r(end - t),
        "image_mean": r(image.mean(), 4), "image_finite": bool(np.isfinite(image).all()),
        "rss_after_load_gb": r(rss_after_load, 2), "peak_rss_gb": r(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2, 2), "onnxruntime": ort.__version__,
    }))


if __name__ == "__main__":
    main()
