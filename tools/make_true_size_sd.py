"""True-size random-weight Stable Diffusion bundles in HF Optimum's ONNX layout: SD 1.5, SD 2.1 (SD-Turbo with
--turbo) and SDXL (SDXL-Turbo with --turbo), for measuring the text-to-image engine at real model sizes.

    OMP_NUM_THREADS=2 tools/.venv/bin/python tools/make_true_size_sd.py --family sd15|sd21|sdxl \
        --out .diffubias/true-size/<family> [--scale F] [--turbo] [--check-layout]

What it builds (the architectures of the published diffusers configs; weights random, seeded, fp32):
  sd15  runwayml/stable-diffusion-v1-5: UNet 859.5M (block_out 320/640/1280/1280, 8 heads, cross-attention 768),
        CLIP ViT-L/14 text encoder (12 layers, 768, quick_gelu), VAE 83.7M (scaling 0.18215), PNDM scheduler config.
  sd21  stabilityai/stable-diffusion-2-1 (768-v): UNet 865.9M (attention_head_dim [5, 10, 20, 20], linear
        projections, cross-attention 1024, sample_size 96), OpenCLIP ViT-H text encoder as CLIPTextModel (23
        layers: SD 2's penultimate layer, 1024, gelu), tokenizer pad "!", DDIM with prediction_type v_prediction.
        --turbo: stabilityai/sd-turbo (the same unet/text encoder/VAE, sample_size 64, Euler "trailing", epsilon).
  sdxl  stabilityai/stable-diffusion-xl-base-1.0: UNet 2.57B (block_out 320/640/1280, transformer layers 1/2/10,
        cross-attention 768 + 1280 = 2048, addition_embed_type text_time, 2816 = 1280 + 6 x 256), text_encoder
        CLIP ViT-L (CLIPTextModel) + text_encoder_2 OpenCLIP bigG (CLIPTextModelWithProjection, 32 layers, 1280),
        VAE scaling 0.13025, make_tiny_sdxl's Euler config. --turbo: stabilityai/sdxl-turbo (sample_size 64,
        Euler ancestral "trailing").
  Tokenizers: the REAL CLIP BPE (49408 tokens) from open_clip's bpe_simple_vocab_16e6.txt.gz, converted to the
  vocab.json + merges.txt that transformers' CLIPTokenizer reads (what optimum exports for SD).
  --scale F (< 1) multiplies every channel width (unet blocks, text encoder hidden/projection, VAE blocks; depths,
  head width 64 and the SDXL time embedding stay) for a quick check of the same code path.

The export is optimum-onnx's, one component at a time so that only one true-size model is in memory:
optimum.exporters.utils.get_diffusion_models_for_export on a pipeline whose other components live on the meta
device, then optimum.exporters.onnx.convert.export (what main_export -> onnx_export_from_model calls, without
its validation), and the same config/scheduler/tokenizer/model_index files onnx_export_from_model writes. Parts
over 2 GB get Optimum's external data (model.onnx + model.onnx_data, one file, size_threshold 100): optimum's
own consolidation loads the whole model into memory, so while export() runs, its onnx.load/onnx.save are
replaced by a streaming equivalent (one tensor at a time, the same order and byte layout), and the torch weights
are freed as soon as torch.onnx.export has written them. The vae_encoder is not exported (the engine never
encodes images; make_tiny_sd.export_onnx drops it too). --check-layout (small scales) also exports the same
weights with make_tiny_sd.export_onnx (optimum's main_export from a saved diffusers folder, with validation)
and asserts the two folders hold the same files, configs, graph signatures and ONNX Runtime outputs.

Writes <out>/true_size.json (family, scale, parameter counts, export seconds, peak RSS, versions) beside the
bundle. Big files belong under .diffubias/true-size/ (git-ignored).

Pins: tools/requirements-tiny-sd.txt (torch 2.15.0, diffusers 0.35.2, transformers 4.57.1, optimum 2.1.0,
optimum-onnx 0.1.0, onnx 1.23.2, onnxruntime 1.32.0), plus open_clip_torch==3.3.0 for its vocabulary file only:
    tools/.venv/bin/pip install --no-deps open_clip_torch==3.3.0
(--no-deps: open_clip is never imported, its BPE file is read from the installed package, and its torchvision /
timm requirements would otherwise move the pinned torch).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import gzip
import importlib.util
import json
import os
import resource
import shutil
import sys
import time
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tiny_sd import MAX_LENGTH, export_onnx, make_tokenizer  # noqa: E402
from make_tiny_sdxl import SDXL_SCHEDULER  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / ".scratch" / "true-size-sd"
OPEN_CLIP_VERSION = "3.3.0"
VOCAB_SIZE = 49408

# ------------------------------------------------------------------------------------------- scheduler configs
SD15_SCHEDULER = {  # runwayml/stable-diffusion-v1-5 scheduler/scheduler_config.json
    "_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
    "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
    "trained_betas": None, "clip_sample": False,
}
SD21_SCHEDULER = {  # stabilityai/stable-diffusion-2-1 (768-v)
    "_class_name": "DDIMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
    "clip_sample": False, "num_train_timesteps": 1000, "prediction_type": "v_prediction", "set_alpha_to_one": False,
    "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None,
}
SD_TURBO_SCHEDULER = {  # stabilityai/sd-turbo
    "_class_name": "EulerDiscreteScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
    "clip_sample": False, "interpolation_type": "linear", "num_train_timesteps": 1000, "prediction_type": "epsilon",
    "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "trailing",
    "trained_betas": None, "use_karras_sigmas": False,
}
SDXL_TURBO_SCHEDULER = {  # stabilityai/sdxl-turbo
    "_class_name": "EulerAncestralDiscreteScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "beta_start": 0.00085, "clip_sample": False, "interpolation_type": "linear", "num_train_timesteps": 1000,
    "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": False, "skip_prk_steps": True,
    "steps_offset": 1, "timestep_spacing": "trailing", "trained_betas": None, "use_karras_sigmas": False,
}


# ------------------------------------------------------------------------------------------------ configs
def width(channels: int, scale: float, multiple: int) -> int:
    """A channel width times `scale`, kept a multiple of `multiple` (GroupNorm's 32 groups, 64-wide heads)."""
    if scale == 1:
        return channels
    return max(multiple, multiple * round(channels * scale / multiple))


def clip_text_config(hidden: int, layers: int, act: str, projection: int, scale: float) -> dict:
    """A CLIP text tower (transformers CLIPTextConfig): heads of 64, MLP 4x, the published legacy token ids."""
    h = width(hidden, scale, 64)
    return dict(
        vocab_size=VOCAB_SIZE, hidden_size=h, intermediate_size=4 * h, num_hidden_layers=layers,
        num_attention_heads=h // 64, max_position_embeddings=MAX_LENGTH, hidden_act=act, layer_norm_eps=1e-5,
        projection_dim=width(projection, scale, 64), bos_token_id=0, eos_token_id=2, pad_token_id=1,
    )


def vae_config(sample_size: int, scaling: float, scale: float, **extra) -> dict:
    return dict(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32, act_fn="silu",
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[width(c, scale, 32) for c in (128, 256, 512, 512)], sample_size=sample_size,
        scaling_factor=scaling, **extra,
    )


def family_spec(family: str, scale: float, turbo: bool) -> dict:
    """Everything the family's pipeline is built from: configs per component, tokenizer pads, scheduler."""
    if family == "sd15":
        if turbo:
            raise SystemExit("--turbo is for sd21 (SD-Turbo) and sdxl (SDXL-Turbo)")
        blocks = [width(c, scale, 64) for c in (320, 640, 1280, 1280)]
        return {
            "pipeline": "StableDiffusionPipeline", "variant": "SD 1.5 (runwayml/stable-diffusion-v1-5)",
            "prediction_type": "epsilon",
            "text_encoder": ("CLIPTextModel", clip_text_config(768, 12, "quick_gelu", 768, scale)),
            "unet": dict(
                sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=blocks,
                down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
                up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
                attention_head_dim=8, cross_attention_dim=width(768, scale, 64), norm_num_groups=32,
            ),
            "vae": vae_config(512, 0.18215, scale),
            "tokenizers": {"tokenizer": "<|endoftext|>"},
            "scheduler": SD15_SCHEDULER,
        }
    if family == "sd21":
        blocks = [width(c, scale, 64) for c in (320, 640, 1280, 1280)]
        return {
            "pipeline": "StableDiffusionPipeline",
            "variant": "SD-Turbo (stabilityai/sd-turbo: SD 2.1 architecture at 512, epsilon)" if turbo
            else "SD 2.1 (stabilityai/stable-diffusion-2-1: 768-v, v_prediction)",
            "prediction_type": "epsilon" if turbo else "v_prediction",
            "text_encoder": ("CLIPTextModel", clip_text_config(1024, 23, "gelu", 512, scale)),
            "unet": dict(
                sample_size=64 if turbo else 96, in_channels=4, out_channels=4, layers_per_block=2,
                block_out_channels=blocks, down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
                up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
                attention_head_dim=[c // 64 for c in blocks], cross_attention_dim=width(1024, scale, 64),
                use_linear_projection=True, upcast_attention=not turbo, norm_num_groups=32,
            ),
            "vae": vae_config(512 if turbo else 768, 0.18215, scale),
            "tokenizers": {"tokenizer": "!"},
            "scheduler": SD_TURBO_SCHEDULER if turbo else SD21_SCHEDULER,
        }
    if family == "sdxl":
        te1 = clip_text_config(768, 12, "quick_gelu", 768, scale)
        te2 = clip_text_config(1280, 32, "gelu", 1280, scale)
        blocks = [width(c, scale, 64) for c in (320, 640, 1280)]
        time_dim = 256
        return {
            "pipeline": "StableDiffusionXLPipeline",
            "variant": "SDXL-Turbo (stabilityai/sdxl-turbo: SDXL architecture at 512)" if turbo
            else "SDXL base 1.0 (stabilityai/stable-diffusion-xl-base-1.0)",
            "prediction_type": "epsilon",
            "text_encoder": ("CLIPTextModel", te1),
            "text_encoder_2": ("CLIPTextModelWithProjection", te2),
            "unet": dict(
                sample_size=64 if turbo else 128, in_channels=4, out_channels=4, layers_per_block=2,
                block_out_channels=blocks, down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
                up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
                transformer_layers_per_block=[1, 2, 10], attention_head_dim=[c // 64 for c in blocks],
                cross_attention_dim=te1["hidden_size"] + te2["hidden_size"], use_linear_projection=True,
                addition_embed_type="text_time", addition_time_embed_dim=time_dim,
                projection_class_embeddings_input_dim=te2["projection_dim"] + 6 * time_dim, norm_num_groups=32,
            ),
            "vae": vae_config(512 if turbo else 1024, 0.13025, scale, force_upcast=True),
            "tokenizers": {"tokenizer": "<|endoftext|>", "tokenizer_2": "!"},
            "scheduler": SDXL_TURBO_SCHEDULER if turbo else SDXL_SCHEDULER,
        }
    raise SystemExit(f"unknown family {family}")


# ---------------------------------------------------------------------------------------------- tokenizer
def open_clip_bpe() -> Path:
    """open_clip's BPE file, from the installed wheel (the package is not imported)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"open_clip is not installed: tools/.venv/bin/pip install --no-deps open_clip_torch=={OPEN_CLIP_VERSION}")
    return Path(spec.submodule_search_locations[0]) / "bpe_simple_vocab_16e6.txt.gz"


def write_real_clip_vocab(folder: Path) -> None:
    """vocab.json + merges.txt as transformers' CLIPTokenizer (and openai/clip-vit-large-patch14) has them, built
    the way open_clip's SimpleTokenizer builds its encoder: 256 byte symbols, the same with </w>, one token per
    merge of the first 48894 merges, then <|startoftext|> and <|endoftext|> (49408 tokens)."""
    from transformers.models.clip.tokenization_clip import bytes_to_unicode

    lines = gzip.open(open_clip_bpe()).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:49152 - 256 - 2 + 1]]
    vocab = list(bytes_to_unicode().values())
    vocab += [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == VOCAB_SIZE and len(set(vocab)) == VOCAB_SIZE, len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8")


def check_tokenizer(tokenizer) -> None:
    # Known CLIP ids (openai/clip-vit-large-patch14): a 320, photo 1125, of 539, cat 2368.
    ids = tokenizer("a photo of a cat").input_ids
    assert ids == [49406, 320, 1125, 539, 320, 2368, 49407], ids


# ------------------------------------------------------------------------------------------------- models
SEEDS = {"text_encoder": 1, "text_encoder_2": 2, "unet": 3, "vae": 4}


def build(spec: dict, name: str, meta: bool):
    """One component, with seeded random weights (default initialisation), or on the meta device (no memory)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    import transformers

    torch.manual_seed(SEEDS[name])
    with torch.device("meta") if meta else contextlib.nullcontext():
        if name == "unet":
            model = UNet2DConditionModel(**spec["unet"])
        elif name == "vae":
            model = AutoencoderKL(**spec["vae"])
        else:
            cls_name, cfg = spec[name]
            cls = getattr(transformers, cls_name)
            model = cls(transformers.CLIPTextConfig(**cfg))
            # What save_pretrained + from_pretrained put in the config (main_export exports a loaded model).
            model.config.architectures = [cls_name]
            model.config.dtype = torch.float32
    return model.eval()


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def make_scheduler(spec: dict):
    import diffusers

    cfg = dict(spec["scheduler"])
    cls = getattr(diffusers, cfg.pop("_class_name"))
    return cls.from_config(cfg)


def make_pipeline(spec: dict, tokenizers: dict, parts: dict):
    import diffusers

    cls = getattr(diffusers, spec["pipeline"])
    kwargs = dict(vae=parts["vae"], text_encoder=parts["text_encoder"], tokenizer=tokenizers["tokenizer"], unet=parts["unet"],
                  scheduler=make_scheduler(spec))
    if spec["pipeline"] == "StableDiffusionXLPipeline":
        kwargs.update(text_encoder_2=parts["text_encoder_2"], tokenizer_2=tokenizers["tokenizer_2"],
                      force_zeros_for_empty_prompt=True, add_watermarker=False)
    else:
        kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    return cls(**kwargs)


def components(spec: dict) -> list[str]:
    return [n for n in ("text_encoder", "text_encoder_2", "unet", "vae") if n in spec]


# ---------------------------------------------------------------------------------------- streamed export
def _stream_save(model, path: str, location: str, size_threshold: int, base_dir: str) -> None:
    """onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location=location,
    convert_attribute=True, size_threshold=...) for a model whose tensors are still in torch's one-file-per-tensor
    external data: the same tensors in the same order into one file, but one tensor in memory at a time."""
    import sys as _sys

    from onnx import external_data_helper as edh

    for tensor in edh._get_all_tensors(model):
        if edh.uses_external_data(tensor):
            edh.load_external_data_for_tensor(tensor, base_dir)
        if tensor.HasField("raw_data") and _sys.getsizeof(tensor.raw_data) >= size_threshold:
            edh.set_external_data(tensor, location)
            edh.save_external_data(tensor, os.path.dirname(path))
            tensor.ClearField("raw_data")
    import onnx

    onnx.save_model(model, path)


@contextlib.contextmanager
def streamed_external_data(on_weights_written):
    """While optimum's export_pytorch consolidates torch's external data, its module-level `onnx` is a proxy:
    load(..., load_external_data=True) loads the graph only, save(..., save_as_external_data=True) streams (see
    _stream_save). `on_weights_written` runs first: torch.onnx.export is done with the torch weights by then."""
    import onnx

    from optimum.exporters.onnx import convert

    bases: dict[int, str] = {}

    def load(f, *args, load_external_data=True, **kwargs):
        model = onnx.load(f, *args, load_external_data=False, **kwargs)
        if load_external_data:
            bases[id(model)] = os.path.dirname(os.fspath(f))
        return model

    def save(model, f, *args, save_as_external_data=False, location=None, size_threshold=1024, **kwargs):
        if id(model) not in bases or not save_as_external_data or args:
            return onnx.save(model, f, *args, save_as_external_data=save_as_external_data, location=location,
                             size_threshold=size_threshold, **kwargs)
        assert kwargs.get("all_tensors_to_one_file", True) and kwargs.get("convert_attribute", False), kwargs
        on_weights_written()
        _stream_save(model, os.fspath(f), location, size_threshold, bases.pop(id(model)))

    proxy = types.SimpleNamespace(**{k: getattr(onnx, k) for k in dir(onnx) if not k.startswith("__")})
    proxy.load, proxy.save = load, save
    real = convert.onnx
    convert.onnx = proxy
    try:
        yield
    finally:
        convert.onnx = real


def free_weights(model) -> None:
    """Drops a torch model's parameter and buffer storage (moves it to the meta device)."""
    model.to("meta")
    gc.collect()


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def export_bundle(spec: dict, tokenizers: dict, out: Path) -> dict:
    """optimum-onnx's export of the pipeline, one component at a time (see the module docstring)."""
    from optimum.exporters.onnx.convert import export
    from optimum.exporters.utils import get_diffusion_models_for_export
    from optimum.utils import DEFAULT_DUMMY_SHAPES

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    meta = {n: build(spec, n, meta=True) for n in components(spec)}
    report: dict = {"params": {n: n_params(m) for n, m in meta.items()}, "export_s": {}, "peak_rss_gb_after": {}}

    # The files onnx_export_from_model writes besides the ONNX models (configs from the meta pipeline).
    pipe = make_pipeline(spec, tokenizers, meta)
    entries = get_diffusion_models_for_export(pipe, int_dtype="int64", float_dtype="fp32", exporter="onnx")
    entries.pop("vae_encoder")
    for name, (sub, _) in entries.items():
        if hasattr(sub, "save_config"):
            sub.save_config(out / name)
        else:
            sub.config.save_pretrained(out / name)
    pipe.scheduler.save_pretrained(out / "scheduler")
    for attr in ("tokenizer", "tokenizer_2"):
        if getattr(pipe, attr, None) is not None:
            getattr(pipe, attr).save_pretrained(out / attr)
    pipe.save_config(out)
    del pipe, entries

    for name in components(spec):
        target = "vae_decoder" if name == "vae" else name
        start = time.perf_counter()
        real = build(spec, name, meta=False)
        parts = dict(meta, **{name: real})
        pipe = make_pipeline(spec, tokenizers, parts)
        entries = get_diffusion_models_for_export(pipe, int_dtype="int64", float_dtype="fp32", exporter="onnx")
        sub, onnx_config = entries[target]
        del pipe, entries, parts
        gc.collect()
        print(f"exporting {target}: {n_params(real) / 1e6:.1f}M parameters", flush=True)
        written = lambda: free_weights(sub)  # noqa: E731
        with streamed_external_data(written):
            export(model=sub, config=onnx_config, output=out / target / "model.onnx", opset=None, device="cpu",
                   input_shapes=dict(DEFAULT_DUMMY_SHAPES), dtype="fp32")
        del sub, real, onnx_config
        gc.collect()
        report["export_s"][target] = round(time.perf_counter() - start, 1)
        report["peak_rss_gb_after"][target] = round(peak_rss_gb(), 2)
        print(f"  {target}: {report['export_s'][target]} s, peak RSS so far {report['peak_rss_gb_after'][target]} GB", flush=True)
    # make_tiny_sd.export_onnx drops temporary paths from the JSON files; do the same.
    for path in out.rglob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "_name_or_path" in data:
            data.pop("_name_or_path")
            path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return report


# ------------------------------------------------------------------------------------------ layout check
def check_layout(spec: dict, tokenizers: dict, out: Path, work: Path) -> None:
    """The same weights through make_tiny_sd.export_onnx (main_export on a saved diffusers folder, validation on):
    the same files, JSON, graph signatures, and ONNX Runtime outputs on the same inputs."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    if work.exists():
        shutil.rmtree(work)
    parts = {n: build(spec, n, meta=False) for n in components(spec)}
    make_pipeline(spec, tokenizers, parts).save_pretrained(work / "diffusers", safe_serialization=True)
    del parts
    gc.collect()
    ref = work / "optimum"
    export_onnx(work / "diffusers", ref)

    def files(d: Path) -> set[str]:
        return {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file() and p.name != "true_size.json"}

    assert files(out) == files(ref), (sorted(files(out) ^ files(ref)))
    diffs = []
    for rel in sorted(files(out)):
        if rel.endswith(".json"):
            a, b = (json.loads((d / rel).read_text()) for d in (out, ref))
            if isinstance(a, dict):
                for d in (a, b):
                    d.pop("_name_or_path", None)
                    d.pop("_diffusers_version", None)
                    d.pop("transformers_version", None)
            if a != b:
                keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)) if isinstance(a, dict) else []
                diffs.append(f"{rel}: " + ", ".join(f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in keys))
        elif rel.endswith(".txt") and (out / rel).read_bytes() != (ref / rel).read_bytes():
            diffs.append(rel)
    assert not diffs, "\n".join(diffs)
    rng = np.random.default_rng(0)
    for rel in sorted(r for r in files(out) if r.endswith("model.onnx")):
        ga, gb = (onnx.load(str(d / rel), load_external_data=False).graph for d in (out, ref))
        sig = lambda g: [(v.name, str(v.type)) for v in list(g.input) + list(g.output)]  # noqa: E731
        assert sig(ga) == sig(gb), rel
        sa, sb = (ort.InferenceSession(str(d / rel), providers=["CPUExecutionProvider"]) for d in (out, ref))
        feed = {}
        for i in sa.get_inputs():
            shape = [d if isinstance(d, int) else {"batch_size": 2, "sequence_length": MAX_LENGTH}.get(d, 8) for d in i.shape]
            if "int" in i.type:
                feed[i.name] = rng.integers(0, 1000, shape).astype(np.int64 if "int64" in i.type else np.int32)
            elif i.name == "timestep":
                feed[i.name] = np.array(500.0, dtype=np.float32).reshape(shape)
            else:
                feed[i.name] = rng.standard_normal(shape).astype(np.float32)
        oa, ob = sa.run(None, feed), sb.run(None, feed)
        worst = max(float(np.abs(x - y).max()) for x, y in zip(oa, ob))
        print(f"  layout check {rel}: same signature, max |ours - main_export| = {worst:.1e}", flush=True)
        assert worst < 1e-4, (rel, worst)
    shutil.rmtree(work, ignore_errors=True)


# ----------------------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--family", required=True, choices=["sd15", "sd21", "sdxl"])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--scale", type=float, default=1.0, help="channel-width multiplier (1 = true size)")
    ap.add_argument("--turbo", action="store_true", help="sd21: SD-Turbo; sdxl: SDXL-Turbo (512 px configs)")
    ap.add_argument("--check-layout", action="store_true", help="also export with make_tiny_sd.export_onnx and compare")
    ap.add_argument("--max-ram-gb", type=float, default=8.0, help="refuse when the estimated export peak is above this")
    args = ap.parse_args()
    from transformers import CLIPTokenizer

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    spec = family_spec(args.family, args.scale, args.turbo)

    # Estimate before building anything (measured: SD 1.5 true size, 2 cores): a part under 2 GB is serialised in
    # memory by torch.onnx.export (about 3.5x its fp32 weights: 0.49 GB text encoder -> 2.6 GB peak), a larger one
    # goes to external data tensor by tensor (about 1x + 1.6 GB: 3.44 GB unet -> 5.0 GB peak); ~0.9 GB of imports.
    sizes = {n: n_params(build(spec, n, meta=True)) for n in components(spec)}
    part_peak = lambda b: 0.9 + 3.5 * b if b < 2 else 1.6 + b  # noqa: E731
    estimate = max(part_peak(4 * p / 1e9) for p in sizes.values())
    print(f"{spec['variant']}, scale {args.scale}: parameters {json.dumps(sizes)}; estimated export peak {estimate:.1f} GB", flush=True)
    if estimate > args.max_ram_gb:
        raise SystemExit(f"estimated export peak {estimate:.1f} GB is over --max-ram-gb {args.max_ram_gb}: not exporting")

    work = SCRATCH / f"{args.family}-{args.scale}"
    write_real_clip_vocab(work / "vocab")
    tokenizers = {}
    for key, pad in spec["tokenizers"].items():
        # Saved and reloaded, as main_export's pipeline has it (special tokens as AddedToken objects).
        make_tokenizer(work / "vocab", pad_token=pad).save_pretrained(work / key)
        tokenizers[key] = CLIPTokenizer.from_pretrained(work / key)
    for t in tokenizers.values():
        check_tokenizer(t)

    start = time.perf_counter()
    report = export_bundle(spec, tokenizers, args.out)
    total = time.perf_counter() - start
    onnx_bytes = {p.name: sum(f.stat().st_size for f in p.iterdir() if f.name.startswith("model.onnx"))
                  for p in args.out.iterdir() if p.is_dir() and (p / "model.onnx").exists()}
    import diffusers, onnx, onnxruntime, optimum.version, transformers  # noqa: E401

    info = {
        "family": args.family, "variant": spec["variant"], "turbo": args.turbo, "scale": args.scale,
        "prediction_type": spec["prediction_type"], **report, "export_total_s": round(total, 1),
        "onnx_bytes": onnx_bytes, "peak_rss_gb": round(peak_rss_gb(), 2),
        "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__,
                     "optimum": optimum.version.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
                     "open_clip_torch": OPEN_CLIP_VERSION},
    }
    (args.out / "true_size.json").write_text(json.dumps(info, indent=1) + "\n")
    print(json.dumps(info), flush=True)
    if args.check_layout:
        check_layout(spec, tokenizers, args.out, work / "layout-check")
        print("layout check passed", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
