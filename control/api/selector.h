// Label selectors (equality- and set-based) and field selectors, as the API accepts them in
// ?labelSelector= and ?fieldSelector=, plus the structured LabelSelector of specs.
#pragma once

#include "common/json.h"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace k8c::api {

struct Requirement {
  enum class Op { equals, not_equals, in, not_in, exists, does_not_exist, gt, lt };
  std::string key;
  Op op;
  std::vector<std::string> values;
};

class LabelSelector {
 public:
  // Parses "app=web,tier!=db,env in (a,b),!legacy,track". Returns nullopt and sets `error`
  // (Kubernetes wording) for malformed input. An empty string selects everything.
  static std::optional<LabelSelector> parse(std::string_view text, std::string* error);
  // From a spec's LabelSelector object {matchLabels, matchExpressions}.
  static std::optional<LabelSelector> from_json(const Json& selector, std::string* error);

  bool matches(const Json& labels) const;  // labels: object of string->string, or null
  bool matches(const std::map<std::string, std::string>& labels) const;
  bool empty() const { return reqs_.empty(); }
  const std::vector<Requirement>& requirements() const { return reqs_; }
  std::string to_string() const;

 private:
  std::vector<Requirement> reqs_;
};

class FieldSelector {
 public:
  struct Term {
    std::string field;  // "metadata.name", "spec.nodeName", ...
    bool equals;        // "=" / "==" vs "!="
    std::string value;
  };
  static std::optional<FieldSelector> parse(std::string_view text, std::string* error);
  // Matches against the object, resolving each field as a dotted path; an absent field
  // compares as "".
  bool matches(const Json& obj) const;
  // As above, asking `resolve` first for fields that are not plain paths (Kind::field_value).
  using Resolver = std::function<std::optional<std::string>(const Json&, std::string_view)>;
  bool matches(const Json& obj, const Resolver& resolve) const;
  const std::vector<Term>& terms() const { return terms_; }
  bool empty() const { return terms_.empty(); }

 private:
  std::vector<Term> terms_;
};

}  // namespace k8c::api
