#include "common/json.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <regex>

namespace k8c {

std::optional<Json> parse_json(std::string_view text, std::string* error) {
  Json out = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded()) {
    // Re-parse with exceptions only on the error path to get nlohmann's positioned message.
    try {
      Json ignored = Json::parse(text);
    } catch (const Json::parse_error& e) {
      if (error) *error = e.what();
    }
    if (error && error->empty()) *error = "invalid JSON";
    return std::nullopt;
  }
  return out;
}

namespace {

// YAML 1.2 core schema resolution of plain scalars.
Json plain_scalar(const std::string& s) {
  static const std::regex int_re("^[-+]?[0-9]+$");
  static const std::regex oct_re("^0o[0-7]+$");
  static const std::regex hex_re("^0x[0-9a-fA-F]+$");
  static const std::regex float_re("^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$");
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (std::regex_match(s, int_re)) {
    try {
      size_t used = 0;
      long long v = std::stoll(s, &used, 10);
      if (used == s.size()) return v;
    } catch (...) {
    }
    return std::stod(s);
  }
  // Out-of-range octal/hex/float literals stay strings rather than failing the whole document.
  try {
    if (std::regex_match(s, oct_re)) return std::stoll(s.substr(2), nullptr, 8);
    if (std::regex_match(s, hex_re)) return std::stoll(s.substr(2), nullptr, 16);
    if (std::regex_match(s, float_re)) return std::stod(s);
  } catch (const std::out_of_range&) {
    return s;
  }
  if (s == ".inf" || s == ".Inf" || s == "+.inf") return std::numeric_limits<double>::infinity();
  return s;
}

Json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      // A tag of "!" marks a quoted scalar in yaml-cpp: quoted means string, always.
      // An explicit !!str tag means string too.
      if (n.Tag() == "!" || n.Tag() == "tag:yaml.org,2002:str") return n.Scalar();
      return plain_scalar(n.Scalar());
    case YAML::NodeType::Sequence: {
      Json arr = Json::array();
      for (const auto& item : n) arr.push_back(to_json(item));
      return arr;
    }
    case YAML::NodeType::Map: {
      Json obj = Json::object();
      for (const auto& kv : n) {
        if (!kv.first.IsScalar())
          throw YAML::Exception(kv.first.Mark(), "map keys must be scalars");
        obj[kv.first.Scalar()] = to_json(kv.second);
      }
      return obj;
    }
  }
  return nullptr;
}

void emit(YAML::Emitter& out, const Json& v) {
  if (v.is_object()) {
    out << YAML::BeginMap;
    for (auto it = v.begin(); it != v.end(); ++it) {
      out << YAML::Key << it.key() << YAML::Value;
      emit(out, it.value());
    }
    out << YAML::EndMap;
  } else if (v.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& e : v) emit(out, e);
    out << YAML::EndSeq;
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    // Quote strings that would otherwise read back as another type.
    Json back = s.find('\n') == std::string::npos ? plain_scalar(s) : Json(s);
    if (!back.is_string() || s.empty())
      out << YAML::DoubleQuoted << s;
    else
      out << s;
  } else if (v.is_null()) {
    out << YAML::Null;
  } else {
    out << v.dump();
  }
}

}  // namespace

std::optional<std::vector<Json>> parse_yaml_documents(std::string_view text, std::string* error) {
  try {
    std::vector<Json> docs;
    for (const auto& node : YAML::LoadAll(std::string(text))) {
      if (node.IsNull() || !node.IsDefined()) continue;
      docs.push_back(to_json(node));
    }
    return docs;
  } catch (const YAML::Exception& e) {
    if (error) *error = "yaml: line " + std::to_string(e.mark.line + 1) + ": " + e.msg;
    return std::nullopt;
  } catch (const std::exception& e) {
    if (error) *error = std::string("yaml: ") + e.what();
    return std::nullopt;
  }
}

std::optional<Json> parse_json_or_yaml(std::string_view text, std::string* error) {
  size_t i = text.find_first_not_of(" \t\r\n");
  if (i != std::string_view::npos && (text[i] == '{' || text[i] == '['))
    return parse_json(text, error);
  auto docs = parse_yaml_documents(text, error);
  if (!docs) return std::nullopt;
  if (docs->size() != 1) {
    if (error) *error = "expected exactly one YAML document, got " + std::to_string(docs->size());
    return std::nullopt;
  }
  return std::move(docs->front());
}

std::string to_yaml(const Json& value) {
  YAML::Emitter out;
  emit(out, value);
  return std::string(out.c_str()) + "\n";
}

const Json* find_path(const Json& obj, std::span<const std::string_view> path) {
  const Json* cur = &obj;
  for (auto key : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::string get_string(const Json& obj, std::initializer_list<std::string_view> path,
                       std::string fallback) {
  const Json* v = find_path(obj, path);
  return v && v->is_string() ? v->get<std::string>() : fallback;
}

namespace {

// Hand-written because nlohmann offers no way to locate a member's text without building the
// whole DOM, which is what this exists to avoid.
struct Scanner {
  std::string_view s;
  size_t i = 0;

  bool done() const { return i >= s.size(); }
  void skip_ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  }
  // At an opening quote: moves past the closing one.
  bool skip_string() {
    for (++i; i < s.size(); ++i) {
      if (s[i] == '\\') {
        ++i;
      } else if (s[i] == '"') {
        ++i;
        return true;
      }
    }
    return false;
  }
  bool skip_value() {
    if (done()) return false;
    char c = s[i];
    if (c == '"') return skip_string();
    if (c == '{' || c == '[') {
      int depth = 0;
      while (i < s.size()) {
        char d = s[i];
        if (d == '"') {
          if (!skip_string()) return false;
          continue;
        }
        if (d == '{' || d == '[') ++depth;
        if (d == '}' || d == ']') {
          if (--depth == 0) {
            ++i;
            return true;
          }
        }
        ++i;
      }
      return false;
    }
    size_t start = i;
    while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' &&
           s[i] != '\n' && s[i] != '\r' && s[i] != '\t')
      ++i;
    return i > start;
  }
};

}  // namespace

std::string_view json_member(std::string_view object, std::string_view key) {
  Scanner sc{object};
  sc.skip_ws();
  if (sc.done() || object[sc.i] != '{') return {};
  ++sc.i;
  for (;;) {
    sc.skip_ws();
    if (sc.done() || object[sc.i] != '"') return {};
    size_t key_start = sc.i + 1;
    if (!sc.skip_string()) return {};
    std::string_view name = object.substr(key_start, sc.i - 1 - key_start);
    sc.skip_ws();
    if (sc.done() || object[sc.i] != ':') return {};
    ++sc.i;
    sc.skip_ws();
    size_t value_start = sc.i;
    if (!sc.skip_value()) return {};
    if (name == key) return object.substr(value_start, sc.i - value_start);
    sc.skip_ws();
    if (sc.done() || object[sc.i] != ',') return {};
    ++sc.i;
  }
}

}  // namespace k8c
