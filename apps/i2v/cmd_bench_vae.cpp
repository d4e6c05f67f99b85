// `i2v bench vae-decode`: times decoding F frames of random latents with the model's VAE, in
// chunks of --chunk frames as the pipeline does (its decode_chunk_size).
#include <chrono>

#include <torch/csrc/autograd/grad_mode.h>

#include "cmd_bench_common.h"
#include "i2v/error.h"
#include "i2v/models/vae/decode_frames.h"
#include "i2v/models/vae/vae_loading.h"
#include "i2v/weights/model_dir.h"

namespace i2v::cli {
namespace {

RegisterBench reg(20, [](CLI::App& bench, std::function<int()>& run) {
  auto* cmd = bench.add_subcommand("vae-decode", "Time VAE decoding of random latents");
  auto o = std::make_shared<BenchOptions>();
  auto chunk = std::make_shared<int>(1);
  add_bench_options(cmd, *o);
  cmd->add_option("--chunk", *chunk, "Frames decoded per VAE call (the pipeline's default is 1)")
      ->capture_default_str();
  run = [o, chunk] {
    if (*chunk < 1) throw ConfigError("bench vae-decode: --chunk must be >= 1");
    const at::ScalarType dtype = bench_dtype(o->precision);
    torch::NoGradGuard no_grad;
    auto t_load = std::chrono::steady_clock::now();
    vae::VaeLoadOptions lo;
    lo.dtype = dtype;
    vae::AutoencoderKL model = vae::load_autoencoder_kl(weights::ModelDir::open(o->model), lo);
    const double load_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count();
    const int64_t h = o->size / 8, w = o->size / 8;
    at::Tensor z = at::randn({1, model->config().latent_channels, o->frames, h, w},
                             at::TensorOptions().dtype(dtype));
    nlohmann::json j = {{"bench", "vae-decode"}, {"precision", dtype_name(dtype)},
                        {"frames", o->frames},   {"size", o->size},
                        {"chunk", *chunk},       {"load_s", load_s}};
    j.update(time_runs(*o, [&] { vae::decode_frames(*model, z, *chunk); }));
    print_bench_json(*o, j);
    return 0;
  };
  return cmd;
});

}  // namespace
}  // namespace i2v::cli
