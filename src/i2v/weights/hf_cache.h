// The Hugging Face hub cache, read offline: <cache>/models--ORG--NAME/{refs/<branch>,
// snapshots/<commit>/...}, where snapshot files are usually symlinks into blobs/.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace i2v::weights {

// Whether `s` looks like a hub repo id "ORG/NAME" (one slash, no path syntax).
bool is_repo_id(const std::string& s);

// The cache folder as huggingface_hub picks it: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE
// (legacy), else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub. `why` (optional) receives which rule decided.
std::filesystem::path hub_cache_dir(std::string* why = nullptr);

struct CachedSnapshot {
  std::filesystem::path folder;  // .../snapshots/<commit>
  std::string commit;
};

// The snapshot of `repo_id` at `revision` (a branch or tag under refs/, or a commit hash) in
// `cache`. Throws IoError saying where it looked and what it found (the repo folder, refs,
// snapshots) when it cannot resolve.
CachedSnapshot find_cached_snapshot(const std::filesystem::path& cache, const std::string& repo_id,
                                    const std::string& revision = "main");

}  // namespace i2v::weights
