// Reading typed values out of config JSON (config.json, scheduler_config.json, ...): a missing or
// null key takes the library default; a present key of the wrong type is a ConfigError naming the
// file and the key. Header-only so every model area can use it.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "i2v/error.h"

namespace i2v::weights {

namespace json_detail {

template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

// Whether `v` holds a value convertible to T without surprises (no string -> number, no float ->
// int truncation, no number -> bool).
template <class T>
bool has_type(const nlohmann::json& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v.is_boolean();
  } else if constexpr (std::is_integral_v<T>) {
    return v.is_number_integer() ||
           (v.is_number_float() && v.get<double>() == static_cast<double>(v.get<int64_t>()));
  } else if constexpr (std::is_floating_point_v<T>) {
    return v.is_number();
  } else if constexpr (std::is_same_v<T, std::string>) {
    return v.is_string();
  } else if constexpr (is_vector<T>::value) {
    if (!v.is_array()) return false;
    for (const auto& e : v)
      if (!has_type<typename T::value_type>(e)) return false;
    return true;
  } else if constexpr (std::is_same_v<T, nlohmann::json>) {
    return true;
  } else {
    return true;  // other types: let nlohmann's converter decide (it throws on mismatch)
  }
}

template <class T>
T convert(const nlohmann::json& v) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (v.is_number_float()) return static_cast<T>(v.get<double>());
    return v.get<T>();
  } else if constexpr (is_vector<T>::value) {
    T out;
    for (const auto& e : v) out.push_back(convert<typename T::value_type>(e));
    return out;
  } else {
    return v.get<T>();
  }
}

template <class T>
std::string type_name() {
  if constexpr (std::is_same_v<T, bool>)
    return "a boolean";
  else if constexpr (std::is_integral_v<T>)
    return "an integer";
  else if constexpr (std::is_floating_point_v<T>)
    return "a number";
  else if constexpr (std::is_same_v<T, std::string>)
    return "a string";
  else if constexpr (is_vector<T>::value)
    return "a list of " + type_name<typename T::value_type>().substr(2) + "s";
  else
    return "a value of the expected type";
}

}  // namespace json_detail

// Where a config value came from, for error messages: "<source>: key 'x' ...".
inline std::string json_source(const std::filesystem::path& file) {
  return file.string();
}

// The value of `key` converted to T; throws ConfigError (naming `source` and `key`) if absent,
// null or of the wrong type.
template <class T>
T get_required(const nlohmann::json& j, const std::string& key, const std::string& source) {
  if (!j.is_object() || !j.contains(key) || j.at(key).is_null())
    throw ConfigError(source + ": required key '" + key + "' is missing");
  const auto& v = j.at(key);
  if (!json_detail::has_type<T>(v))
    throw ConfigError(source + ": key '" + key + "' must be " + json_detail::type_name<T>() +
                      ", got " + v.dump());
  try {
    return json_detail::convert<T>(v);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(source + ": key '" + key + "' has an invalid value " + v.dump() + " (" +
                      e.what() + ")");
  }
}

// The value of `key` converted to T, or `def` when the key is absent or null (as diffusers and
// transformers treat a missing config entry). A present value of the wrong type is a ConfigError.
template <class T>
T get_or(const nlohmann::json& j, const std::string& key, T def, const std::string& source) {
  if (!j.is_object() || !j.contains(key) || j.at(key).is_null()) return def;
  return get_required<T>(j, key, source);
}

// Absent or null -> nullopt; otherwise the converted value (type-checked as above).
template <class T>
std::optional<T> get_optional(const nlohmann::json& j, const std::string& key,
                              const std::string& source) {
  if (!j.is_object() || !j.contains(key) || j.at(key).is_null()) return std::nullopt;
  return get_required<T>(j, key, source);
}

// Throws ConfigError unless `value` is one of `allowed` (message lists them).
inline void check_one_of(const std::string& value, const std::vector<std::string>& allowed,
                         const std::string& key, const std::string& source) {
  for (const auto& a : allowed)
    if (a == value) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  throw ConfigError(source + ": key '" + key + "' has unsupported value '" + value +
                    "' (supported: " + list + ")");
}

// Parses a JSON file; IoError if unreadable, FormatError (with the parser's position) if invalid.
nlohmann::json read_json_file(const std::filesystem::path& path);

}  // namespace i2v::weights
