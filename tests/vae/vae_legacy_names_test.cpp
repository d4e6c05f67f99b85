// Weights written with the old attention names (query/key/value/proj_attn, some as 1x1-conv
// [C, C, 1, 1] matrices) load into the same network, still strictly.
#include <gtest/gtest.h>

#include <map>

#include "i2v/error.h"
#include "i2v/io/safetensors.h"
#include "i2v/models/vae/legacy_attention_names.h"
#include "i2v/models/vae/vae_loading.h"
#include "vae/vae_test_util.h"

namespace i2v::vae {
namespace {

namespace fs = std::filesystem;

// The tiny VAE folder rewritten with legacy names: the encoder's matrices as [C, C, 1, 1], the
// decoder's as [C, C]. `edit` may change the tensor list before it is written.
void write_legacy_vae(const fs::path& dir,
                      void (*edit)(std::vector<std::pair<std::string, at::Tensor>>&) = nullptr) {
  const std::map<std::string, std::string> renames{
      {"to_q", "query"}, {"to_k", "key"}, {"to_v", "value"}, {"to_out.0", "proj_attn"}};
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [name, t] :
       io::load_safetensors(test::vae_dir() / "diffusion_pytorch_model.safetensors")) {
    std::string out = name;
    at::Tensor value = t;
    for (const auto& [fresh, old] : renames) {
      const std::string key = ".attentions.0." + fresh + ".";
      size_t at = out.find(key);
      if (at == std::string::npos) continue;
      out.replace(at, key.size(), ".attentions.0." + old + ".");
      if (value.dim() == 2 && out.rfind("encoder.", 0) == 0)
        value = value.unsqueeze(-1).unsqueeze(-1);
    }
    tensors.emplace_back(out, value.contiguous());
  }
  if (edit) edit(tensors);
  io::save_safetensors(dir / "diffusion_pytorch_model.safetensors", tensors);
  fs::copy_file(test::vae_dir() / "config.json", dir / "config.json");
}

TEST(VaeLegacyNames, LoadIntoTheSameNetwork) {
  test::TempDir dir;
  write_legacy_vae(dir.path());
  auto legacy = weights::StateDict::open({dir / "diffusion_pytorch_model.safetensors"});
  ASSERT_TRUE(has_legacy_attention_names(legacy));
  ASSERT_TRUE(legacy.contains("encoder.mid_block.attentions.0.proj_attn.weight"));
  EXPECT_EQ(legacy.info("encoder.mid_block.attentions.0.query.weight").shape,
            (std::vector<int64_t>{64, 64, 1, 1}));
  EXPECT_FALSE(has_legacy_attention_names(
      weights::StateDict::open({test::vae_dir() / "diffusion_pytorch_model.safetensors"})));

  AutoencoderKL reference = load_autoencoder_kl(test::vae_dir());
  AutoencoderKL loaded = load_autoencoder_kl(dir.path());
  auto expected = reference->named_parameters();
  for (const auto& p : loaded->named_parameters()) {
    ASSERT_TRUE(expected.contains(p.key())) << p.key();
    EXPECT_TRUE(at::equal(p.value(), expected[p.key()])) << p.key();
  }
  const std::string unit = "units/vae_encode.safetensors";
  at::Tensor x = test::vae_golden_tensor(unit, "in.x");
  EXPECT_TRUE(at::equal(loaded->encode(x).mean, reference->encode(x).mean));
}

TEST(VaeLegacyNames, StillStrict) {
  test::TempDir dir;
  write_legacy_vae(dir.path(), [](std::vector<std::pair<std::string, at::Tensor>>& tensors) {
    for (auto& [name, t] : tensors)
      if (name == "decoder.mid_block.attentions.0.key.weight") t = t.slice(0, 0, 32).contiguous();
    tensors.emplace_back("decoder.mid_block.attentions.0.stray", at::zeros({2}));
  });
  try {
    load_autoencoder_kl(dir.path());
    ADD_FAILURE() << "no error";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("decoder.mid_block.attentions.0.key.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("decoder.mid_block.attentions.0.stray"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace i2v::vae
