"""Tiny random-weight Stable Diffusion bundles in HF Optimum's ONNX layout, plus diffusers references.

What it writes (all small, checked in):
  test/fixtures/tiny-sd/            the base bundle, exactly as optimum-onnx exports it: CLIP tokenizer as
                                    vocab.json + merges.txt (no tokenizer.json), text_encoder input_ids int64,
                                    unet `timestep` float32 scalar (optimum-onnx 0.1 layout), fp32 weights.
  test/fixtures/tiny-sd-lcm/        an LCM-distilled-style unet (time_cond_proj_dim, so the unet takes
                                    `timestep_cond`), its `timestep` rewritten to int64 [batch] (the layout of
                                    older optimum exports), a tokenizer.json (fast tokenizer) and pad token "!"
                                    (the SD 2.x tokenizer's), scheduler LCMScheduler.
                                    Its unet is narrower than the base one: (16, 32).
  test/fixtures/tiny-sd-fp16/       the LCM bundle as optimum exported it (before the timestep rewrite, and
                                    without tokenizer.json) converted to float16 end to end: float16 inputs and
                                    outputs, float16 scalar `timestep` and `timestep_cond`; text_encoder
                                    `input_ids` rewritten to int32.
  test/fixtures/tiny-sd-reference/  reference.json + little-endian float32 .bin files: for each case the
                                    initial latents (unscaled, before init_noise_sigma), the per-step noise the
                                    stochastic schedulers drew (diffusers' randn_tensor monkeypatched and
                                    recorded, shape [steps, batch, 4, h, w]), and the decoded images: the raw VAE
                                    decoder output (NCHW, nominally [-1, 1], NOT clamped) from the diffusers
                                    *torch* StableDiffusionPipeline on the same weights. The pipeline's [0, 1]
                                    image is clamp(raw / 2 + 0.5, 0, 1); the TS test checks both.
                                    schedules.json: scheduler-only references (each scheduler's loop over a
                                    fixed small sample with a fake model, many configs and step counts).

Everything is built offline: the CLIP tokenizer is made here from a byte-level vocab plus merges for a few
words (digits, colours), the models from small configs with torch.manual_seed.

Regenerate (from the repository root; CPU only, about a minute):
    python3 -m venv tools/.venv
    tools/.venv/bin/pip install -r tools/requirements-tiny-sd.txt
    tools/.venv/bin/python tools/make_tiny_sd.py                     # everything
    tools/.venv/bin/python tools/make_tiny_sd.py --schedules-only    # only tiny-sd-reference/schedules.json
then run `npx vitest run test/unit/diffusion-parity.test.ts`. The weights are random but seeded, so a rerun with
the pinned versions gives the same files (up to export nondeterminism in the ONNX protobuf bytes).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper

from clip_word_vocab import write_clip_word_vocab

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "test" / "fixtures"
BASE = FIXTURES / "tiny-sd"
LCM = FIXTURES / "tiny-sd-lcm"
FP16 = FIXTURES / "tiny-sd-fp16"
REF = FIXTURES / "tiny-sd-reference"

STEPS = 4
MAX_LENGTH = 77

WORDS = (
    "a an the photo picture image of digit number handwritten written on with and in colored color background "
    "zero one two three four five six seven eight nine "
    "red green blue yellow purple orange brown pink gray grey white black cyan magenta"
).split()

# Scheduler config of the base bundle: SD 1.5's, with DDIM as the class.
BASE_SCHEDULER = {
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


# --------------------------------------------------------------------------------------------- tokenizer
def write_tokenizer_files(folder: Path) -> None:
    write_clip_word_vocab(folder, WORDS)


def make_tokenizer(folder: Path, pad_token: str = "<|endoftext|>"):
    from transformers import CLIPTokenizer

    return CLIPTokenizer(
        vocab_file=str(folder / "vocab.json"),
        merges_file=str(folder / "merges.txt"),
        pad_token=pad_token,
        model_max_length=MAX_LENGTH,
    )


# ------------------------------------------------------------------------------------------------ models
def make_text_encoder(tokenizer):
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    config = CLIPTextConfig(
        vocab_size=len(tokenizer.get_vocab()),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=MAX_LENGTH,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        projection_dim=32,
    )
    return CLIPTextModel(config).eval()


def make_unet(time_cond_proj_dim: int | None = None):
    """The base unet: block_out_channels (32, 64), cross-attention in the second down block only and no mid
    block, to keep the fixture small (about 2 MB). The LCM variant is narrower still: (16, 32)."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(1 if time_cond_proj_dim is None else 2)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64) if time_cond_proj_dim is None else (16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        mid_block_type=None,
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32 if time_cond_proj_dim is None else 8,
        time_cond_proj_dim=time_cond_proj_dim,
    )
    return unet.eval()


