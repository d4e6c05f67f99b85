// Helpers shared by all test binaries: where reference data lives, temporary folders.
#pragma once

#include <filesystem>
#include <string>

namespace i2v::test {

// ../shared (golden/, data/) as configured at build time; overridable with I2V_SHARED_DIR.
std::filesystem::path shared_dir();
std::filesystem::path golden_dir();       // shared_dir()/golden
std::filesystem::path golden_pipeline();  // shared_dir()/golden/pipeline
std::filesystem::path test_data_dir();    // tests/data
std::filesystem::path i2v_binary();       // the built `i2v` executable

// A fresh empty folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Runs a shell command, returns its exit status; stdout+stderr go to `output`.
int run_command(const std::string& command, std::string* output = nullptr);

}  // namespace i2v::test
