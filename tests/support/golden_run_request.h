// The reference run's request (the golden pipeline_run.safetensors was made with it): prompt,
// size, frames, steps, guidance, fps and the run's own noise, so that a test's video is the
// reference's. Header-only: for the test areas that link the pipeline.
#pragma once

#include "i2v/image/decode.h"
#include "i2v/io/safetensors.h"
#include "i2v/pipeline/i2v_pipeline.h"
#include "support/test_support.h"

namespace i2v::test {

inline pipeline::GenerationRequest golden_run_request() {
  static const auto run =
      io::SafetensorsFile::open(golden_dir() / "golden/pipeline_run.safetensors");
  pipeline::GenerationRequest r;
  r.image = image::decode_image_file(golden_dir() / "input_image.png");
  r.prompt = "A red Fox jumping over the frozen lake at sunset, 4k photo!";
  r.negative_prompt = "blurry, distorted, low quality";
  r.width = 80;
  r.height = 48;
  r.num_frames = 4;
  r.num_inference_steps = 4;
  r.guidance_scale = 9.0;
  r.target_fps = 16;
  r.initial_noise = run->tensor("initial_noise").clone();
  r.vae_posterior_noise = run->tensor("vae_posterior_noise").clone();
  return r;
}

}  // namespace i2v::test
