// safetensors: round trips, zero-copy views, F8 decoding, and clear errors for hostile files.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "i2v/error.h"
#include "i2v/io/safetensors.h"
#include "support/test_support.h"

namespace i2v::io {
namespace {
namespace fs = std::filesystem;

// A file image from a header JSON text and raw data bytes.
void write_raw(const fs::path& p, const std::string& header, const std::string& data,
               int64_t length_override = -1) {
  std::ofstream out(p, std::ios::binary);
  uint64_t n = length_override >= 0 ? static_cast<uint64_t>(length_override) : header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header << data;
}

std::string error_of(const fs::path& p) {
  try {
    SafetensorsFile::open(p);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Safetensors, RoundTripsEveryWritableDtypeAndMetadata) {
  test::TempDir tmp;
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"f64", at::randn({2, 3}, at::kDouble)},
      {"f32", at::randn({4}, at::kFloat)},
      {"f16", at::randn({3, 2}).to(at::kHalf)},
      {"bf16", at::randn({5}).to(at::kBFloat16)},
      {"i64", at::arange(6, at::kLong).reshape({2, 3})},
      {"i32", at::arange(4, at::kInt)},
      {"i16", at::arange(3, at::kShort)},
      {"i8", at::arange(-2, 2, at::kChar)},
      {"u8", at::arange(200, 203, at::kByte)},
      {"bool", at::tensor({1, 0, 1}, at::kByte).to(at::kBool)},
      {"scalar", at::scalar_tensor(3.5, at::kFloat)},
      {"empty", at::empty({0, 4}, at::kFloat)},
  };
  save_safetensors(tmp / "all.safetensors", tensors, {{"format", "pt"}, {"note", "é"}});
  auto file = SafetensorsFile::open(tmp / "all.safetensors");
  EXPECT_EQ(file->metadata().at("note"), "é");
  for (const auto& [name, t] : tensors) {
    at::Tensor back = file->tensor(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(back.equal(t)) << name;
  }
  EXPECT_TRUE(file->tensor("f16", at::kFloat).equal(tensors[2].second.to(at::kFloat)));
  for (const auto& e : fs::directory_iterator(tmp.path())) {  // no temporary file left
    EXPECT_EQ(e.path().filename(), "all.safetensors");
  }
}

TEST(Safetensors, TensorsAreCopyOnWriteViewsOfTheMapping) {
  test::TempDir tmp;
  at::Tensor t = at::arange(1024, at::kFloat);
  save_safetensors(tmp / "v.safetensors", {{"a", t}, {"b", t * 2}});
  at::Tensor a, b;
  {
    auto file = SafetensorsFile::open(tmp / "v.safetensors");
    a = file->tensor("a");
    b = file->tensor("b");
    // Both views sit in one mapping, b right after a's 4096 bytes.
    EXPECT_EQ(static_cast<char*>(b.data_ptr()) - static_cast<char*>(a.data_ptr()), 4096);
  }
  // The views outlive the SafetensorsFile object; writing to them leaves the file unchanged.
  a.fill_(-1);
  EXPECT_EQ(b[1].item<float>(), 2.0f);
  auto reread = load_safetensors(tmp / "v.safetensors");
  EXPECT_TRUE(reread.at("a").equal(t));
}

TEST(Safetensors, Float8DecodesExactly) {
  test::TempDir tmp;
  nlohmann::json h = {{"e4m3", {{"dtype", "F8_E4M3"}, {"shape", {5}}, {"data_offsets", {0, 5}}}},
                      {"e5m2", {{"dtype", "F8_E5M2"}, {"shape", {4}}, {"data_offsets", {5, 9}}}}};
  const char data[] = {0x38, 0x7E, 0x7F, 0x01, static_cast<char>(0xB8), 0x3C, 0x7C, 0x7F, 0x01};
  write_raw(tmp / "f8.safetensors", h.dump(), std::string(data, 9));
  auto file = SafetensorsFile::open(tmp / "f8.safetensors");
  at::Tensor a = file->tensor("e4m3");
  EXPECT_EQ(a.scalar_type(), at::kFloat);
  EXPECT_EQ(a[0].item<float>(), 1.0f);
  EXPECT_EQ(a[1].item<float>(), 448.0f);
  EXPECT_TRUE(std::isnan(a[2].item<float>()));
  EXPECT_EQ(a[3].item<float>(), std::ldexp(1.0f, -9));
  EXPECT_EQ(a[4].item<float>(), -1.0f);
  at::Tensor b = file->tensor("e5m2");
  EXPECT_EQ(b[0].item<float>(), 1.0f);
  EXPECT_TRUE(std::isinf(b[1].item<float>()));
  EXPECT_TRUE(std::isnan(b[2].item<float>()));
  EXPECT_EQ(b[3].item<float>(), std::ldexp(1.0f, -16));
  EXPECT_EQ(file->tensor("e4m3", at::kBFloat16).scalar_type(), at::kBFloat16);
}

TEST(Safetensors, MisalignedDataIsCopiedNotMisread) {
  test::TempDir tmp;
  nlohmann::json h = {{"x", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {0, 8}}}}};
  std::string header = h.dump() + " ";  // odd total length: data starts misaligned
  if ((8 + header.size()) % 4 == 0) header += " ";
  float v[2] = {1.5f, -2.25f};
  write_raw(tmp / "m.safetensors", header, std::string(reinterpret_cast<char*>(v), 8));
  at::Tensor x = SafetensorsFile::open(tmp / "m.safetensors")->tensor("x");
  EXPECT_EQ(x[0].item<float>(), 1.5f);
  EXPECT_EQ(x[1].item<float>(), -2.25f);
}

