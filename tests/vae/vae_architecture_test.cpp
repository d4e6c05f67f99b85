// The network built from a config has exactly the diffusers parameter names and shapes.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "i2v/models/vae/autoencoder_kl.h"
#include "i2v/weights/state_dict.h"
#include "vae/vae_test_util.h"

namespace i2v::vae {
namespace {

std::map<std::string, std::vector<int64_t>> parameter_shapes(torch::nn::Module& m) {
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& p : m.named_parameters()) shapes[p.key()] = p.value().sizes().vec();
  return shapes;
}

int64_t parameter_count(torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

// /work/shared/docs/weights/vae_weights.tsv: "name\t[d0, d1, ...]\tcount" per line.
std::map<std::string, std::vector<int64_t>> reference_shapes() {
  std::ifstream in(test::shared_dir() / "docs" / "weights" / "vae_weights.tsv");
  std::map<std::string, std::vector<int64_t>> shapes;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name, shape;
    std::getline(fields, name, '\t');
    std::getline(fields, shape, '\t');
    std::vector<int64_t> dims;
    for (char& c : shape)
      if (c == '[' || c == ']' || c == ',') c = ' ';
    std::istringstream ds(shape);
    for (int64_t d; ds >> d;) dims.push_back(d);
    shapes[name] = dims;
  }
  return shapes;
}

TEST(VaeArchitecture, OfficialConfigParameterCount) {
  AutoencoderKL vae(VaeConfig::from_file(test::official_vae_config()));
  EXPECT_EQ(parameter_count(*vae), 83653863);
  EXPECT_EQ(parameter_count(*vae->encoder) + parameter_count(*vae->quant_conv), 34163664);
  EXPECT_EQ(parameter_count(*vae->decoder) + parameter_count(*vae->post_quant_conv), 49490199);
}

TEST(VaeArchitecture, OfficialConfigIsAFactorEightAutoencoder) {
  at::manual_seed(0);
  AutoencoderKL vae(VaeConfig::from_file(test::official_vae_config()));
  at::NoGradGuard no_grad;
  Posterior p = vae->encode(at::rand({2, 3, 24, 16}) * 2 - 1);
  EXPECT_EQ(p.mean.sizes(), (std::vector<int64_t>{2, 4, 3, 2}));
  EXPECT_EQ(p.logvar.sizes(), p.mean.sizes());
  EXPECT_TRUE(at::allclose(p.std, at::exp(0.5 * p.logvar)));
  EXPECT_EQ(vae->decode(p.mean).sizes(), (std::vector<int64_t>{2, 3, 24, 16}));
}

TEST(VaeArchitecture, OfficialNamesAndShapesEqualTheWeightTable) {
  auto reference = reference_shapes();
  ASSERT_EQ(reference.size(), 248u);
  AutoencoderKL vae(VaeConfig::from_file(test::official_vae_config()));
  auto ours = parameter_shapes(*vae);
  EXPECT_EQ(ours.size(), reference.size());
  for (const auto& [name, shape] : reference) {
    auto it = ours.find(name);
    if (it == ours.end()) {
      ADD_FAILURE() << "missing parameter " << name;
      continue;
    }
    EXPECT_EQ(it->second, shape) << name;
  }
  for (const auto& [name, shape] : ours)
    EXPECT_TRUE(reference.count(name)) << "unexpected parameter " << name;
  EXPECT_TRUE(vae->named_buffers().is_empty());
}

TEST(VaeArchitecture, TinyNamesAndShapesEqualTheGoldenWeights) {
  auto weights =
      weights::StateDict::open({test::vae_dir() / "diffusion_pytorch_model.safetensors"});
  AutoencoderKL vae(VaeConfig::from_file(test::vae_dir() / "config.json"));
  auto ours = parameter_shapes(*vae);
  EXPECT_EQ(ours.size(), weights.size());
  for (const auto& name : weights.names()) {
    auto it = ours.find(name);
    ASSERT_NE(it, ours.end()) << name;
    EXPECT_EQ(it->second, weights.info(name).shape) << name;
  }
  // 2 levels: decoder blocks have layers_per_block + 1 = 3 resnets, the last has no upsampler.
  EXPECT_TRUE(ours.count("decoder.up_blocks.1.resnets.2.conv2.weight"));
  EXPECT_TRUE(ours.count("decoder.up_blocks.0.upsamplers.0.conv.weight"));
  EXPECT_FALSE(ours.count("decoder.up_blocks.1.upsamplers.0.conv.weight"));
  EXPECT_TRUE(ours.count("encoder.down_blocks.0.downsamplers.0.conv.weight"));
  EXPECT_FALSE(ours.count("encoder.down_blocks.1.downsamplers.0.conv.weight"));
}

TEST(VaeArchitecture, OptionalPartsFollowTheConfig) {
  VaeConfig c = VaeConfig::from_file(test::vae_dir() / "config.json");
  c.use_quant_conv = false;
  c.use_post_quant_conv = false;
  c.mid_block_add_attention = false;
  AutoencoderKL vae(c);
  for (const auto& [name, shape] : parameter_shapes(*vae)) {
    EXPECT_EQ(name.find("quant_conv"), std::string::npos) << name;
    EXPECT_EQ(name.find("attentions"), std::string::npos) << name;
  }
  // Without the 1x1 convs the encoder output is the moments directly.
  at::Tensor x = at::rand({1, 3, 8, 8}) * 2 - 1;
  Posterior p = vae->encode(x);
  at::Tensor moments = vae->encoder->forward(x);
  EXPECT_TRUE(at::equal(p.mean, moments.slice(1, 0, 4)));
  EXPECT_EQ(vae->decode(p.mean).sizes(), (std::vector<int64_t>{1, 3, 8, 8}));
}

}  // namespace
}  // namespace i2v::vae
