#!/usr/bin/env python3
"""The diffusers side of bench/speed.sh: the same three timings as `i2v bench unet|vae-decode|
generate`, on the same model folder (diffusers layout, e.g. from `i2v make-model`), the same
shapes, dtype and thread count. Prints one JSON object: {"unet": {...}, "vae_decode": {...},
"generate": {...}}, each with median_s and runs_s (after one warm-up call)."""
import argparse
import json
import statistics
import time

import torch
from diffusers import AutoencoderKL, I2VGenXLPipeline, I2VGenXLUNet
from PIL import Image


def timed(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "runs_s": times}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--precision", default="bf16", choices=["bf16", "fp32"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--only", default="unet,vae_decode,generate")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dtype = torch.bfloat16 if a.precision == "bf16" else torch.float32
    latent = a.size // 8
    only = set(a.only.split(","))
    out = {"diffusers": __import__("diffusers").__version__, "torch": torch.__version__,
           "threads": a.threads, "precision": a.precision}
    g = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        if "unet" in only:
            unet = I2VGenXLUNet.from_pretrained(a.model, subfolder="unet", torch_dtype=dtype).eval()
            sample = torch.randn(2, 4, a.frames, latent, latent, generator=g).to(dtype)
            image_latents = torch.randn(2, 4, a.frames, latent, latent, generator=g).to(dtype)
            text = torch.randn(2, 77, unet.config.cross_attention_dim, generator=g).to(dtype)
            image_emb = torch.randn(2, unet.config.cross_attention_dim, generator=g).to(dtype)
            t = torch.tensor([999, 999])
            fps = torch.tensor([16, 16])
            out["unet"] = timed(lambda: unet(sample, t, fps=fps, image_latents=image_latents,
                                             image_embeddings=image_emb,
                                             encoder_hidden_states=text).sample,
                                a.runs, a.warmup)
            del unet
        if "vae_decode" in only:
            vae = AutoencoderKL.from_pretrained(a.model, subfolder="vae", torch_dtype=dtype).eval()
            z = torch.randn(a.frames, 4, latent, latent, generator=g).to(dtype)
            # The pipeline decodes one frame per call (decode_chunk_size=1), as i2v does.
            out["vae_decode"] = timed(
                lambda: [vae.decode(z[i:i + 1]).sample for i in range(a.frames)], a.runs, a.warmup)
            del vae
        if "generate" in only:
            pipe = I2VGenXLPipeline.from_pretrained(a.model, torch_dtype=dtype)
            image = Image.new("RGB", (a.size, a.size), (120, 90, 200))
            out["generate"] = timed(
                lambda: pipe(prompt="a red fox running through snow", image=image,
                             height=a.size, width=a.size, num_frames=a.frames,
                             num_inference_steps=a.steps, output_type="pt",
                             generator=torch.Generator().manual_seed(0)),
                max(1, a.runs - 1), a.warmup)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
