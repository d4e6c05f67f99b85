#include "i2v/weights/hf_cache.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "i2v/error.h"

namespace i2v::weights {
namespace fs = std::filesystem;

namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : nullptr;
}

bool is_commit_hash(const std::string& s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

std::vector<std::string> list_dir(const fs::path& dir, bool recursive = false) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  if (recursive) {
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
         it.increment(ec))
      if (it->is_regular_file(ec)) out.push_back(fs::relative(it->path(), dir, ec).string());
  } else {
    for (const auto& e : fs::directory_iterator(dir, ec))
      out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string join(const std::vector<std::string>& v) {
  if (v.empty()) return "(none)";
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

bool is_repo_id(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == s.size()) return false;
  if (s.find('/', slash + 1) != std::string::npos) return false;
  if (s.find("..") != std::string::npos || s[0] == '.' || s[0] == '~') return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
          c == '/'))
      return false;
  return true;
}

fs::path hub_cache_dir(std::string* why) {
  auto say = [&](const std::string& w) {
    if (why) *why = w;
  };
  if (const char* v = env("HF_HUB_CACHE")) {
    say("$HF_HUB_CACHE");
    return v;
  }
  if (const char* v = env("HUGGINGFACE_HUB_CACHE")) {
    say("$HUGGINGFACE_HUB_CACHE");
    return v;
  }
  if (const char* v = env("HF_HOME")) {
    say("$HF_HOME/hub");
    return fs::path(v) / "hub";
  }
  if (const char* v = env("XDG_CACHE_HOME")) {
    say("$XDG_CACHE_HOME/huggingface/hub");
    return fs::path(v) / "huggingface" / "hub";
  }
  const char* home = env("HOME");
  say("~/.cache/huggingface/hub");
  return fs::path(home ? home : "/") / ".cache" / "huggingface" / "hub";
}

CachedSnapshot find_cached_snapshot(const fs::path& cache, const std::string& repo_id,
                                    const std::string& revision) {
  // "models--ORG--NAME": the slash becomes a double dash.
  std::string folder_name = "models--" + repo_id.substr(0, repo_id.find('/')) + "--" +
                            repo_id.substr(repo_id.find('/') + 1);
  fs::path repo = cache / folder_name;
  std::error_code ec;
  if (!fs::is_directory(repo, ec))
    throw IoError("model '" + repo_id + "' is not in the Hugging Face cache: " + repo.string() +
                  " does not exist (cache folder " + cache.string() +
                  "; set HF_HUB_CACHE or HF_HOME, or pass a folder path; nothing is downloaded)");
  fs::path snapshots = repo / "snapshots";
  std::string commit;
  if (is_commit_hash(revision) && fs::is_directory(snapshots / revision, ec)) {
    commit = revision;
  } else {
    fs::path ref = repo / "refs" / revision;
    std::ifstream in(ref);
    if (in) {
      std::getline(in, commit);
      while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back())))
        commit.pop_back();
    } else {
      std::vector<std::string> snaps = list_dir(snapshots);
      // A cache copied without refs/ but with exactly one snapshot is unambiguous for "main".
      if (revision == "main" && snaps.size() == 1) {
        commit = snaps.front();
      } else {
        throw IoError("model '" + repo_id + "': revision '" + revision +
                      "' is not in the cache (looked for " + ref.string() + " and " +
                      (snapshots / revision).string() + "; refs: " +
                      join(list_dir(repo / "refs", true)) + "; snapshots: " + join(snaps) + ")");
      }
    }
  }
  fs::path folder = snapshots / commit;
  if (commit.empty() || !fs::is_directory(folder, ec))
    throw IoError("model '" + repo_id + "': revision '" + revision + "' points to commit '" +
                  commit + "' but " + folder.string() +
                  " does not exist (snapshots: " + join(list_dir(snapshots)) + ")");
  return {folder, commit};
}

}  // namespace i2v::weights