def make_vae():
    from diffusers import AutoencoderKL

    torch.manual_seed(3)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
        scaling_factor=0.13025,  # not the 0.18215 default: the TS side must read it from the config
    )
    return vae.eval()


def save_pipeline(folder: Path, tokenizer, text_encoder, unet, vae, scheduler_config: dict) -> None:
    from diffusers import DDIMScheduler, LCMScheduler, StableDiffusionPipeline

    cls = {"DDIMScheduler": DDIMScheduler, "LCMScheduler": LCMScheduler}[scheduler_config["_class_name"]]
    scheduler = cls.from_config({k: v for k, v in scheduler_config.items() if k != "_class_name"})
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)


def export_onnx(diffusers_dir: Path, out: Path) -> None:
    from optimum.exporters.onnx import main_export

    if out.exists():
        shutil.rmtree(out)
    main_export(
        model_name_or_path=str(diffusers_dir),
        output=str(out),
        task="text-to-image",
        library_name="diffusers",
        device="cpu",
        local_files_only=True,
        do_validation=True,
    )
    # The text-to-image engine never encodes images: drop the encoder to keep fixtures small.
    shutil.rmtree(out / "vae_encoder", ignore_errors=True)
    # Temporary paths would make every regeneration differ.
    for path in out.rglob("*.json"):
        text = path.read_text(encoding="utf-8")
        if '"_name_or_path"' in text:
            data = json.loads(text)
            data.pop("_name_or_path", None)
            path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------- graph surgery
def retype_input(model: onnx.ModelProto, name: str, new_type: int, new_shape: list, adapter) -> None:
    """Replaces graph input `name` by a new input of another type and shape; `adapter` makes the nodes that turn
    it into what the graph's consumers expect (they now read `<name>__adapted`)."""
    graph = model.graph
    inp = next(i for i in graph.input if i.name == name)
    internal = f"{name}__adapted"
    for node in graph.node:
        for k, x in enumerate(node.input):
            if x == name:
                node.input[k] = internal
    graph.input.remove(inp)
    new_input = helper.make_tensor_value_info(name, new_type, new_shape)
    graph.input.insert(0, new_input)
    for node in reversed(adapter(name, internal)):
        graph.node.insert(0, node)


def int64_batch_timestep(path: Path) -> None:
    """unet `timestep`: float32 scalar -> int64 [batch] (as older optimum exports had it)."""
    model = onnx.load(str(path))

    def adapter(src, dst):
        return [
            helper.make_node("Cast", [src], [f"{src}__f"], to=TensorProto.FLOAT),
            helper.make_node("Constant", [], [f"{src}__i0"], value=helper.make_tensor(f"{src}__i0v", TensorProto.INT64, [], [0])),
            helper.make_node("Gather", [f"{src}__f", f"{src}__i0"], [dst], axis=0),
        ]

    retype_input(model, "timestep", TensorProto.INT64, ["steps"], adapter)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def int32_input_ids(path: Path) -> None:
    model = onnx.load(str(path))

    def adapter(src, dst):
        return [helper.make_node("Cast", [src], [dst], to=TensorProto.INT64)]

    retype_input(model, "input_ids", TensorProto.INT32, ["batch_size", "sequence_length"], adapter)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def to_fp16(path: Path) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(path))
    model = convert_float_to_float16(model, keep_io_types=False, disable_shape_infer=False)
    onnx.save(model, str(path))


