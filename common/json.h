// JSON and YAML helpers shared by every part. Objects travel as nlohmann::json inside k8c;
// YAML is only an input format, converted to JSON at the edge.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace k8c {

using Json = nlohmann::json;

// Parses JSON; on failure returns nullopt and sets `error` to a one-line message with the position.
std::optional<Json> parse_json(std::string_view text, std::string* error);

// Parses one or more YAML documents ("---" separated) into JSON values. Empty documents are
// skipped. YAML scalars become JSON strings, numbers, booleans or null following YAML 1.2 core
// rules, except that quoted scalars always stay strings.
std::optional<std::vector<Json>> parse_yaml_documents(std::string_view text, std::string* error);

// Parses a request body that may be JSON or YAML (a single document).
std::optional<Json> parse_json_or_yaml(std::string_view text, std::string* error);

// Renders JSON as block-style YAML (for CLI output and tests).
std::string to_yaml(const Json& value);

// Pointer-ish helpers that never throw: get(obj, "metadata", "name") returns nullptr when absent.
const Json* find_path(const Json& obj, std::span<const std::string_view> path);
inline const Json* find_path(const Json& obj, std::initializer_list<std::string_view> path) {
  return find_path(obj, std::span<const std::string_view>(path.begin(), path.size()));
}
std::string get_string(const Json& obj, std::initializer_list<std::string_view> path,
                       std::string fallback = {});

// The text of a top-level member's value in an encoded JSON object, found without parsing the
// object: for splicing a part of an already-encoded object (the API server's metadata-only
// views) at a fraction of a parse. Empty when the member is absent or the text is not a
// well-formed object up to that member. Keys are compared as written, so a key spelled with
// escapes does not match.
std::string_view json_member(std::string_view object, std::string_view key);

}  // namespace k8c
