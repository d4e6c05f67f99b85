// safetensors reading: zero-copy views inside the mapping, conversions on request, F8 into other
// dtypes, and every reference file under the golden folder opening and loading.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "i2v/error.h"
#include "i2v/io/safetensors.h"
#include "support/test_support.h"

namespace i2v::io {
namespace {
namespace fs = std::filesystem;

void write_image(const fs::path& p, const std::string& header, const std::string& data) {
  std::ofstream out(p, std::ios::binary);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header << data;
}

uintptr_t address(const at::Tensor& t) {
  return reinterpret_cast<uintptr_t>(t.data_ptr());
}

TEST(SafetensorsRead, ViewsLieInsideOneMappingOfTheFileSize) {
  test::TempDir tmp;
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"first", at::arange(16, at::kFloat)},
      {"middle", at::arange(8, at::kLong)},
      {"last", at::arange(4, at::kShort)},
  };
  save_safetensors(tmp / "v.safetensors", tensors);
  auto file = SafetensorsFile::open(tmp / "v.safetensors");
  ASSERT_EQ(file->file_size(), fs::file_size(tmp / "v.safetensors"));
  at::Tensor first = file->tensor("first"), middle = file->tensor("middle"),
             last = file->tensor("last");
  // Views sit at their data offsets from one base: the same mapping, no copies.
  const uintptr_t data_start = address(first);
  EXPECT_EQ(address(middle) - data_start, file->find("middle")->begin);
  EXPECT_EQ(address(last) - data_start, file->find("last")->begin);
  EXPECT_EQ(file->find("last")->end, 136u);
  EXPECT_EQ(data_start % 8, 0u);  // the writer pads the header so the data block is aligned
  // Asking for the stored dtype still views; another dtype converts into fresh memory.
  EXPECT_EQ(address(file->tensor("first", at::kFloat)), data_start);
  at::Tensor converted = file->tensor("first", at::kDouble);
  EXPECT_EQ(converted.scalar_type(), at::kDouble);
  EXPECT_TRUE(converted.equal(at::arange(16, at::kDouble)));
  EXPECT_NE(address(converted), data_start);
}

TEST(SafetensorsRead, WritesToAViewStayPrivateAndViewsOutliveTheFile) {
  test::TempDir tmp;
  const fs::path p = tmp / "cow.safetensors";
  save_safetensors(p, {{"x", at::ones({256}, at::kFloat)}});
  std::ifstream before_in(p, std::ios::binary);
  std::string before((std::istreambuf_iterator<char>(before_in)), {});
  at::Tensor x = SafetensorsFile::open(p)->tensor("x");  // the file object dies right away
  x.mul_(7);
  EXPECT_EQ(x.sum().item<float>(), 7.0f * 256);
  std::ifstream after_in(p, std::ios::binary);
  std::string after((std::istreambuf_iterator<char>(after_in)), {});
  EXPECT_EQ(before, after);
  // A second opening sees the file's values, not the first view's private writes.
  EXPECT_EQ(SafetensorsFile::open(p)->tensor("x").sum().item<float>(), 256.0f);
}

