#include "control/api/schema.h"

namespace k8c::api {

const SchemaPtr* Schema::property(std::string_view key) const {
  for (const auto& [k, v] : properties)
    if (k == key) return &v;
  return nullptr;
}

S::S(Type t) { mut().type = t; }
S::S(SchemaPtr p) : node_(std::move(p)) {}

// Nodes are shared between kinds (PodSpec appears in six of them), so a modifier copies the
// node before changing it: S values behave like values.
Schema& S::mut() {
  if (node_.use_count() > 1) node_ = std::make_shared<Schema>(*node_);
  return const_cast<Schema&>(*node_);
}

S& S::named(std::string n) { mut().name = std::move(n); return *this; }
S& S::desc(std::string d) { mut().description = std::move(d); return *this; }
S& S::req() { required_ = true; return *this; }
S& S::def(Json v) { mut().default_value = std::move(v); return *this; }
S& S::oneof(std::vector<std::string> values) { mut().enum_values = std::move(values); return *this; }
S& S::fmt(Format f) { mut().format = f; return *this; }
S& S::min(int64_t v) { mut().minimum = v; return *this; }
S& S::max(int64_t v) { mut().maximum = v; return *this; }
S& S::max_len(size_t n) { mut().max_length = n; return *this; }
S& S::immutable() { mut().immutable = true; return *this; }
S& S::merge(std::string key) {
  auto& s = mut();
  s.patch_strategy = "merge";
  s.patch_merge_key = key;
  s.list_type = "map";
  s.list_map_keys = {std::move(key)};
  return *this;
}
S& S::merge_set() {
  auto& s = mut();
  s.patch_strategy = "merge";
  s.list_type = "set";
  return *this;
}
S& S::strategy(std::string st) { mut().patch_strategy = std::move(st); return *this; }
S& S::list_map(std::vector<std::string> keys) {
  auto& s = mut();
  s.list_type = "map";
  s.list_map_keys = std::move(keys);
  return *this;
}

S obj(std::initializer_list<std::pair<std::string, S>> props) {
  auto node = std::make_shared<Schema>();
  node->type = Type::object;
  for (const auto& [name, s] : props) {
    node->properties.emplace_back(name, s.ptr());
    if (s.is_required()) node->required.push_back(name);
  }
  return S(SchemaPtr(node));
}
S str() { return S(Type::string); }
S integer() { return S(Type::integer); }
S number() { return S(Type::number); }
S boolean() { return S(Type::boolean); }
S int_or_string() { return S(Type::int_or_string); }
S quantity() { return S(Type::quantity); }
S any() { return S(Type::any); }
S list(S items) {
  S s(Type::array);
  auto node = std::make_shared<Schema>(*s.ptr());
  node->items = items.ptr();
  return S(SchemaPtr(node));
}
S map(S values) {
  S s(Type::map);
  auto node = std::make_shared<Schema>(*s.ptr());
  node->items = values.ptr();
  return S(SchemaPtr(node));
}

const char* cause_reason(FieldError::Kind k) {
  switch (k) {
    case FieldError::Kind::required: return "FieldValueRequired";
    case FieldError::Kind::invalid: return "FieldValueInvalid";
    case FieldError::Kind::not_supported: return "FieldValueNotSupported";
    case FieldError::Kind::duplicate: return "FieldValueDuplicate";
    case FieldError::Kind::too_long: return "FieldValueTooLong";
    case FieldError::Kind::forbidden: return "FieldValueForbidden";
    case FieldError::Kind::unknown_field: return "FieldValueInvalid";
  }
  return "FieldValueInvalid";
}

}  // namespace k8c::api
