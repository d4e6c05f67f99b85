// Who may use the API. On loopback without a token, anyone on this machine (as with the tool it
// replaces); with a token, every API and output request must carry it, as
// "Authorization: Bearer <token>" or "?token=<token>" (for <video> and EventSource, which cannot
// set headers). Binding beyond loopback without a token is refused at start.
#pragma once

#include <string>

namespace i2v::server {

bool is_loopback_host(const std::string& host);

// Constant-time comparison of the presented token with the expected one.
bool token_matches(const std::string& presented, const std::string& expected);

// The token presented by a request: the Bearer header wins over the query parameter.
std::string presented_token(const std::string& authorization_header,
                            const std::string& query_token);

// Reads a token file (first line, surrounding whitespace trimmed); ConfigError when unreadable
// or empty.
std::string read_token_file(const std::string& path);

}  // namespace i2v::server
