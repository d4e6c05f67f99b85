// The web page's files (web/*), compiled into the binary by cmake/embed_web_assets.cmake.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace i2v::server {

struct StaticAsset {
  const char* path;          // URL path, e.g. "/app.js"
  const char* content_type;  // e.g. "text/javascript; charset=utf-8"
  const char* data;
  size_t size;
};

const std::vector<StaticAsset>& static_assets();

// The asset served at `path` ("/" is "/index.html"), or nullptr.
const StaticAsset* find_static_asset(const std::string& path);

}  // namespace i2v::server
