#include "i2v/server/auth.h"

#include <fstream>

#include "i2v/error.h"

namespace i2v::server {

bool is_loopback_host(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]" ||
         host.rfind("127.", 0) == 0;
}

bool token_matches(const std::string& presented, const std::string& expected) {
  if (expected.empty()) return true;
  unsigned char diff = presented.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char a = i < presented.size() ? presented[i] : 0;
    diff |= a ^ static_cast<unsigned char>(expected[i]);
  }
  return diff == 0;
}

std::string presented_token(const std::string& authorization, const std::string& query_token) {
  const std::string prefix = "Bearer ";
  if (authorization.size() > prefix.size() &&
      authorization.compare(0, prefix.size(), prefix) == 0) {
    return authorization.substr(prefix.size());
  }
  return query_token;
}

std::string read_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read the token file " + path);
  std::string line;
  std::getline(in, line);
  const auto b = line.find_first_not_of(" \t\r\n");
  const auto e = line.find_last_not_of(" \t\r\n");
  if (b == std::string::npos) throw ConfigError("the token file " + path + " is empty");
  return line.substr(b, e - b + 1);
}

}  // namespace i2v::server
