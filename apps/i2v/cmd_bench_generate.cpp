// `i2v bench generate`: times whole warm pipeline calls (text and image encoding, the denoising
// loop with classifier-free guidance, VAE decode, post-processing) on a synthetic image; the
// model is loaded once, before the warm-up, and its load time reported apart.
#include <chrono>

#include <nlohmann/json.hpp>

#include "cmd_bench_common.h"
#include "i2v/api/option_parsing.h"
#include "i2v/i2v.h"

namespace i2v::cli {
namespace {

// A smooth colour gradient: deterministic and free of any file.
Image gradient_image(int w, int h) {
  Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    uint8_t* row = img.rgb.data() + static_cast<size_t>(y) * w * 3;
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
  auto lora = std::make_shared<std::string>();
  auto lora_mode = std::make_shared<std::string>("auto");
  auto plan_name = std::make_shared<std::string>("auto");
  auto release_packed = std::make_shared<bool>(false);
  add_bench_options(cmd, *o);
  cmd->add_option("--lora", *lora, "A LoRA file to run with (FILE, scale 1)");
  cmd->add_option("--lora-mode", *lora_mode, "auto, merged or unmerged")->capture_default_str();
  cmd->add_option("--plan", *plan_name, "auto, packed, plain, chunked, chunked+seqcfg or stream")
      ->capture_default_str();
  cmd->add_option("--steps", *steps, "Denoising steps")->capture_default_str();
  cmd->add_flag("--release-packed", *release_packed,
                "Free the packed weights after each generation (ModelOptions::"
                "keep_packed_weights false), as a one-shot `i2v generate` does");
  cmd->add_option("--chunk", *chunk, "VAE decode chunk (frames)")->capture_default_str();
  run = [o, steps, chunk, lora, lora_mode, plan_name, release_packed] {
    if (*steps < 1 || *chunk < 1) throw ConfigError("bench generate: --steps, --chunk >= 1");
    const at::ScalarType dtype = bench_dtype(o->precision);
    auto t_load = std::chrono::steady_clock::now();
    ModelOptions m;
    m.model = o->model;
    m.precision = api::precision_name(dtype);
    m.keep_packed_weights = !*release_packed;
    Generator generator = Generator::open(m);
    const double load_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count();
    Request r;
    r.image = gradient_image(o->size, o->size);
    r.prompt = "A red fox jumping over the frozen lake at sunset";
    r.negative_prompt = "blurry, distorted, low quality";
    r.width = r.height = o->size;
    r.frames = o->frames;
    r.fps = 16;
    r.steps = *steps;
    r.decode_chunk_size = *chunk;
    r.seed = 1234;
    r.plan = *plan_name;
    if (!lora->empty()) r.loras.push_back({*lora, 1.0});
    r.lora_mode = *lora_mode;
    generator.validate(r);
    nlohmann::json stages;
    nlohmann::json j = {{"bench", "generate"}, {"precision", dtype_name(dtype)},
                        {"frames", o->frames}, {"size", o->size},
                        {"steps", *steps},     {"chunk", *chunk},
                        {"load_s", load_s},    {"keep_packed_weights", m.keep_packed_weights}};
    std::string plan;
    nlohmann::json lora_modes;
    j.update(time_runs(*o, [&] {
      const Result res = generator.generate(r);
      const auto meta = nlohmann::json::parse(res.metadata_json);
      stages = meta["stage_seconds"];
      lora_modes = meta["lora_modes"];
      plan = res.final_plan;
    }));
    j["plan"] = plan;
    if (!lora->empty()) j["lora_modes"] = lora_modes;
    j["last_stage_seconds"] = stages;
    print_bench_json(*o, j);
    return 0;
  };
  return cmd;
});

}  // namespace
}  // namespace i2v::cli