TEST(Safetensors, HostileAndBrokenFilesAreClearErrors) {
  test::TempDir tmp;
  auto entry = [](const char* dtype, std::vector<int64_t> shape, uint64_t b, uint64_t e) {
    return nlohmann::json{{"dtype", dtype}, {"shape", shape}, {"data_offsets", {b, e}}};
  };
  struct Case {
    std::string name, header, data, expect;
    int64_t length = -1;
  };
  std::string d8(8, '\0');
  std::vector<Case> cases = {
      {"short", "", "", "shorter than the 8-byte", -2},
      {"beyond", "{}", "", "beyond the end of the file", 1000},
      {"absurd", "{}", "", "absurdly large", int64_t{1} << 40},
      {"json", "{not json", "", "not valid JSON"},
      {"array", "[1,2]", "", "not a JSON object"},
      {"dtype", nlohmann::json{{"x", entry("F13", {2}, 0, 8)}}.dump(), d8, "unknown dtype"},
      {"negative", nlohmann::json{{"x", entry("F32", {-2}, 0, 8)}}.dump(), d8, "non-negative"},
      {"size", nlohmann::json{{"x", entry("F32", {3}, 0, 8)}}.dump(), d8, "need 12"},
      {"truncated", nlohmann::json{{"x", entry("F32", {4}, 0, 16)}}.dump(), d8, "truncated"},
      {"overlap",
       nlohmann::json{{"x", entry("F32", {2}, 0, 8)}, {"y", entry("F32", {1}, 4, 8)}}.dump(), d8,
       "overlaps"},
      {"gap", nlohmann::json{{"x", entry("F32", {1}, 4, 8)}}.dump(), d8, "gap"},
      {"order", nlohmann::json{{"x", entry("F32", {0}, 8, 4)}}.dump(), d8, "begin > end"},
      {"metadata", nlohmann::json{{"__metadata__", {{"k", 3}}}}.dump(), "", "not a string"},
      {"overflow",
       nlohmann::json{{"x", entry("F32", {int64_t{1} << 40, int64_t{1} << 40}, 0, 8)}}.dump(), d8,
       "overflows"},
  };
  for (const auto& c : cases) {
    fs::path p = tmp / (c.name + ".safetensors");
    if (c.length == -2) {
      std::ofstream(p, std::ios::binary) << "abc";
    } else {
      write_raw(p, c.header, c.data, c.length);
    }
    std::string msg = error_of(p);
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": '" << msg << "'";
    EXPECT_NE(msg.find(p.string()), std::string::npos) << c.name << " names the file: " << msg;
  }
  EXPECT_THROW(SafetensorsFile::open(tmp / "missing.safetensors"), IoError);
  EXPECT_THROW(SafetensorsFile::open(tmp.path()), IoError);
  auto file =
      SafetensorsFile::open(test::golden_pipeline() / "vae/diffusion_pytorch_model.safetensors");
  EXPECT_THROW(file->tensor("no.such.tensor"), FormatError);
}

TEST(Safetensors, WriterChecksEntriesAndNeverLeavesPartialFiles) {
  test::TempDir tmp;
  const fs::path p = tmp / "w.safetensors";
  {
    SafetensorsWriter w(p, {{"a", StDType::F32, {2}}, {"b", StDType::BF16, {3}}});
    EXPECT_THROW(w.write("b", at::zeros({3}, at::kBFloat16)), ConfigError);  // out of order
    w.write("a", at::zeros({2}));
    EXPECT_THROW(w.write("b", at::zeros({4}, at::kBFloat16)), ConfigError);  // wrong shape
    EXPECT_THROW(w.finish(), ConfigError);                                   // b missing
  }
  EXPECT_FALSE(fs::exists(p));
  for (const auto& e : fs::directory_iterator(tmp.path())) ADD_FAILURE() << "left " << e.path();
  EXPECT_THROW(save_safetensors(tmp / "no/such/dir/x.safetensors", {{"a", at::zeros({1})}}),
               IoError);
  fs::create_directories(tmp / "is_a_dir.safetensors/inner");
  EXPECT_THROW(save_safetensors(tmp / "is_a_dir.safetensors", {{"a", at::zeros({1})}}), IoError);
  EXPECT_THROW(save_safetensors(tmp / "c.safetensors", {{"a", at::zeros({1}, at::kComplexFloat)}}),
               ConfigError);
}

TEST(Safetensors, EveryReferenceFileMatchesTheManifest) {
  std::ifstream in(test::golden_dir() / "MANIFEST.json");
  auto manifest = nlohmann::json::parse(in);
  int files = 0, tensors = 0;
  for (auto it = manifest.at("files").begin(); it != manifest.at("files").end(); ++it) {
    if (!it.value().contains("tensors")) continue;
    auto file = SafetensorsFile::open(test::golden_dir() / it.key());
    ++files;
    for (auto t = it.value()["tensors"].begin(); t != it.value()["tensors"].end(); ++t) {
      const TensorInfo* info = file->find(t.key());
      ASSERT_NE(info, nullptr) << it.key() << ": " << t.key();
      EXPECT_EQ(to_string(info->dtype), t.value().at("dtype").get<std::string>()) << t.key();
      EXPECT_EQ(info->shape, t.value().at("shape").get<std::vector<int64_t>>()) << t.key();
      ++tensors;
    }
  }
  EXPECT_GE(files, 20);
  EXPECT_GE(tensors, 200);
}

}  // namespace
}  // namespace i2v::io
