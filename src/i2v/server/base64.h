// Base64 (RFC 4648, standard alphabet) for images travelling inside JSON.
#pragma once

#include <optional>
#include <string>

namespace i2v::server {

std::string base64_encode(const std::string& bytes);
// nullopt for characters outside the alphabet or a bad length; whitespace is skipped.
std::optional<std::string> base64_decode(const std::string& text);

}  // namespace i2v::server
