// Errors a user can act on: each names the file, tensor, parameter or resource at fault. Part of
// the public API (i2v/i2v.h); standard library only.
#pragma once

#include <stdexcept>
#include <string>

namespace i2v {

// Base of every error i2v raises on purpose. `what()` is a complete sentence for the user.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A file or folder could not be opened, read or written.
class IoError : public Error {
 public:
  using Error::Error;
};

// A file's contents are malformed (bad header, truncated data, invalid JSON ...).
class FormatError : public Error {
 public:
  using Error::Error;
};

// A configuration or parameter is invalid (unknown key value, out of range ...).
class ConfigError : public Error {
 public:
  using Error::Error;
};

// Tensors do not fit the model: missing, unexpected or mis-shaped weights, wrong input shapes.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// A generation was stopped on request (Generator::cancel, a front end's cancel).
class CancelledError : public Error {
 public:
  CancelledError() : Error("generation cancelled") {}
};

// Memory ran out and the fallback ladder had no cheaper plan left; the message says what failed
// and which settings would need less.
class OutOfMemoryError : public Error {
 public:
  using Error::Error;
};

}  // namespace i2v
