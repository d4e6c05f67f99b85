// `i2v quantize` and 8-bit weights end to end on the golden tiny model: the folder it writes,
// the strict loader (scales, errors), per-block dequantization through the WeightStager being
// exactly the dequantized model, the error against the original weights, and the CLI.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "i2v/error.h"
#include "i2v/io/safetensors.h"
#include "i2v/memory/weight_stager.h"
#include "i2v/modelgen/quantize_model.h"
#include "i2v/models/unet/unet_loading.h"
#include "i2v/quant/dequantize.h"
#include "i2v/quant/quantized_weight.h"
#include "i2v/weights/model_dir.h"
#include "support/test_support.h"

namespace i2v::modelgen {
namespace fs = std::filesystem;
namespace {

using quant::WeightFormat;

double rel_error(const at::Tensor& out, const at::Tensor& ref) {
  return (out.to(at::kDouble) - ref.to(at::kDouble)).abs().max().item<double>() /
         ref.to(at::kDouble).abs().max().item<double>();
}

fs::path quantize_golden(const test::TempDir& tmp, WeightFormat f,
                         std::vector<std::string> components = {"unet"}) {
  QuantizeOptions o;
  o.model = test::golden_pipeline().string();
  o.out_dir = tmp / ("q-" + quant::to_string(f));
  o.format = f;
  o.components = std::move(components);
  quantize_model(o);
  return o.out_dir;
}

// Random UNet inputs of the golden model's shapes (fixed seed).
unet::UNetInputs inputs_for(const unet::UNetConfig& c) {
  at::manual_seed(5);
  const int64_t b = 2, f = 3, h = 6, w = 10;
  return {at::randn({b, c.in_channels, f, h, w}),
          at::scalar_tensor(500, at::kLong),
          at::full({b}, 8, at::kLong),
          at::randn({b, c.in_channels, f, h, w}),
          at::randn({b, 1, c.cross_attention_dim}),
          at::randn({b, 77, c.cross_attention_dim})};
}

unet::LoadedUNet load_unet(const fs::path& dir, bool keep_8bit) {
  unet::UNetLoadOptions o;
  o.dtype = at::kFloat;
  o.keep_stored_dtype = keep_8bit;
  return unet::load_i2vgen_xl_unet(weights::ModelDir::open(dir.string()), o);
}

TEST(QuantizeModel, WritesEightBitTensorsWithScalesAndCopiesTheRest) {
  test::TempDir tmp;
  const fs::path out = quantize_golden(tmp, WeightFormat::Int8);
  for (const char* f : {"model_index.json", "unet/config.json", "vae/config.json",
                        "tokenizer/vocab.json", "scheduler/scheduler_config.json"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  // Untouched components keep their weight files byte for byte.
  for (const auto& entry : fs::directory_iterator(test::golden_pipeline() / "vae")) {
    EXPECT_TRUE(fs::exists(out / "vae" / entry.path().filename())) << entry.path();
    EXPECT_EQ(fs::file_size(out / "vae" / entry.path().filename()), fs::file_size(entry.path()));
  }
  auto file = io::SafetensorsFile::open(out / "unet/diffusion_pytorch_model.safetensors");
  EXPECT_EQ(file->metadata().count(quant::kMetadataKey), 1u);
  int eight_bit = 0;
  for (const auto& info : file->tensors()) {
    if (info.dtype != io::StDType::I8) continue;
    ++eight_bit;
    const io::TensorInfo* scale = file->find(info.name + "_scale");
    ASSERT_NE(scale, nullptr) << info.name;
    EXPECT_EQ(scale->dtype, io::StDType::F32);
    EXPECT_EQ(scale->shape, std::vector<int64_t>{info.shape[0]});
  }
  EXPECT_GT(eight_bit, 100);
  EXPECT_EQ(file->find("conv_in.weight")->dtype, io::StDType::F32);
  EXPECT_EQ(file->find("down_blocks.0.resnets.0.norm1.weight")->dtype, io::StDType::F32);

  QuantizeOptions again;
  again.model = out.string();
  again.out_dir = tmp / "twice";
  EXPECT_THROW(quantize_model(again), ConfigError);  // already int8
  QuantizeOptions vae;
  vae.model = test::golden_pipeline().string();
  vae.out_dir = tmp / "vae";
  vae.components = {"vae"};
  EXPECT_THROW(quantize_model(vae), ConfigError);
  QuantizeOptions exists;
  exists.model = test::golden_pipeline().string();
  exists.out_dir = out;
  EXPECT_THROW(quantize_model(exists), IoError);  // not empty, no --overwrite
  EXPECT_FALSE(fs::exists(tmp / "twice")) << "a failed run leaves nothing behind";
}

TEST(QuantizeModel, DequantizingAtUseIsExactlyTheDequantizedModel) {
  torch::NoGradGuard no_grad;
  test::TempDir tmp;
  auto original = load_unet(test::golden_pipeline(), false);
  const unet::UNetInputs in = inputs_for(original.unet->config());
  const at::Tensor reference = original.unet->forward(in);
  std::vector<double> rms_errors;
  for (WeightFormat f : {WeightFormat::Int8, WeightFormat::Fp8E4M3, WeightFormat::Fp8E5M2}) {
    const fs::path dir = quantize_golden(tmp, f);
    // Kept 8-bit (mapped); each layer dequantizes its weights where it uses them, so a stager
    // running the blocks (as the pipeline's) has nothing to stage.
    unet::LoadedUNet q = load_unet(dir, true);
    ASSERT_TRUE(q.kept_8bit);
    ASSERT_EQ(q.weight_format, f);
    const at::Tensor to_q =
        q.unet->named_parameters()
            ["down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"];
    ASSERT_EQ(to_q.scalar_type(), quant::holding_dtype(f));
    ASSERT_TRUE(quant::quantization_of(to_q).has_value());
    memory::WeightStager stager({at::kCPU, at::kFloat, false});
    int64_t outside = 0;  // 8-bit tensors outside the staged blocks: none (skip list)
    for (const auto& p : q.unet->parameters()) outside += quant::quantization_of(p).has_value();
    for (auto* block : q.unet->top_level_blocks())
      for (const auto& p : block->parameters()) outside -= quant::quantization_of(p).has_value();
    EXPECT_EQ(outside, 0);
    int64_t peak_staged = 0;
    memory::BlockHooks hooks;
    hooks.before = [&](torch::nn::Module& m) {
      stager.stage(m);
      peak_staged = std::max(peak_staged, stager.staged_bytes());
    };
    hooks.after = [&](torch::nn::Module& m) { stager.unstage(m); };
    const at::Tensor staged = q.unet->forward(in, {}, memory::ExecPlan(), &hooks);
    EXPECT_EQ(stager.staged_bytes(), 0);
    EXPECT_EQ(peak_staged, 0);
    EXPECT_EQ(to_q.scalar_type(), quant::holding_dtype(f)) << "still 8 bits";

    // Dequantized whole at load: the same weights, so the same output.
    unet::LoadedUNet d = load_unet(dir, false);
    EXPECT_FALSE(d.kept_8bit);
    const at::Tensor whole = d.unet->forward(in);
    EXPECT_LE(rel_error(staged, whole), 1e-6) << quant::to_string(f);

    // Against the original fp32 weights: approximate, by the format's precision (int8 keeps
    // ~7 significant bits per channel's range, e4m3 4, e5m2 3).
    const double err = rel_error(staged, reference);
    const double rms = ((staged.to(at::kDouble) - reference.to(at::kDouble)).norm() /
                        reference.to(at::kDouble).norm())
                           .item<double>();
    std::printf(
        "[quant] tiny UNet forward, %s weights vs fp32: relative RMS error %.3e, max %.3e\n",
        quant::to_string(f).c_str(), rms, err);
    const double bound = f == WeightFormat::Int8 ? 0.05 : f == WeightFormat::Fp8E4M3 ? 0.15 : 0.3;
    EXPECT_LT(err, bound) << quant::to_string(f);
    EXPECT_GT(rms, 0.0);
    rms_errors.push_back(rms);
  }
  ASSERT_EQ(rms_errors.size(), 3u);
  EXPECT_LT(rms_errors[0], rms_errors[1]);  // int8 < fp8-e4m3 < fp8-e5m2
  EXPECT_LT(rms_errors[1], rms_errors[2]);
}

// Rewrites the UNet file of `dir` through `edit` (name -> tensor map, fp8 as raw bits).
void edit_unet_file(const fs::path& dir,
                    const std::function<void(std::vector<std::pair<std::string, at::Tensor>>&,
                                             std::map<std::string, io::StDType>&)>& edit) {
  const fs::path path = dir / "unet/diffusion_pytorch_model.safetensors";
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  std::map<std::string, io::StDType> dtypes;
  {
    auto file = io::SafetensorsFile::open(path);
    for (const auto& info : file->tensors()) {
      tensors.emplace_back(info.name, file->stored(info.name).clone());
      dtypes[info.name] = info.dtype;
    }
  }
  edit(tensors, dtypes);
  std::vector<io::SafetensorsWriter::Entry> entries;
  for (const auto& [name, t] : tensors) entries.push_back({name, dtypes.at(name), t.sizes().vec()});
  io::SafetensorsWriter writer(path, entries);
  for (const auto& [name, t] : tensors) writer.write(name, t);
  writer.finish();
}

const std::string kToQ = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight";

TEST(QuantizedLoading, MissingOrMisShapedScalesAreOneClearError) {
  test::TempDir tmp;
  const fs::path dir = quantize_golden(tmp, WeightFormat::Int8);
  edit_unet_file(dir, [](auto& tensors, auto& dtypes) {
    for (auto it = tensors.begin(); it != tensors.end();) {
      if (it->first == kToQ + "_scale") {
        it = tensors.erase(it);
      } else {
        if (it->first == "mid_block.resnets.0.conv1.weight_scale")
          it->second = at::ones({3}, at::kFloat);
        ++it;
      }
    }
  });
  try {
    load_unet(dir, true);
    FAIL() << "loaded an int8 model with a missing scale";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(kToQ + "_scale"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mid_block.resnets.0.conv1.weight_scale"), std::string::npos) << msg;
    EXPECT_NE(msg.find("2 mis-shaped"), std::string::npos) << msg;
  }
}

TEST(QuantizedLoading, ScalesOfTheWrongTypeAreRejected) {
  test::TempDir tmp;
  const fs::path dir = quantize_golden(tmp, WeightFormat::Int8);
  edit_unet_file(dir, [](auto& tensors, auto& dtypes) {
    for (auto& [name, t] : tensors)
      if (name == kToQ + "_scale") {
        t = at::ones(t.sizes(), at::kChar);
        dtypes[name] = io::StDType::I8;
      }
  });
  EXPECT_THROW(load_unet(dir, true), ShapeError);
}

TEST(QuantizedLoading, Fp8WithoutScalesLoadsWithScaleOne) {
  // Published fp8 checkpoints carry no scales: their values are the fp8 values themselves.
  test::TempDir tmp;
  const fs::path dir = quantize_golden(tmp, WeightFormat::Fp8E4M3);
  at::Tensor bits;
  edit_unet_file(dir, [&](auto& tensors, auto& dtypes) {
    for (auto it = tensors.begin(); it != tensors.end();) {
      if (it->first == kToQ) bits = it->second.clone();
      const bool scale =
          it->first.size() > 6 && it->first.compare(it->first.size() - 6, 6, "_scale") == 0;
      it = scale ? tensors.erase(it) : std::next(it);
    }
  });
  unet::LoadedUNet q = load_unet(dir, true);
  const at::Tensor p = q.unet->named_parameters()[kToQ];
  auto info = quant::quantization_of(p);
  ASSERT_TRUE(info.has_value());
  EXPECT_TRUE(at::equal(info->scale, at::ones({p.size(0)})));
  const at::Tensor values = quant::dequantize(p, *info, at::kFloat);
  for (int64_t i = 0; i < bits.numel(); i += 7) {
    EXPECT_EQ(values.view(-1)[i].item<float>(),
              io::decode_fp8(bits.view(-1)[i].item<uint8_t>(), io::Fp8Format::E4M3));
  }
}

TEST(QuantizeCli, QuantizeThenGenerateOnTheTinyModel) {
  test::TempDir tmp;
  const fs::path model = tmp / "q8";
  std::string out;
  ASSERT_EQ(test::run_command(test::i2v_binary().string() + " quantize --model " +
                                  test::golden_pipeline().string() + " --to fp8-e4m3 --out " +
                                  model.string() + " --components unet,text_encoder",
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("unet"), std::string::npos) << out;
  const fs::path video = tmp / "v.mp4";
  ASSERT_EQ(
      test::run_command("I2V_HOME=" + (tmp / "home").string() + " " + test::i2v_binary().string() +
                            " generate --model " + model.string() + " --image " +
                            (test::golden_dir() / "input_image.png").string() +
                            " --prompt fox --width 80 --height 48 --frames 4 --steps 2 "
                            "--precision bf16 --seed 3 --output " +
                            video.string(),
                        &out),
      0)
      << out;
  std::ifstream meta(video.string() + ".json");
  const nlohmann::json j = nlohmann::json::parse(meta);
  EXPECT_FALSE(j["exact"].get<bool>());
  EXPECT_EQ(j["weights_8bit"]["unet"], "fp8-e4m3");
  EXPECT_EQ(j["weights_8bit"]["text_encoder"], "fp8-e4m3");
  EXPECT_FALSE(j["weights_8bit"].contains("image_encoder"));
  // A bad format is a clear error.
  EXPECT_NE(test::run_command(test::i2v_binary().string() + " quantize --model " +
                                  test::golden_pipeline().string() + " --to int4 --out " +
                                  (tmp / "x").string(),
                              &out),
            0);
  EXPECT_NE(out.find("int8, fp8-e4m3 or fp8-e5m2"), std::string::npos) << out;
}

}  // namespace
}  // namespace i2v::modelgen
