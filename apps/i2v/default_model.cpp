#include "default_model.h"

#include <cstdlib>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "i2v/error.h"
#include "i2v/modelgen/make_model.h"

namespace i2v::cli {
namespace fs = std::filesystem;

namespace {

fs::path i2v_home() {
  if (const char* h = std::getenv("I2V_HOME")) return h;
  if (const char* x = std::getenv("XDG_CACHE_HOME")) return fs::path(x) / "i2v";
  if (const char* home = std::getenv("HOME")) return fs::path(home) / ".cache" / "i2v";
  return fs::current_path() / ".i2v";
}

// The shipped configs: next to the source tree the binary was built from, or installed.
fs::path tiny_configs() {
  for (const fs::path& p : {fs::path(I2V_SOURCE_DIR) / "configs/models/tiny",
                            fs::path("/usr/share/i2v/configs/models/tiny"),
                            fs::current_path() / "configs/models/tiny"}) {
    if (fs::exists(p / "model_index.json")) return p;
  }
  throw IoError("the configs of the built-in tiny model were not found (configs/models/tiny)");
}

}  // namespace

std::string ensure_default_model() {
  const fs::path dir = i2v_home() / "models" / "tiny";
  if (!fs::exists(dir / "model_index.json")) {
    spdlog::info("creating the built-in tiny random model in {} (no --model given)", dir.string());
    modelgen::MakeModelOptions o;
    o.config_dir = tiny_configs();
    o.out_dir = dir;
    o.seed = 0;
    o.overwrite = true;
    fs::create_directories(dir.parent_path());
    modelgen::make_model(o);
  }
  return dir.string();
}

}  // namespace i2v::cli
