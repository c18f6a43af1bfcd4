// Label and field selectors with the grammar, validation and error wording of apimachinery's
// labels and fields packages, so that clients see the messages a real API server gives.
#include "control/api/selector.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <set>
#include <utility>

namespace k8c::api {
namespace {

// ---------------------------------------------------------------------------------------------
// Validation of label keys and values. object.cpp will export the same checks; they live here
// for now so that selectors do not depend on a file still being written.

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool is_qualified_name_part(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool is_dns1123_label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_alnum(s.front()) || !lower_alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return lower_alnum(c) || c == '-'; });
}

bool is_dns1123_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  while (true) {
    size_t dot = s.find('.');
    if (!is_dns1123_label(s.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    s.remove_prefix(dot + 1);
  }
}

constexpr const char* kQualifiedNameFmt =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

// Returns the reasons a label key is invalid (empty when valid), worded as IsQualifiedName.
std::vector<std::string> qualified_name_errors(std::string_view key) {
  std::vector<std::string> errs;
  std::string_view name = key;
  size_t slash = key.find('/');
  if (slash != std::string_view::npos) {
    if (key.find('/', slash + 1) != std::string_view::npos) {
      errs.push_back(std::string("a qualified name ") + kQualifiedNameFmt +
                     " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
      return errs;
    }
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (prefix.empty()) {
      errs.push_back("prefix part must be non-empty");
    } else if (prefix.size() > 253) {
      errs.push_back("prefix part must be no more than 253 characters");
    } else if (!is_dns1123_subdomain(prefix)) {
      errs.push_back(
          "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
          "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
          "'example.com', regex used for validation is "
          "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
    }
  }
  if (name.empty()) {
    errs.push_back("name part must be non-empty");
  } else if (name.size() > 63) {
    errs.push_back("name part must be no more than 63 characters");
  } else if (!is_qualified_name_part(name)) {
    errs.push_back(std::string("name part ") + kQualifiedNameFmt);
  }
  return errs;
}

std::vector<std::string> label_value_errors(std::string_view v) {
  std::vector<std::string> errs;
  if (v.size() > 63) errs.push_back("must be no more than 63 characters");
  if (!v.empty() && !is_qualified_name_part(v))
    errs.push_back(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
        "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
        "'my_value',  or '12345', regex used for validation is "
        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
  return errs;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

bool validate_key(std::string_view key, std::string* err) {
  auto errs = qualified_name_errors(key);
  if (errs.empty()) return true;
  *err = "invalid label key " + quote(key) + ": " + join(errs, "; ");
  return false;
}

bool parse_int64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  const char* b = s.data();
  const char* e = s.data() + s.size();
  if (*b == '+') ++b;  // strconv.ParseInt accepts a leading sign
  auto [ptr, ec] = std::from_chars(b, e, *out);
  return ec == std::errc() && ptr == e && b != e;
}

// labels.NewRequirement: validates the key, the operator's arity and every value; sorts and
// de-duplicates the values as the set Kubernetes keeps them in.
bool make_requirement(std::string key, Requirement::Op op, std::vector<std::string> values,
                      Requirement* out, std::string* err) {
  using Op = Requirement::Op;
  if (!validate_key(key, err)) return false;
  switch (op) {
    case Op::in:
    case Op::not_in:
      if (values.empty()) {
        *err = "for 'in', 'notin' operators, values set can't be empty";
        return false;
      }
      break;
    case Op::equals:
    case Op::not_equals:
      if (values.size() != 1) {
        *err = "exact-match compatibility requires one single value";
        return false;
      }
      break;
    case Op::exists:
    case Op::does_not_exist:
      if (!values.empty()) {
        *err = "values set must be empty for exists and does not exist";
        return false;
      }
      break;
    case Op::gt:
    case Op::lt: {
      if (values.size() != 1) {
        *err = "for 'Gt', 'Lt' operators, exactly one value is required";
        return false;
      }
      int64_t ignored = 0;
      if (!parse_int64(values[0], &ignored)) {
        *err = "for 'Gt', 'Lt' operators, the value must be an integer";
        return false;
      }
      break;
    }
  }
  for (const auto& v : values) {
    auto errs = label_value_errors(v);
    if (!errs.empty()) {
      *err =
          "invalid label value: " + quote(v) + ": at key: " + quote(key) + ": " + join(errs, "; ");
      return false;
    }
  }
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  out->key = std::move(key);
  out->op = op;
  out->values = std::move(values);
  return true;
}

bool requirement_matches(const Requirement& r, const std::map<std::string, std::string>& labels) {
  using Op = Requirement::Op;
  auto it = labels.find(r.key);
  bool has = it != labels.end();
  auto in_values = [&] {
    return std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
  };
  switch (r.op) {
    case Op::equals:
    case Op::in:
      return has && in_values();
    case Op::not_equals:
    case Op::not_in:
      return !has || !in_values();
    case Op::exists:
      return has;
    case Op::does_not_exist:
      return !has;
    case Op::gt:
    case Op::lt: {
      int64_t have = 0, want = 0;
      if (!has || r.values.size() != 1 || !parse_int64(it->second, &have) ||
          !parse_int64(r.values[0], &want))
        return false;
      return r.op == Op::gt ? have > want : have < want;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Label selector lexer and parser (the grammar of labels.Parse).

enum class Tok {
  end,
  identifier,
  comma,
  not_exists,  // !
  equals,      // =
  double_eq,   // ==
  not_equals,  // !=
  in,
  not_in,
  open,   // (
  close,  // )
  gt,     // >
  lt,     // <
  error,
};

struct Item {
  Tok tok;
  std::string lit;
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
bool is_special(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

std::vector<Item> lex(std::string_view s) {
  std::vector<Item> items;
  size_t i = 0;
  while (true) {
    while (i < s.size() && is_space(s[i])) ++i;
    if (i >= s.size()) {
      items.push_back({Tok::end, ""});
      return items;
    }
    char c = s[i];
    if (is_special(c)) {
      // Longest special symbol: "==" and "!=" are the only two-character ones.
      if (i + 1 < s.size() && s[i + 1] == '=' && (c == '=' || c == '!')) {
        items.push_back({c == '=' ? Tok::double_eq : Tok::not_equals, std::string(s.substr(i, 2))});
        i += 2;
        continue;
      }
      Tok t = Tok::error;
      switch (c) {
        case '=':
          t = Tok::equals;
          break;
        case '!':
          t = Tok::not_exists;
          break;
        case '(':
          t = Tok::open;
          break;
        case ')':
          t = Tok::close;
          break;
        case ',':
          t = Tok::comma;
          break;
        case '>':
          t = Tok::gt;
          break;
        case '<':
          t = Tok::lt;
          break;
        default:
          break;
      }
      items.push_back({t, std::string(1, c)});
      ++i;
      continue;
    }
    size_t start = i;
    while (i < s.size() && !is_space(s[i]) && !is_special(s[i])) ++i;
    std::string word(s.substr(start, i - start));
    Tok t = word == "in" ? Tok::in : word == "notin" ? Tok::not_in : Tok::identifier;
    items.push_back({t, std::move(word)});
  }
}

class Parser {
 public:
  explicit Parser(std::string_view s) : items_(lex(s)) {}

  bool parse(std::vector<Requirement>* out, std::string* err) {
    while (true) {
      Tok t = peek_value().tok;
      if (t == Tok::end) return true;
      if (t != Tok::identifier && t != Tok::not_exists) {
        *err = "found '" + peek_value().lit + "', expected: !, identifier, or 'end of string'";
        return false;
      }
      Requirement r;
      if (!parse_requirement(&r, err)) {
        *err = "unable to parse requirement: " + *err;
        return false;
      }
      out->push_back(std::move(r));
      Item next = take_value();
      if (next.tok == Tok::end) return true;
      if (next.tok != Tok::comma) {
        *err = "found '" + next.lit + "', expected: ',' or 'end of string'";
        return false;
      }
      Tok after = peek_value().tok;
      if (after != Tok::identifier && after != Tok::not_exists) {
        *err = "found '" + peek_value().lit + "', expected: identifier after ','";
        return false;
      }
    }
  }

 private:
  // In value position the keywords "in" and "notin" are plain identifiers ("x in (in)").
  Item peek_value() const {
    Item it = items_[pos_];
    if (it.tok == Tok::in || it.tok == Tok::not_in) it.tok = Tok::identifier;
    return it;
  }
  Item take_value() {
    Item it = peek_value();
    if (pos_ + 1 < items_.size()) ++pos_;
    return it;
  }
  Item take_raw() {
    Item it = items_[pos_];
    if (pos_ + 1 < items_.size()) ++pos_;
    return it;
  }

  bool parse_requirement(Requirement* r, std::string* err) {
    using Op = Requirement::Op;
    bool negated = false;
    Item key = take_value();
    if (key.tok == Tok::not_exists) {
      negated = true;
      key = take_value();
    }
    if (key.tok != Tok::identifier) {
      *err = "found '" + key.lit + "', expected: identifier";
      return false;
    }
    if (!validate_key(key.lit, err)) return false;
    // "!key" is unary: whatever follows it is the caller's to reject.
    Tok after = peek_value().tok;
    if (negated) return make_requirement(key.lit, Op::does_not_exist, {}, r, err);
    if (after == Tok::end || after == Tok::comma)
      return make_requirement(key.lit, Op::exists, {}, r, err);
    Item op = take_raw();
    Op o;
    switch (op.tok) {
      case Tok::in:
        o = Op::in;
        break;
      case Tok::not_in:
        o = Op::not_in;
        break;
      case Tok::equals:
      case Tok::double_eq:
        o = Op::equals;
        break;
      case Tok::not_equals:
        o = Op::not_equals;
        break;
      case Tok::gt:
        o = Op::gt;
        break;
      case Tok::lt:
        o = Op::lt;
        break;
      default:
        *err = "found '" + op.lit + "', expected: in, notin, =, ==, !=, gt, lt";
        return false;
    }
    std::vector<std::string> values;
    if (o == Op::in || o == Op::not_in) {
      if (!parse_values(&values, err)) return false;
    } else if (!parse_exact_value(&values, err)) {
      return false;
    }
    return make_requirement(key.lit, o, std::move(values), r, err);
  }

  bool parse_values(std::vector<std::string>* values, std::string* err) {
    Item open = take_value();
    if (open.tok != Tok::open) {
      *err = "found '" + open.lit + "' expected: '('";
      return false;
    }
    Item first = peek_value();
    if (first.tok == Tok::close) {  // "()" is the set holding the empty value
      take_value();
      values->push_back("");
      return true;
    }
    if (first.tok != Tok::identifier && first.tok != Tok::comma) {
      *err = "found '" + first.lit + "', expected: ',', ')' or identifier";
      return false;
    }
    // A comma-separated list whose entries may be empty: "(a,,b)", "(,a)", "(a,)".
    bool expect_value = true;
    while (true) {
      Item it = take_value();
      if (it.tok == Tok::identifier && expect_value) {
        values->push_back(it.lit);
        expect_value = false;
      } else if (it.tok == Tok::comma) {
        if (expect_value) values->push_back("");
        expect_value = true;
      } else if (it.tok == Tok::close) {
        if (expect_value) values->push_back("");
        return true;
      } else {
        *err = expect_value ? "found '" + it.lit + "', expected: ',', or identifier"
                            : "found '" + it.lit + "', expected: ',' or ')'";
        return false;
      }
    }
  }

  bool parse_exact_value(std::vector<std::string>* values, std::string* err) {
    Item v = peek_value();
    if (v.tok == Tok::end || v.tok == Tok::comma) {  // "k=" selects the empty value
      values->push_back("");
      return true;
    }
    take_value();
    if (v.tok != Tok::identifier) {
      *err = "found '" + v.lit + "', expected: identifier";
      return false;
    }
    values->push_back(v.lit);
    return true;
  }

  std::vector<Item> items_;
  size_t pos_ = 0;
};

void sort_by_key(std::vector<Requirement>* reqs) {
  std::stable_sort(reqs->begin(), reqs->end(),
                   [](const Requirement& a, const Requirement& b) { return a.key < b.key; });
}

std::map<std::string, std::string> labels_from_json(const Json& labels) {
  std::map<std::string, std::string> out;
  if (!labels.is_object()) return out;
  for (auto it = labels.begin(); it != labels.end(); ++it)
    out.emplace(it.key(), it->is_string() ? it->get<std::string>() : it->dump());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Field selectors (fields.ParseSelector).

// Splits on commas that are not escaped by a backslash; escapes stay in the terms.
std::vector<std::string> split_terms(std::string_view s) {
  std::vector<std::string> terms;
  std::string cur;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      cur += s[i];
      cur += s[++i];
    } else if (s[i] == ',') {
      terms.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += s[i];
    }
  }
  terms.push_back(std::move(cur));
  return terms;
}

// fields.UnescapeValue. '!' is accepted escaped too, since clients escape it defensively.
bool unescape_value(std::string_view s, std::string* out, std::string* err) {
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') {
      if (i + 1 >= s.size()) {
        *err = "invalid field selector: invalid escape sequence: \\";
        return false;
      }
      char n = s[++i];
      if (n != '\\' && n != ',' && n != '=' && n != '!') {
        *err = std::string("invalid field selector: invalid escape sequence: \\") + n;
        return false;
      }
      *out += n;
    } else if (c == ',' || c == '=') {
      *err = std::string("invalid field selector: unescaped character in value: ") + c;
      return false;
    } else {
      *out += c;
    }
  }
  return true;
}

std::string field_value(const Json& obj, std::string_view path) {
  const Json* cur = &obj;
  while (true) {
    size_t dot = path.find('.');
    std::string_view part = path.substr(0, dot);
    if (!cur->is_object()) return "";
    auto it = cur->find(part);
    if (it == cur->end()) return "";
    cur = &*it;
    if (dot == std::string_view::npos) break;
    path.remove_prefix(dot + 1);
  }
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_null()) return "";
  return cur->dump();
}

}  // namespace

std::optional<LabelSelector> LabelSelector::parse(std::string_view text, std::string* error) {
  std::string err;
  LabelSelector sel;
  try {
    Parser p(text);
    if (!p.parse(&sel.reqs_, &err)) {
      if (error) *error = err;
      return std::nullopt;
    }
  } catch (const std::exception& e) {
    if (error) *error = std::string("unable to parse selector: ") + e.what();
    return std::nullopt;
  }
  sort_by_key(&sel.reqs_);
  return sel;
}

std::optional<LabelSelector> LabelSelector::from_json(const Json& selector, std::string* error) {
  using Op = Requirement::Op;
  auto fail = [error](std::string msg) -> std::optional<LabelSelector> {
    if (error) *error = std::move(msg);
    return std::nullopt;
  };
  LabelSelector sel;
  if (selector.is_null()) return sel;
  if (!selector.is_object()) return fail("label selector must be an object");
  try {
    std::string err;
    if (auto ml = selector.find("matchLabels"); ml != selector.end() && !ml->is_null()) {
      if (!ml->is_object()) return fail("matchLabels must be an object of strings");
      for (auto it = ml->begin(); it != ml->end(); ++it) {
        if (!it->is_string()) return fail("matchLabels." + it.key() + " must be a string");
        Requirement r;
        if (!make_requirement(it.key(), Op::equals, {it->get<std::string>()}, &r, &err))
          return fail(err);
        sel.reqs_.push_back(std::move(r));
      }
    }
    if (auto me = selector.find("matchExpressions"); me != selector.end() && !me->is_null()) {
      if (!me->is_array()) return fail("matchExpressions must be a list");
      for (const auto& expr : *me) {
        if (!expr.is_object()) return fail("matchExpressions entries must be objects");
        auto key = expr.find("key");
        if (key == expr.end() || !key->is_string())
          return fail("matchExpressions entries need a string key");
        auto op = expr.find("operator");
        std::string op_name = op != expr.end() && op->is_string() ? op->get<std::string>() : "";
        Op o;
        if (op_name == "In") {
          o = Op::in;
        } else if (op_name == "NotIn") {
          o = Op::not_in;
        } else if (op_name == "Exists") {
          o = Op::exists;
        } else if (op_name == "DoesNotExist") {
          o = Op::does_not_exist;
        } else {
          return fail(quote(op_name) + " is not a valid label selector operator");
        }
        std::vector<std::string> values;
        if (auto vs = expr.find("values"); vs != expr.end() && !vs->is_null()) {
          if (!vs->is_array()) return fail("matchExpressions values must be a list of strings");
          for (const auto& v : *vs) {
            if (!v.is_string()) return fail("matchExpressions values must be a list of strings");
            values.push_back(v.get<std::string>());
          }
        }
        Requirement r;
        if (!make_requirement(key->get<std::string>(), o, std::move(values), &r, &err))
          return fail(err);
        sel.reqs_.push_back(std::move(r));
      }
    }
  } catch (const std::exception& e) {
    return fail(std::string("invalid label selector: ") + e.what());
  }
  sort_by_key(&sel.reqs_);
  return sel;
}

bool LabelSelector::matches(const Json& labels) const {
  if (reqs_.empty()) return true;
  return matches(labels_from_json(labels));
}

bool LabelSelector::matches(const std::map<std::string, std::string>& labels) const {
  return std::all_of(reqs_.begin(), reqs_.end(),
                     [&](const Requirement& r) { return requirement_matches(r, labels); });
}

std::string LabelSelector::to_string() const {
  using Op = Requirement::Op;
  std::vector<std::string> parts;
  for (const auto& r : reqs_) {
    std::string s;
    switch (r.op) {
      case Op::exists:
        s = r.key;
        break;
      case Op::does_not_exist:
        s = "!" + r.key;
        break;
      case Op::equals:
        s = r.key + "=" + (r.values.empty() ? "" : r.values[0]);
        break;
      case Op::not_equals:
        s = r.key + "!=" + (r.values.empty() ? "" : r.values[0]);
        break;
      case Op::gt:
        s = r.key + ">" + (r.values.empty() ? "" : r.values[0]);
        break;
      case Op::lt:
        s = r.key + "<" + (r.values.empty() ? "" : r.values[0]);
        break;
      case Op::in:
        s = r.key + " in (" + join(r.values, ",") + ")";
        break;
      case Op::not_in:
        s = r.key + " notin (" + join(r.values, ",") + ")";
        break;
    }
    parts.push_back(std::move(s));
  }
  return join(parts, ",");
}

std::optional<FieldSelector> FieldSelector::parse(std::string_view text, std::string* error) {
  FieldSelector sel;
  try {
    for (const auto& term : split_terms(text)) {
      if (term.empty()) continue;
      // The first operator wins; "!=" and "==" are tried before "=" at each position.
      size_t pos = std::string::npos, len = 0;
      bool equals = true;
      for (size_t i = 0; i < term.size() && pos == std::string::npos; ++i) {
        if (term.compare(i, 2, "!=") == 0) {
          pos = i, len = 2, equals = false;
        } else if (term.compare(i, 2, "==") == 0) {
          pos = i, len = 2;
        } else if (term[i] == '=') {
          pos = i, len = 1;
        }
      }
      if (pos == std::string::npos) {
        if (error)
          *error = "invalid selector: '" + std::string(text) + "'; can't understand '" + term + "'";
        return std::nullopt;
      }
      Term t;
      t.field = term.substr(0, pos);
      while (!t.field.empty() && is_space(t.field.back())) t.field.pop_back();
      while (!t.field.empty() && is_space(t.field.front())) t.field.erase(0, 1);
      t.equals = equals;
      std::string err;
      if (!unescape_value(std::string_view(term).substr(pos + len), &t.value, &err)) {
        if (error) *error = err;
        return std::nullopt;
      }
      sel.terms_.push_back(std::move(t));
    }
  } catch (const std::exception& e) {
    if (error) *error = std::string("invalid field selector: ") + e.what();
    return std::nullopt;
  }
  return sel;
}

bool FieldSelector::matches(const Json& obj) const { return matches(obj, nullptr); }

bool FieldSelector::matches(const Json& obj, const Resolver& resolve) const {
  return std::all_of(terms_.begin(), terms_.end(), [&](const Term& t) {
    std::optional<std::string> v;
    if (resolve) v = resolve(obj, t.field);
    return ((v ? *v : field_value(obj, t.field)) == t.value) == t.equals;
  });
}

}  // namespace k8c::api
