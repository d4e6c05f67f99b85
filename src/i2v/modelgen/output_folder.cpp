#include "i2v/modelgen/output_folder.h"

#include <string>

#include "i2v/error.h"

namespace i2v::modelgen {
namespace fs = std::filesystem;

bool is_weights_file(const fs::path& p) {
  const std::string name = p.filename().string();
  const std::string ext = p.extension().string();
  return ext == ".safetensors" || ext == ".bin" || ext == ".ckpt" || ext == ".pt" ||
         name.find(".safetensors.index.json") != std::string::npos ||
         name.find(".bin.index.json") != std::string::npos;
}

OutputFolder::OutputFolder(fs::path out, bool overwrite) : out_(std::move(out)) {
  if (fs::exists(out_) && !fs::is_empty(out_) && !overwrite) {
    throw IoError(out_.string() +
                  " already exists and is not empty (pass --overwrite to replace it)");
  }
  partial_ = out_;
  partial_ += ".partial";
  fs::remove_all(partial_);
  fs::create_directories(partial_);
}

OutputFolder::~OutputFolder() {
  std::error_code ec;
  if (!committed_) fs::remove_all(partial_, ec);
}

void OutputFolder::commit() {
  if (fs::exists(out_)) fs::remove_all(out_);
  fs::rename(partial_, out_);
  committed_ = true;
}

}  // namespace i2v::modelgen
