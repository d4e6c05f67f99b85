// WeightStager: staged copies swap in and out without changing the home tensors; per-block casts
// inside a UNet forward equal a whole-model conversion exactly; a pipeline over bf16 files with
// fp32 compute keeps the UNet in bf16 and gives bit for bit the video of fp32 files holding the
// same (bf16-rounded) values; 8-bit weights dequantized per block give bit for bit the video of
// fp32 files holding their dequantized values; the packed residency (bf16 weights packed once for
// the denoising loop) gives the plain plan's video.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "i2v/i2v.h"
#include "i2v/image/decode.h"
#include "i2v/io/safetensors.h"
#include "i2v/kernels/onednn_gemm.h"
#include "i2v/kernels/packed_weights.h"
#include "i2v/memory/planner.h"
#include "i2v/memory/weight_stager.h"
#include "i2v/nn/layer_weight.h"
#include "i2v/pipeline/i2v_pipeline.h"
#include "i2v/pipeline/model_facts.h"
#include "i2v/quant/dequantize.h"
#include "support/test_support.h"

namespace i2v::memory {
namespace {

namespace fs = std::filesystem;

struct Two : torch::nn::Module {
  Two() {
    w = register_parameter("w", at::arange(6, at::kFloat).reshape({2, 3}).to(at::kBFloat16));
    steps = register_buffer("steps", at::arange(3, at::kLong));
  }
  at::Tensor w, steps;
};

TEST(WeightStager, StagesACastCopyAndRestoresTheHome) {
  torch::NoGradGuard no_grad;
  Two m;
  const void* home_ptr = m.w.data_ptr();
  WeightStager stager({at::kCPU, at::kFloat, false});
  EXPECT_TRUE(stager.needs_staging(m));
  stager.stage(m);
  EXPECT_TRUE(stager.is_staged(m));
  EXPECT_EQ(m.w.scalar_type(), at::kFloat);
  EXPECT_EQ(m.steps.scalar_type(), at::kLong);  // integer tensors keep their dtype
  EXPECT_TRUE(m.w.equal(at::arange(6, at::kFloat).reshape({2, 3})));
  EXPECT_EQ(stager.staged_bytes(), 6 * 4);
  stager.stage(m);  // idempotent
  EXPECT_EQ(stager.staged_bytes(), 6 * 4);
  stager.unstage(m);
  EXPECT_FALSE(stager.is_staged(m));
  EXPECT_EQ(m.w.scalar_type(), at::kBFloat16);
  EXPECT_EQ(m.w.data_ptr(), home_ptr);  // the very same home memory, not a copy
  EXPECT_EQ(stager.staged_bytes(), 0);
  stager.unstage(m);  // not staged: nothing happens
  EXPECT_EQ(m.w.data_ptr(), home_ptr);
}

TEST(WeightStager, NothingToDoWhenHomeIsTheComputeDtype) {
  torch::NoGradGuard no_grad;
  Two m;
  WeightStager stager({at::kCPU, at::kBFloat16, false});
  EXPECT_FALSE(stager.needs_staging(m));
  const void* p = m.w.data_ptr();
  stager.stage(m);
  stager.prefetch(m);  // CPU: no side stream, nothing happens
  EXPECT_EQ(m.w.data_ptr(), p);
  EXPECT_EQ(stager.staged_bytes(), 0);
  stager.unstage(m);
  stager.convert_in_place(m);
  EXPECT_EQ(m.w.data_ptr(), p);
}

TEST(WeightStager, ConvertInPlaceKeepsNoHome) {
  torch::NoGradGuard no_grad;
  Two m;
  WeightStager({at::kCPU, at::kFloat, false}).convert_in_place(m);
  EXPECT_EQ(m.w.scalar_type(), at::kFloat);
  EXPECT_EQ(m.steps.scalar_type(), at::kLong);
}

TEST(BlockSchedule, NextWrapsAround) {
  Two a, b, c;
  BlockSchedule s{{&a, &b, &c}};
  EXPECT_EQ(s.next_after(&a), &b);
  EXPECT_EQ(s.next_after(&c), &a);
  Two other;
  EXPECT_EQ(s.next_after(&other), nullptr);
}

// A short generation on the golden pipeline's input image (64x48, 3 frames, fixed seed).
pipeline::GenerationRequest small_request(int steps) {
  pipeline::GenerationRequest r;
  r.image = image::decode_image_file(test::golden_dir() / "input_image.png");
  r.prompt = "a fox";
  r.width = 64;
  r.height = 48;
  r.num_frames = 3;
  r.num_inference_steps = steps;
  r.seed = 7;
  return r;
}

// A copy of the golden pipeline whose UNet files hold `unet` (every other component linked).
fs::path pipeline_with_unet(const test::TempDir& dir, const std::string& name,
                            const std::vector<std::pair<std::string, at::Tensor>>& unet) {
  const fs::path root = dir / name;
  fs::create_directories(root / "unet");
  for (const auto& entry : fs::directory_iterator(test::golden_pipeline())) {
    if (entry.path().filename() == "unet") continue;
    fs::create_symlink(entry.path(), root / entry.path().filename());
  }
  fs::copy_file(test::golden_pipeline() / "unet/config.json", root / "unet/config.json");
  io::save_safetensors(root / "unet/diffusion_pytorch_model.safetensors", unet);
  return root;
}

std::vector<std::pair<std::string, at::Tensor>> golden_unet_in_bf16() {
  std::vector<std::pair<std::string, at::Tensor>> bf16;
  for (const auto& [name, t] :
       io::load_safetensors(test::golden_pipeline() / "unet/diffusion_pytorch_model.safetensors"))
    bf16.emplace_back(name, t.is_floating_point() ? t.to(at::kBFloat16) : t);
  return bf16;
}

TEST(WeightStager, PipelineCastsUNetBlocksFromBf16FilesExactly) {
  test::TempDir dir;
  auto golden =
      io::load_safetensors(test::golden_pipeline() / "unet/diffusion_pytorch_model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> bf16, rounded;
  for (const auto& [name, t] : golden) {
    bf16.emplace_back(name, t.is_floating_point() ? t.to(at::kBFloat16) : t);
    rounded.emplace_back(name, t.is_floating_point() ? t.to(at::kBFloat16).to(at::kFloat) : t);
  }
  pipeline::PipelineOptions fp32;
  fp32.dtype = at::kFloat;
  fp32.variant = weights::VariantMode::None;
  auto cast =
      pipeline::I2VGenXLPipeline::load(pipeline_with_unet(dir, "bf16", bf16).string(), fp32);
  auto ref =
      pipeline::I2VGenXLPipeline::load(pipeline_with_unet(dir, "rounded", rounded).string(), fp32);
  EXPECT_TRUE(cast->unet_cast_per_block());
  EXPECT_FALSE(ref->unet_cast_per_block());
  // The UNet's blocks stay in their stored precision (only the parts outside the top-level blocks
  // are converted; in this tiny model those are a large share).
  const auto cw = cast->component_weights().at("unet"), rw = ref->component_weights().at("unet");
  EXPECT_LT(cw.bytes, rw.bytes * 9 / 10);
  // The estimator's facts say the same before anything loads: the resident bytes exactly, and
  // the largest block's staged (fp32) copy.
  const auto facts =
      pipeline::model_facts(cast->model_dir(), at::kFloat, weights::VariantMode::None);
  EXPECT_EQ(facts.unet_bytes, cw.bytes);
  EXPECT_GT(facts.unet_staged_block_bytes, 0);
  const auto ref_facts =
      pipeline::model_facts(ref->model_dir(), at::kFloat, weights::VariantMode::None);
  EXPECT_EQ(ref_facts.unet_bytes, rw.bytes);
  EXPECT_EQ(ref_facts.unet_staged_block_bytes, 0);

  pipeline::GenerationRequest r = small_request(2);
  for (const char* plan : {"plain", "stream"}) {
    r.plan = ExecPlan{};
    r.plan.name = plan;
    if (std::string(plan) == "stream") r.plan.residency = Residency::StreamBlocks;
    at::Tensor la, lb;
    pipeline::GenerationHooks ha, hb;
    ha.dump = [&](const std::string& n, const at::Tensor& t) {
      if (n == "final_latents") la = t.clone();
    };
    hb.dump = [&](const std::string& n, const at::Tensor& t) {
      if (n == "final_latents") lb = t.clone();
    };
    auto a = cast->generate(r, ha);
    auto b = ref->generate(r, hb);
    ASSERT_TRUE(la.defined() && lb.defined());
    EXPECT_TRUE(la.equal(lb)) << plan << ": max abs diff " << (la - lb).abs().max().item<double>();
    EXPECT_TRUE(a.frames.equal(b.frames)) << plan;
  }
}

// bf16 files and bf16 compute (the UNet mapped as stored): the packed plan keeps each weight's
// packed copy for the loop (made at the first step, kept for the next generation) and gives
// the plain plan's video: bit for bit where a product runs on oneDNN in both plans, within bf16
// rounding where only the packed plan does (products of few rows, whose reorder it saves).
TEST(WeightStager, PackedResidencyGivesThePlainVideoOnBf16Files) {
  if (!kernels::onednn_gemm_enabled()) GTEST_SKIP() << "built without the direct oneDNN path";
  test::TempDir dir;
  const auto bf16 = golden_unet_in_bf16();
  pipeline::PipelineOptions options;
  options.dtype = at::kBFloat16;
  options.variant = weights::VariantMode::None;
  auto pipe =
      pipeline::I2VGenXLPipeline::load(pipeline_with_unet(dir, "bf16", bf16).string(), options);
  EXPECT_FALSE(pipe->unet_cast_per_block());
  pipeline::GenerationRequest r = small_request(3);
  struct Run {
    at::Tensor latents, frames;
    std::vector<int64_t> packed_per_step;
  };
  auto run = [&](const ExecPlan& plan) {
    r.plan = plan;
    Run out;
    pipeline::GenerationHooks hooks;
    hooks.dump = [&](const std::string& n, const at::Tensor& t) {
      if (n == "final_latents") out.latents = t.clone();
    };
    hooks.on_step = [&](const pipeline::StepProgress&) {
      out.packed_per_step.push_back(kernels::packed_weight_count());
    };
    out.frames = pipe->generate(r, hooks).frames;
    return out;
  };
  const Run plain = run(named_plan("plain"));
  const Run packed = run(named_plan("packed"));
  const Run packed_again = run(named_plan("packed"));
  EXPECT_EQ(plain.packed_per_step, std::vector<int64_t>(3, 0));
  // Packed at the first step, reused by the next two; kept after the loop (out of use).
  ASSERT_EQ(packed.packed_per_step.size(), 3u);
  EXPECT_GT(packed.packed_per_step[0], 10);
  EXPECT_EQ(packed.packed_per_step[2], packed.packed_per_step[0]);
  EXPECT_EQ(kernels::packed_weight_bytes(), 0);
  EXPECT_FALSE(kernels::packed_weights_open());
  // A second generation reuses the copies kept from the first (nothing packed) and gives the
  // same bits.
  EXPECT_EQ(packed_again.packed_per_step, std::vector<int64_t>(3, packed.packed_per_step[2]));
  EXPECT_GT(pipe->packed_weight_bytes(), 0);
  EXPECT_TRUE(packed_again.latents.equal(packed.latents));
  ASSERT_TRUE(plain.latents.defined() && packed.latents.defined());
  const double diff =
      (packed.latents.to(at::kDouble) - plain.latents.to(at::kDouble)).abs().max().item<double>();
  EXPECT_LE(diff, 0.02 * plain.latents.abs().max().item<double>()) << diff;
  EXPECT_EQ(packed.frames.sizes(), plain.frames.sizes());
}

// A Generator that keeps the UNet's packed weights (ModelOptions::keep_packed_weights) runs its
// 2-step generations packed from the first on, packing only once, and gives the video a plain run
// gives; a plan without them frees them; without the option every run is plain, nothing kept.
TEST(WeightStager, AReusedGeneratorKeepsItsPackedWeights) {
  if (!kernels::onednn_gemm_enabled()) GTEST_SKIP() << "built without the direct oneDNN path";
  test::TempDir dir;
  const fs::path root = pipeline_with_unet(dir, "bf16", golden_unet_in_bf16());
  Request r;
  r.image = Image::from_file((test::golden_dir() / "input_image.png").string());
  r.prompt = "a fox";
  r.width = 64;
  r.height = 48;
  r.frames = 3;
  r.steps = 2;
  r.seed = 7;
  auto kept_bytes = [](const Generator& g) {
    return nlohmann::json::parse(g.describe_json()).at("packed_weight_bytes").get<int64_t>();
  };
  std::vector<uint8_t> plain_video;
  for (const bool keep : {false, true}) {
    SCOPED_TRACE(keep ? "kept" : "not kept");
    ModelOptions m;
    m.model = root.string();
    m.precision = "bf16";
    m.keep_packed_weights = keep;
    Generator g = Generator::open(m);
    std::vector<int64_t> packed_at_step;
    Callbacks counting;
    counting.on_step = [&](const Progress&) {
      packed_at_step.push_back(kernels::packed_weight_count());
    };
    const Result first = g.generate(r, counting);
    const Result second = g.generate(r, counting);
    if (!keep) {
      EXPECT_EQ(first.plan, "plain");
      EXPECT_EQ(second.plan, "plain");
      EXPECT_EQ(kept_bytes(g), 0);
      EXPECT_EQ(packed_at_step, std::vector<int64_t>(4, 0));
      plain_video = first.video.rgb;
      continue;
    }
    EXPECT_EQ(first.plan, "packed");
    EXPECT_EQ(second.plan, "packed");
    const int64_t bytes = kept_bytes(g);
    EXPECT_GT(bytes, 0);
    const Result third = g.generate(r, counting);
    EXPECT_EQ(third.plan, "packed");
    EXPECT_EQ(kept_bytes(g), bytes);
    // Packed at the first generation's first step; nothing packed since.
    ASSERT_EQ(packed_at_step.size(), 6u);
    EXPECT_GT(packed_at_step[0], 10);
    EXPECT_EQ(packed_at_step[5], packed_at_step[0]);
    EXPECT_EQ(third.video.rgb, second.video.rgb);
    EXPECT_EQ(second.video.rgb, first.video.rgb);
    // The packed video is the plain one (products of few rows only on oneDNN when packed: within
    // bf16 rounding, a step of the 8-bit output at most).
    ASSERT_EQ(first.video.rgb.size(), plain_video.size());
    int worst = 0;
    for (size_t i = 0; i < plain_video.size(); ++i)
      worst = std::max(worst, std::abs(int(plain_video[i]) - int(first.video.rgb[i])));
    EXPECT_LE(worst, 2);
    // A run of another plan frees them first.
    r.plan = "chunked";
    EXPECT_EQ(g.generate(r).plan, "chunked");
    EXPECT_EQ(kept_bytes(g), 0);
    r.plan = "auto";
  }
}

TEST(WeightStager, EightBitWeightsStayEightBitAndDequantizeWhereUsed) {
  Two m;
  at::Tensor q = at::tensor({-127, 0, 5, 64, 1, -3}, at::kChar).reshape({2, 3});
  quant::mark_quantized(q, {quant::WeightFormat::Int8, at::tensor({0.5f, 0.25f})});
  m.w.set_requires_grad(false);
  m.w.set_data(q);
  m.steps.set_data(m.steps.to(at::kLong));
  WeightStager stager({at::kCPU, at::kFloat, false});
  EXPECT_FALSE(stager.needs_staging(m));  // on the CPU the layers dequantize at use
  const at::Tensor expected =
      at::tensor({-63.5f, 0.0f, 2.5f, 16.0f, 0.25f, -0.75f}).reshape({2, 3});
  EXPECT_TRUE(quant::weight_in(m.w, at::kFloat).equal(expected));
  {
    nn::ScopedLayerWeights scoped(m, at::kFloat);  // for loops over row blocks
    EXPECT_TRUE(m.w.equal(expected));
  }
  EXPECT_EQ(m.w.scalar_type(), at::kChar);
  EXPECT_EQ(m.w.data_ptr(), q.data_ptr());  // the 8-bit home, not a copy
  EXPECT_TRUE(quant::weight_in(m.steps, at::kFloat).is_same(m.steps));  // ordinary tensors as-is
}

// A copy of `q8` (a model written by `i2v quantize --to int8`) whose weight files hold the
// dequantized values in float32 instead of the 8-bit ones (everything else linked).
fs::path dequantized_copy(const fs::path& q8, const fs::path& root) {
  fs::create_directories(root);
  for (const auto& entry : fs::directory_iterator(q8)) {
    const fs::path name = entry.path().filename();
    fs::path weights_file = entry.path() / "diffusion_pytorch_model.safetensors";
    if (!fs::exists(weights_file)) weights_file = entry.path() / "model.safetensors";
    if (!entry.is_directory() || !fs::exists(weights_file)) {
      fs::create_symlink(entry.path(), root / name);
      continue;
    }
    fs::create_directories(root / name);
    for (const auto& f : fs::directory_iterator(entry.path()))
      if (f.path() != weights_file) fs::copy_file(f.path(), root / name / f.path().filename());
    auto file = io::SafetensorsFile::open(weights_file);
    auto is_scale = [&](const std::string& n) {
      if (n.size() <= 6 || n.compare(n.size() - 6, 6, "_scale") != 0) return false;
      const io::TensorInfo* weight = file->find(n.substr(0, n.size() - 6));
      return weight && weight->dtype == io::StDType::I8;
    };
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const auto& info : file->tensors()) {
      if (is_scale(info.name)) continue;
      if (info.dtype == io::StDType::I8) {
        const at::Tensor scale = file->tensor(info.name + "_scale");
        tensors.emplace_back(info.name,
                             quant::dequantize(file->stored(info.name),
                                               {quant::WeightFormat::Int8, scale}, at::kFloat));
      } else {
        tensors.emplace_back(info.name, file->tensor(info.name));
      }
    }
    io::save_safetensors(root / name / weights_file.filename(), tensors);
  }
  return root;
}

TEST(WeightStager, PipelineOnEightBitWeightsEqualsTheirDequantizedFilesExactly) {
  test::TempDir dir;
  const fs::path q8 = dir / "q8";
  std::string out;
  ASSERT_EQ(test::run_command(test::i2v_binary().string() + " quantize --model " +
                                  test::golden_pipeline().string() + " --to int8 --out " +
                                  q8.string() + " --components unet,text_encoder,image_encoder",
                              &out),
            0)
      << out;
  pipeline::PipelineOptions fp32;
  fp32.dtype = at::kFloat;
  auto quantized = pipeline::I2VGenXLPipeline::load(q8.string(), fp32);
  auto ref =
      pipeline::I2VGenXLPipeline::load(dequantized_copy(q8, dir / "dequantized").string(), fp32);
  EXPECT_FALSE(quantized->unet_cast_per_block());  // fp32 files; 8-bit ones dequantize at use
  const auto qw = quantized->component_weights().at("unet"),
             rw = ref->component_weights().at("unet");
  EXPECT_LT(qw.bytes, rw.bytes / 2);
  EXPECT_EQ(qw.mapped_bytes, qw.bytes);  // every tensor views the files
  // The facts (headers only) know the 8-bit bytes (plus the scales, which the registry holds)
  // and the dequantized copy of the largest block.
  const auto facts = pipeline::model_facts(quantized->model_dir(), at::kFloat);
  EXPECT_GE(facts.unet_bytes, qw.bytes);
  EXPECT_LT(facts.unet_bytes, qw.bytes * 11 / 10);
  EXPECT_GT(facts.unet_staged_block_bytes, 0);
  EXPECT_EQ(facts.weights_8bit.at("unet"), "int8");
  EXPECT_EQ(facts.weights_8bit.at("text_encoder"), "int8");
  EXPECT_EQ(facts.weights_8bit.at("image_encoder"), "int8");
  EXPECT_LT(facts.image_stream_bytes, facts.image_bytes);
  EXPECT_TRUE(pipeline::model_facts(ref->model_dir(), at::kFloat).weights_8bit.empty());

  pipeline::GenerationRequest r = small_request(2);
  for (const char* plan : {"plain", "stream"}) {
    r.plan = ExecPlan{};
    r.plan.name = plan;
    if (std::string(plan) == "stream") r.plan.residency = Residency::StreamBlocks;
    at::Tensor ea, eb;  // the encoders' outputs: dequantized layer by layer vs whole files
    pipeline::GenerationHooks ha, hb;
    ha.dump = [&](const std::string& n, const at::Tensor& t) {
      if (n == "image_embeds") ea = t.clone();
    };
    hb.dump = [&](const std::string& n, const at::Tensor& t) {
      if (n == "image_embeds") eb = t.clone();
    };
    auto a = quantized->generate(r, ha);
    auto b = ref->generate(r, hb);
    ASSERT_TRUE(ea.defined() && eb.defined());
    EXPECT_TRUE(ea.equal(eb)) << plan;
    EXPECT_TRUE(a.frames.equal(b.frames)) << plan;
  }
}

}  // namespace
}  // namespace i2v::memory