TEST(SafetensorsRead, ScalarsAndEmptyTensorsKeepTheirShapes) {
  test::TempDir tmp;
  save_safetensors(tmp / "s.safetensors", {{"empty_front", at::empty({0, 3}, at::kBFloat16)},
                                           {"scalar", at::scalar_tensor(-7, at::kLong)},
                                           {"empty_back", at::empty({5, 0}, at::kBool)},
                                           {"zero_dims", at::empty({0}, at::kByte)}});
  auto file = SafetensorsFile::open(tmp / "s.safetensors");
  EXPECT_EQ(file->find("scalar")->shape, std::vector<int64_t>{});
  at::Tensor s = file->tensor("scalar");
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item<int64_t>(), -7);
  EXPECT_EQ(file->tensor("empty_front").sizes(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(file->tensor("empty_front").scalar_type(), at::kBFloat16);
  EXPECT_EQ(file->tensor("empty_back").sizes(), (std::vector<int64_t>{5, 0}));
  EXPECT_EQ(file->tensor("zero_dims", at::kFloat).numel(), 0);
  EXPECT_EQ(file->find("empty_front")->begin, file->find("empty_front")->end);
}

TEST(SafetensorsRead, LoadSafetensorsConvertsEveryTensorWhenAsked) {
  test::TempDir tmp;
  save_safetensors(tmp / "l.safetensors", {{"h", at::full({3}, 0.5, at::kHalf)},
                                           {"i", at::arange(3, at::kInt)},
                                           {"b", at::ones({2}, at::kBool)}});
  auto as_stored = load_safetensors(tmp / "l.safetensors");
  EXPECT_EQ(as_stored.at("h").scalar_type(), at::kHalf);
  EXPECT_EQ(as_stored.at("i").scalar_type(), at::kInt);
  EXPECT_EQ(as_stored.at("b").scalar_type(), at::kBool);
  auto as_float = load_safetensors(tmp / "l.safetensors", at::kFloat);
  ASSERT_EQ(as_float.size(), 3u);
  for (const auto& [name, t] : as_float) EXPECT_EQ(t.scalar_type(), at::kFloat) << name;
  EXPECT_TRUE(as_float.at("i").equal(at::arange(3, at::kFloat)));
  EXPECT_TRUE(as_float.at("h").equal(at::full({3}, 0.5f)));
}

TEST(SafetensorsRead, Float8ConvertsToTheRequestedDtype) {
  test::TempDir tmp;
  nlohmann::json h = {{"e4m3", {{"dtype", "F8_E4M3"}, {"shape", {2, 2}}, {"data_offsets", {0, 4}}}},
                      {"e5m2", {{"dtype", "F8_E5M2"}, {"shape", {4}}, {"data_offsets", {4, 8}}}}};
  // e4m3: 1.0, -1.0, 448, 2^-9; e5m2: 1.0, -inf, 57344 (largest finite), 2^-16.
  const unsigned char data[] = {0x38, 0xB8, 0x7E, 0x01, 0x3C, 0xFC, 0x7B, 0x01};
  write_image(tmp / "f8.safetensors", h.dump(),
              std::string(reinterpret_cast<const char*>(data), sizeof data));
  auto file = SafetensorsFile::open(tmp / "f8.safetensors");
  EXPECT_EQ(file->find("e4m3")->dtype, StDType::F8_E4M3);
  EXPECT_EQ(default_scalar_type(StDType::F8_E5M2), at::kFloat);
  at::Tensor d = file->tensor("e4m3", at::kDouble);
  EXPECT_EQ(d.scalar_type(), at::kDouble);
  EXPECT_EQ(d.sizes(), (std::vector<int64_t>{2, 2}));
  EXPECT_TRUE(
      d.equal(at::tensor({1.0, -1.0, 448.0, std::ldexp(1.0, -9)}, at::kDouble).view({2, 2})));
  at::Tensor bf = file->tensor("e4m3", at::kBFloat16);
  EXPECT_EQ(bf.scalar_type(), at::kBFloat16);
  EXPECT_EQ(bf[1][0].item<float>(), 448.0f);  // exact in bf16
  at::Tensor e = file->tensor("e5m2");
  EXPECT_EQ(e[0].item<float>(), 1.0f);
  EXPECT_TRUE(std::isinf(e[1].item<float>()) && e[1].item<float>() < 0);
  EXPECT_EQ(e[2].item<float>(), 57344.0f);
  EXPECT_EQ(e[3].item<float>(), std::ldexp(1.0f, -16));
  EXPECT_EQ(file->tensor("e5m2", at::kHalf)[2].item<float>(), 57344.0f);
  // The other e4m3 NaN (sign bit set) and E5M2's quiet/signalling NaNs all decode as NaN.
  const unsigned char nans[] = {0xFF, 0x7D, 0x7E, 0xFF};
  nlohmann::json hn = {{"a", {{"dtype", "F8_E4M3"}, {"shape", {1}}, {"data_offsets", {0, 1}}}},
                       {"b", {{"dtype", "F8_E5M2"}, {"shape", {3}}, {"data_offsets", {1, 4}}}}};
  write_image(tmp / "nan.safetensors", hn.dump(),
              std::string(reinterpret_cast<const char*>(nans), sizeof nans));
  auto nf = SafetensorsFile::open(tmp / "nan.safetensors");
  EXPECT_TRUE(nf->tensor("a").isnan().all().item<bool>());
  EXPECT_TRUE(nf->tensor("b").isnan().all().item<bool>());
}

TEST(SafetensorsRead, EveryReferenceSafetensorsFileOpensAndLoads) {
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(test::golden_dir())) {
    if (!e.is_regular_file() || e.path().extension() != ".safetensors") continue;
    SCOPED_TRACE(e.path().string());
    auto file = SafetensorsFile::open(e.path());
    ++files;
    for (const auto& info : file->tensors()) {
      at::Tensor t = file->tensor(info.name);
      EXPECT_EQ(t.sizes().vec(), info.shape) << info.name;
      EXPECT_EQ(static_cast<size_t>(t.numel()) * element_size(info.dtype), info.end - info.begin)
          << info.name;
    }
  }
  EXPECT_GE(files, 20);
}

}  // namespace
}  // namespace i2v::io