# --------------------------------------------------------------------------------------------- references
class NoiseRecorder:
    """Stands in for diffusers' randn_tensor inside the stochastic schedulers and keeps what it returned."""

    def __init__(self) -> None:
        self.draws: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(0)

    def reset(self, seed: int) -> None:
        self.draws = []
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, shape, generator=None, device=None, dtype=None, layout=None):
        t = torch.randn(tuple(shape), generator=self.generator, dtype=torch.float32)
        self.draws.append(t.clone())
        return t.to(dtype or torch.float32)


def write_bin(name: str, array: np.ndarray) -> str:
    data = np.ascontiguousarray(array, dtype="<f4")
    (REF / name).write_bytes(data.tobytes())
    return name


def scheduler_for(kind: str, base: dict, overrides: dict):
    from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                           EulerDiscreteScheduler, LCMScheduler)

    cls = {
        "ddim": DDIMScheduler,
        "dpmpp_2m": DPMSolverMultistepScheduler,
        "euler_a": EulerAncestralDiscreteScheduler,
        "euler": EulerDiscreteScheduler,
        "lcm": LCMScheduler,
    }[kind]
    config = {**base, **overrides}
    return cls.from_config(config)


def run_case(pipe, recorder: NoiseRecorder, case: dict, base_config: dict) -> dict:
    name = case["name"]
    b = len(case["prompts"])
    h, w = case.get("height", 64), case.get("width", 64)
    pipe.scheduler = scheduler_for(case["scheduler"], base_config, case.get("schedulerConfig", {}))
    latents = torch.randn((b, 4, h // 8, w // 8), generator=torch.Generator().manual_seed(case["latentSeed"]))
    recorder.reset(case["latentSeed"] + 1000)
    with torch.no_grad():
        out = pipe(
            prompt=case["prompts"],
            negative_prompt=case.get("negativePrompts"),
            num_inference_steps=case["steps"],
            guidance_scale=case["guidance"],
            latents=latents.clone(),
            height=h,
            width=w,
            output_type="latent",
            return_dict=False,
        )[0]
        raw = pipe.vae.decode(out / pipe.vae.config.scaling_factor, return_dict=False)[0]
        # The same run with the pipeline's own post-processing, to state what [0, 1] images are.
        recorder.reset(case["latentSeed"] + 1000)
        pipe.scheduler = scheduler_for(case["scheduler"], base_config, case.get("schedulerConfig", {}))
        np_images = pipe(
            prompt=case["prompts"], negative_prompt=case.get("negativePrompts"), num_inference_steps=case["steps"],
            guidance_scale=case["guidance"], latents=latents.clone(), height=h, width=w, output_type="np",
        ).images
    expected01 = np.clip(raw.numpy() / 2 + 0.5, 0, 1).transpose(0, 2, 3, 1)
    assert np.abs(expected01 - np_images).max() < 1e-6, "pipeline [0,1] output is not clamp(raw/2+0.5)"

    result = dict(case)
    result["latents"] = write_bin(f"{name}.latents.bin", latents.numpy())
    result["latentsShape"] = list(latents.shape)
    if recorder.draws:
        noise = torch.stack(recorder.draws).numpy()
        result["noise"] = write_bin(f"{name}.noise.bin", noise)
        result["noiseShape"] = list(noise.shape)
    result["decoded"] = write_bin(f"{name}.decoded.bin", raw.numpy())
    result["decodedShape"] = list(raw.shape)
    result["decodedRange"] = [float(raw.min()), float(raw.max())]
    result["timesteps"] = [float(t) for t in pipe.scheduler.timesteps]
    tok = pipe.tokenizer
    result["inputIds"] = tok(case["prompts"], padding="max_length", max_length=MAX_LENGTH, truncation=True).input_ids
    negatives = case.get("negativePrompts") or [""] * b
    result["negativeInputIds"] = tok(negatives, padding="max_length", max_length=MAX_LENGTH, truncation=True).input_ids
    result["untruncatedLengths"] = [len(x) for x in tok(case["prompts"]).input_ids]
    print(f"  {name}: decoded range {result['decodedRange'][0]:.3f}..{result['decodedRange'][1]:.3f}", flush=True)
    return result


SCHEDULE_CASES = [
    ("ddim", {}), ("ddim", {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1, "set_alpha_to_one": False}),
    ("ddim", {"timestep_spacing": "trailing", "prediction_type": "v_prediction"}),
    ("ddim", {"timestep_spacing": "linspace", "prediction_type": "sample", "clip_sample": True, "clip_sample_range": 0.5}),
    ("ddim", {"beta_schedule": "squaredcos_cap_v2", "clip_sample": False}),
    ("ddim", {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing", "prediction_type": "v_prediction", "clip_sample": False}),
    ("euler_a", {}), ("euler_a", {"timestep_spacing": "leading", "steps_offset": 1, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}),
    ("euler_a", {"timestep_spacing": "trailing", "prediction_type": "v_prediction"}),
    ("euler_a", {"beta_schedule": "squaredcos_cap_v2", "timestep_spacing": "leading"}),  # t=999 gives NaN in diffusers too
    ("euler_a", {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing", "prediction_type": "v_prediction"}),
    ("euler", {}), ("euler", {"timestep_spacing": "trailing"}), ("euler", {"timestep_spacing": "leading", "steps_offset": 1}),
    ("euler", {"final_sigmas_type": "sigma_min", "prediction_type": "v_prediction"}),
    ("lcm", {}), ("lcm", {"original_inference_steps": 20, "timestep_scaling": 5.0}), ("lcm", {"prediction_type": "v_prediction"}),
    ("lcm", {"prediction_type": "sample", "clip_sample": True}), ("lcm", {"set_alpha_to_one": False, "beta_schedule": "linear"}),
    # Appended, so the cases above keep their seeds.
    ("dpmpp_2m", {}),
    ("dpmpp_2m", {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "timestep_spacing": "leading", "steps_offset": 1}),
    ("dpmpp_2m", {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "use_karras_sigmas": True}),
    ("dpmpp_2m", {"solver_type": "heun", "timestep_spacing": "trailing", "prediction_type": "v_prediction"}),
    ("dpmpp_2m", {"algorithm_type": "dpmsolver", "final_sigmas_type": "sigma_min"}),
    ("dpmpp_2m", {"algorithm_type": "dpmsolver", "solver_type": "heun", "final_sigmas_type": "sigma_min", "prediction_type": "v_prediction"}),
    ("dpmpp_2m", {"solver_order": 1}), ("dpmpp_2m", {"lower_order_final": False, "prediction_type": "sample"}),
    ("dpmpp_2m", {"beta_schedule": "squaredcos_cap_v2", "lambda_min_clipped": -5.1}),
    ("dpmpp_2m", {"euler_at_final": True, "final_sigmas_type": "sigma_min", "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"}),
]


def write_schedules(recorder: "NoiseRecorder") -> None:
    """Scheduler-only references: each scheduler's loop on a fixed 2x8 sample with a fake model
    (tanh(0.7 x + t / 500)), for many configs and step counts, so every config path is checked without a unet."""
    results = []
    for n, (kind, config) in enumerate(SCHEDULE_CASES):
        for steps in (4, 7, 25):
            if kind == "lcm" and steps > config.get("original_inference_steps", 50):
                continue
            sched = scheduler_for(kind, {}, config)
            sched.set_timesteps(steps)
            recorder.reset(5000 + n * 100 + steps)
            start = torch.linspace(-1.5, 1.5, 16, dtype=torch.float32).reshape(2, 8)
            x = start * sched.init_noise_sigma
            for t in sched.timesteps:
                model_in = sched.scale_model_input(x, t)
                out = torch.tanh(model_in * 0.7 + (t.to(torch.float32) / 500.0))
                x = sched.step(out, t, x, return_dict=False)[0]
            results.append({
                "kind": kind, "config": config, "steps": steps, "timesteps": [float(t) for t in sched.timesteps],
                "initNoiseSigma": float(sched.init_noise_sigma), "start": start.flatten().tolist(),
                "noise": [d.flatten().tolist() for d in recorder.draws], "final": x.flatten().tolist(),
            })
    (REF / "schedules.json").write_text(json.dumps({"about": "see write_schedules in tools/make_tiny_sd.py", "cases": results}) + "\n")
    print(f"wrote {len(results)} scheduler cases", flush=True)


def main() -> None:
    import diffusers
    import diffusers.schedulers.scheduling_euler_ancestral_discrete as euler_a_mod
    import diffusers.schedulers.scheduling_lcm as lcm_mod
    from optimum.version import __version__ as optimum_version
    import transformers
    from diffusers import StableDiffusionPipeline

    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="tiny-sd-"))
    print(f"working in {work}", flush=True)

    # Base bundle.
    write_tokenizer_files(work / "tok")
    tokenizer = make_tokenizer(work / "tok")
    text_encoder = make_text_encoder(tokenizer)
    vae = make_vae()
    save_pipeline(work / "base", tokenizer, text_encoder, make_unet(), vae, BASE_SCHEDULER)
    export_onnx(work / "base", BASE)

    # LCM bundle: time-conditioned unet, fast tokenizer with pad "!", int64 [batch] timestep.
    lcm_tokenizer = make_tokenizer(work / "tok", pad_token="!")
    lcm_scheduler = {
        "_class_name": "LCMScheduler", "num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
        "beta_schedule": "scaled_linear", "original_inference_steps": 50, "clip_sample": False,
        "set_alpha_to_one": True, "steps_offset": 1, "prediction_type": "epsilon", "timestep_spacing": "leading",
        "timestep_scaling": 10.0, "trained_betas": None,
    }
    lcm_text_encoder = make_text_encoder(lcm_tokenizer)
    save_pipeline(work / "lcm", lcm_tokenizer, lcm_text_encoder, make_unet(time_cond_proj_dim=32), vae, lcm_scheduler)
    export_onnx(work / "lcm", LCM)
    if FP16.exists():
        shutil.rmtree(FP16)
    shutil.copytree(LCM, FP16)  # before the timestep rewrite: float scalar, which becomes float16
    from transformers import CLIPTokenizerFast

    fast = CLIPTokenizerFast.from_pretrained(str(work / "lcm" / "tokenizer"))
    fast.save_pretrained(str(LCM / "tokenizer"))
    assert (LCM / "tokenizer" / "tokenizer.json").exists()
    int64_batch_timestep(LCM / "unet" / "model.onnx")

    # fp16 bundle from the LCM export.
    int32_input_ids(FP16 / "text_encoder" / "model.onnx")
    for part in ("text_encoder", "unet", "vae_decoder"):
        to_fp16(FP16 / part / "model.onnx")

    # References from the diffusers torch pipeline on the same weights.
    if REF.exists():
        shutil.rmtree(REF)
    REF.mkdir(parents=True)
    recorder = NoiseRecorder()
    euler_a_mod.randn_tensor = recorder
    lcm_mod.randn_tensor = recorder

    long_prompt = " ".join(["a red digit seven on a blue background"] * 12)
    p3 = ["a red digit seven", "a photo of the number two in green", "blue handwritten nine on yellow"]
    cases_base = [
        {"name": "ddim-b1-g1", "scheduler": "ddim", "prompts": ["a red digit seven"], "guidance": 1.0},
        {"name": "ddim-b1-g7.5-long", "scheduler": "ddim", "prompts": [long_prompt], "guidance": 7.5},
        {"name": "ddim-b3-g7.5-neg", "scheduler": "ddim", "prompts": p3, "guidance": 7.5,
         "negativePrompts": ["black", "", "a gray picture"]},
        {"name": "ddim-b3-g1", "scheduler": "ddim", "prompts": p3, "guidance": 1.0},
        {"name": "ddim-b1-g5-trailing-v", "scheduler": "ddim", "prompts": ["pink five"], "guidance": 5.0,
         "schedulerConfig": {"timestep_spacing": "trailing", "prediction_type": "v_prediction", "set_alpha_to_one": True}},
        {"name": "ddim-b1-g3-linspace-48x64", "scheduler": "ddim", "prompts": ["orange zero"], "guidance": 3.0,
         "height": 48, "width": 64, "schedulerConfig": {"timestep_spacing": "linspace", "beta_schedule": "linear",
                                                        "beta_start": 0.0001, "beta_end": 0.02}},
        {"name": "euler_a-b1-g1", "scheduler": "euler_a", "prompts": ["a red digit seven"], "guidance": 1.0},
        {"name": "euler_a-b3-g7.5", "scheduler": "euler_a", "prompts": p3, "guidance": 7.5},
        {"name": "euler_a-b1-g1-trailing", "scheduler": "euler_a", "prompts": ["cyan three"], "guidance": 1.0,
         "schedulerConfig": {"timestep_spacing": "trailing"}},
        {"name": "euler_a-b1-g4-leading-v", "scheduler": "euler_a", "prompts": ["cyan three"], "guidance": 4.0,
         "schedulerConfig": {"timestep_spacing": "leading", "prediction_type": "v_prediction"}},
        {"name": "euler_a-b3-g1", "scheduler": "euler_a", "prompts": p3, "guidance": 1.0},
        {"name": "lcm-b1-g1", "scheduler": "lcm", "prompts": ["a red digit seven"], "guidance": 1.0},
        {"name": "lcm-b3-g7.5", "scheduler": "lcm", "prompts": p3, "guidance": 7.5},
        {"name": "lcm-b3-g1", "scheduler": "lcm", "prompts": p3, "guidance": 1.0},
        {"name": "lcm-b1-g2-orig20-scale5", "scheduler": "lcm", "prompts": ["white eight"], "guidance": 2.0,
         "schedulerConfig": {"original_inference_steps": 20, "timestep_scaling": 5.0, "set_alpha_to_one": False}},
        {"name": "euler-b1-g7.5-trailing", "scheduler": "euler", "prompts": ["brown four"], "guidance": 7.5,
         "schedulerConfig": {"timestep_spacing": "trailing"}},
    ]
    cases_lcm = [
        {"name": "lcmcond-b1-g8", "scheduler": "lcm", "prompts": ["a red digit seven"], "guidance": 8.0},
        {"name": "lcmcond-b3-g1", "scheduler": "lcm", "prompts": p3, "guidance": 1.0},
    ]
    results = []
    for bundle, folder, cases in (("tiny-sd", work / "base", cases_base), ("tiny-sd-lcm", work / "lcm", cases_lcm)):
        pipe = StableDiffusionPipeline.from_pretrained(str(folder), safety_checker=None, requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        base_config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
        for i, case in enumerate(cases):
            case = {"bundle": bundle, "steps": STEPS, "latentSeed": 100 + len(results), **case}
            results.append(run_case(pipe, recorder, case, base_config))

    write_schedules(recorder)
    reference = {
        "about": "made by tools/make_tiny_sd.py; decoded = raw VAE decoder output (NCHW float32, not clamped); "
                 "images in [0,1] = clamp(decoded/2+0.5); latents unscaled (the pipeline multiplies by init_noise_sigma); "
                 "noise[step][image] = what the scheduler's randn_tensor returned at that step",
        "versions": {
            "torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__,
            "optimum": optimum_version, "onnx": onnx.__version__, "python": sys.version.split()[0],
        },
        "cases": results,
    }
    (REF / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    total = sum(p.stat().st_size for d in (BASE, LCM, FP16, REF) for p in d.rglob("*") if p.is_file())
    print(f"wrote {len(results)} cases; fixtures total {total / 1e6:.2f} MB", flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--schedules-only"]:
        import diffusers.schedulers.scheduling_euler_ancestral_discrete as _ea
        import diffusers.schedulers.scheduling_lcm as _lcm

        _recorder = NoiseRecorder()
        _ea.randn_tensor = _recorder
        _lcm.randn_tensor = _recorder
        write_schedules(_recorder)
    else:
        main()
