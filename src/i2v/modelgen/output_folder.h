// A model folder being written (make-model, quantize): everything goes into `<out>.partial`,
// renamed into place by commit(); destroyed before that (any failure, e.g. a full disk), the
// partial folder is removed, so nothing half-written is ever left under the final name.
#pragma once

#include <filesystem>

namespace i2v::modelgen {

// Whether `p` is a weights file or a shard index (safetensors, pickles).
bool is_weights_file(const std::filesystem::path& p);

class OutputFolder {
 public:
  // IoError when `out` exists and is not empty, unless `overwrite`.
  OutputFolder(std::filesystem::path out, bool overwrite);
  ~OutputFolder();
  OutputFolder(const OutputFolder&) = delete;
  OutputFolder& operator=(const OutputFolder&) = delete;

  const std::filesystem::path& path() const { return partial_; }  // where to write
  void commit();  // replaces `out` (if any) with the finished folder

 private:
  std::filesystem::path out_, partial_;
  bool committed_ = false;
};

}  // namespace i2v::modelgen
