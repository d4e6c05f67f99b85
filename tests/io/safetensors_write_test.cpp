// safetensors writing: the streaming writer's checks, its file layout, and failure paths that
// must never leave a file under the final name or a temporary file behind.
#include <gtest/gtest.h>

#include <fstream>

#include "i2v/error.h"
#include "i2v/io/safetensors.h"
#include "support/test_support.h"

namespace i2v::io {
namespace {
namespace fs = std::filesystem;

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(SafetensorsWrite, StreamedFileHasAnAlignedDataBlockAndRoundTrips) {
  test::TempDir tmp;
  const fs::path p = tmp / "s.safetensors";
  at::Tensor a = at::randn({3, 5}), b = at::randint(-100, 100, {7}, at::kChar);
  SafetensorsWriter w(p, {{"a.weight", StDType::F32, {3, 5}}, {"b", StDType::I8, {7}}},
                      {{"format", "pt"}});
  w.write("a.weight", a.t().contiguous().t());  // non-contiguous input is written in order
  w.write("b", b);
  EXPECT_FALSE(fs::exists(p));  // nothing under the final name before finish()
  w.finish();
  EXPECT_EQ(listing(tmp.path()), std::vector<std::string>{"s.safetensors"});
  std::ifstream in(p, std::ios::binary);
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
  EXPECT_EQ((8 + n) % 8, 0u);
  EXPECT_EQ(fs::file_size(p), 8 + n + 15 * 4 + 7);
  auto file = SafetensorsFile::open(p);
  EXPECT_TRUE(file->tensor("a.weight").equal(a));
  EXPECT_TRUE(file->tensor("b").equal(b));
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->tensors().front().name, "a.weight");  // written in the declared order
}

TEST(SafetensorsWrite, MismatchedOrMisusedWritesAreConfigErrors) {
  test::TempDir tmp;
  const fs::path p = tmp / "m.safetensors";
  {
    SafetensorsWriter w(p, {{"a", StDType::F32, {2}}});
    EXPECT_THROW(w.write("z", at::zeros({2})), ConfigError);               // wrong name
    EXPECT_THROW(w.write("a", at::zeros({2}, at::kDouble)), ConfigError);  // wrong dtype
    EXPECT_THROW(w.write("a", at::zeros({1, 2})), ConfigError);            // wrong shape
    w.write("a", at::zeros({2}));
    EXPECT_THROW(w.write("a", at::zeros({2})), ConfigError);  // beyond the declared entries
    w.finish();
    EXPECT_THROW(w.finish(), ConfigError);                    // twice
    EXPECT_THROW(w.write("a", at::zeros({2})), ConfigError);  // after finishing
  }
  EXPECT_TRUE(fs::exists(p));  // a finished writer's file survives its destruction
  EXPECT_THROW(SafetensorsWriter(tmp / "d.safetensors",
                                 {{"a", StDType::F32, {1}}, {"a", StDType::F32, {1}}}),
               ConfigError);
  EXPECT_THROW(SafetensorsWriter(tmp / "r.safetensors", {{"__metadata__", StDType::F32, {1}}}),
               ConfigError);
  EXPECT_THROW(SafetensorsWriter(tmp / "n.safetensors", {{"a", StDType::F32, {-1}}}), ConfigError);
  EXPECT_THROW(
      SafetensorsWriter(tmp / "o.safetensors", {{"a", StDType::F64, {int64_t{1} << 62, 8}}}),
      ConfigError);
  EXPECT_EQ(listing(tmp.path()), std::vector<std::string>{"m.safetensors"});
}

TEST(SafetensorsWrite, FailuresLeaveTheOldFileAndNoTemporaries) {
  test::TempDir tmp;
  const fs::path p = tmp / "keep.safetensors";
  save_safetensors(p, {{"x", at::ones({4})}});
  // An abandoned rewrite leaves the previous file intact.
  {
    SafetensorsWriter w(p, {{"x", StDType::F32, {4}}, {"y", StDType::F32, {4}}});
    w.write("x", at::zeros({4}));
    EXPECT_THROW(w.finish(), ConfigError);
  }
  EXPECT_TRUE(load_safetensors(p).at("x").equal(at::ones({4})));
  EXPECT_EQ(listing(tmp.path()), std::vector<std::string>{"keep.safetensors"});
  // A completed rewrite replaces it.
  save_safetensors(p, {{"x", at::zeros({2})}});
  EXPECT_TRUE(load_safetensors(p).at("x").equal(at::zeros({2})));

  // The destination's folder does not exist: the temporary file cannot be created.
  try {
    save_safetensors(tmp / "no/such/dir/x.safetensors", {{"a", at::zeros({1})}});
    ADD_FAILURE() << "wrote into a missing folder";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("x.safetensors"), std::string::npos) << e.what();
  }
  // The destination is a non-empty folder: the final rename fails after all data was written.
  fs::create_directories(tmp / "dir.safetensors/inner");
  try {
    save_safetensors(tmp / "dir.safetensors", {{"a", at::zeros({1000})}});
    ADD_FAILURE() << "replaced a folder";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("dir.safetensors"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_directory(tmp / "dir.safetensors/inner"));
  EXPECT_EQ(listing(tmp.path()), (std::vector<std::string>{"dir.safetensors", "keep.safetensors"}));
}

TEST(SafetensorsWrite, DiskFullIsAnIoErrorWithNothingLeft) {
  test::TempDir tmp;
  const fs::path small = tmp / "small";
  fs::create_directories(small);
  std::string out;
  if (test::run_command("mount -t tmpfs -o size=64k tmpfs " + small.string() + " 2>&1", &out) !=
      0) {
    GTEST_SKIP() << "cannot mount a small tmpfs here: " << out;
  }
  EXPECT_THROW(save_safetensors(small / "big.safetensors", {{"w", at::zeros({1 << 20})}}), IoError);
  std::vector<std::string> left = listing(small);
  test::run_command("umount " + small.string());
  EXPECT_TRUE(left.empty()) << left.front();
}

}  // namespace
}  // namespace i2v::io
