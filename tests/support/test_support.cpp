#include "support/test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <random>

namespace i2v::test {
namespace fs = std::filesystem;

fs::path shared_dir() {
  if (const char* env = std::getenv("I2V_SHARED_DIR")) return env;
  return I2V_SHARED_DIR;
}
fs::path golden_dir() {
  return shared_dir() / "golden";
}
fs::path golden_pipeline() {
  return golden_dir() / "pipeline";
}
fs::path test_data_dir() {
  return I2V_TEST_DATA_DIR;
}
fs::path i2v_binary() {
  return I2V_BINARY;
}

TempDir::TempDir() {
  std::random_device rd;
  for (int i = 0; i < 100; ++i) {
    fs::path p = fs::temp_directory_path() /
                 ("i2v-test-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
    if (fs::create_directory(p)) {
      path_ = p;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary folder");
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

int run_command(const std::string& command, std::string* output) {
  std::string cmd = command + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return -1;
  std::array<char, 4096> buf;
  std::string out;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  int status = pclose(pipe);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace i2v::test
