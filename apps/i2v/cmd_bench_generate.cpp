// `i2v bench generate`: times whole warm pipeline calls (text and image encoding, the denoising
// loop with classifier-free guidance, VAE decode, post-processing) on a synthetic image; the
// model is loaded once, before the warm-up, and its load time reported apart.
#include <chrono>

#include <torch/csrc/autograd/grad_mode.h>

#include "cmd_bench_common.h"
#include "i2v/core/error.h"
#include "i2v/pipeline/i2v_pipeline.h"

namespace i2v::cli {
namespace {

// A smooth colour gradient: deterministic and free of any file.
image::RgbImage gradient_image(int w, int h) {
  image::RgbImage img(w, h);
  for (int y = 0; y < h; ++y) {
    uint8_t* row = img.row(y);
    for (int x = 0; x < w; ++x) {
      row[3 * x] = static_cast<uint8_t>(255 * x / std::max(1, w - 1));
      row[3 * x + 1] = static_cast<uint8_t>(255 * y / std::max(1, h - 1));
      row[3 * x + 2] = static_cast<uint8_t>((x + y) % 256);
    }
  }
  return img;
}

RegisterBench reg(30, [](CLI::App& bench, std::function<int()>& run) {
  auto* cmd = bench.add_subcommand("generate", "Time whole warm generate calls");
  auto o = std::make_shared<BenchOptions>();
  auto steps = std::make_shared<int>(2);
  auto chunk = std::make_shared<int>(1);
  add_bench_options(cmd, *o);
  cmd->add_option("--steps", *steps, "Denoising steps")->capture_default_str();
  cmd->add_option("--chunk", *chunk, "VAE decode chunk (frames)")->capture_default_str();
  run = [o, steps, chunk] {
    if (*steps < 1 || *chunk < 1) throw ConfigError("bench generate: --steps, --chunk >= 1");
    const at::ScalarType dtype = bench_dtype(o->precision);
    torch::NoGradGuard no_grad;
    auto t_load = std::chrono::steady_clock::now();
    pipeline::PipelineOptions popts;
    popts.dtype = dtype;
    auto pipe = pipeline::I2VGenXLPipeline::load(o->model, popts);
    const double load_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count();
    pipeline::GenerationRequest r;
    r.image = gradient_image(o->size, o->size);
    r.prompt = "A red fox jumping over the frozen lake at sunset";
    r.negative_prompt = "blurry, distorted, low quality";
    r.width = r.height = o->size;
    r.num_frames = o->frames;
    r.num_inference_steps = *steps;
    r.decode_chunk_size = *chunk;
    r.seed = 1234;
    pipe.validate(r);
    std::map<std::string, double> stages;
    nlohmann::json j = {{"bench", "generate"}, {"precision", dtype_name(dtype)},
                        {"frames", o->frames}, {"size", o->size},
                        {"steps", *steps},     {"chunk", *chunk},
                        {"load_s", load_s}};
    j.update(time_runs(*o, [&] { stages = pipe.generate(r).stage_seconds; }));
    j["last_stage_seconds"] = stages;
    print_bench_json(*o, j);
    return 0;
  };
  return cmd;
});

}  // namespace
}  // namespace i2v::cli
