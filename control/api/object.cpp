// Schema-driven defaulting, pruning and validation. Messages and field paths follow
// k8s.io/apimachinery's field.Error so that kubectl users see what a real apiserver prints.
#include "control/api/object.h"

#include <arpa/inet.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

namespace k8c::api {

namespace {

std::string child(const std::string& path, std::string_view name) {
  if (path.empty()) return std::string(name);
  std::string out = path;
  out += '.';
  out += name;
  return out;
}

std::string index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string key(const std::string& path, std::string_view k) {
  return path + "[" + std::string(k) + "]";
}

// Go's %q for the strings that reach error messages: JSON escaping is the same for
// everything but non-ASCII, which Go keeps as is, as nlohmann does.
std::string quote(std::string_view s) {
  return Json(std::string(s)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

// How field.Error.ErrorBody prints a bad value: strings quoted, numbers and booleans bare.
std::string show(const Json& v) {
  if (v.is_string()) return quote(v.get_ref<const std::string&>());
  if (v.is_null()) return "\"null\"";
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void add(FieldErrors& errs, FieldError::Kind k, std::string field, std::string message,
         Json value = nullptr) {
  errs.push_back(FieldError{k, std::move(field), std::move(message), std::move(value)});
}

void required(FieldErrors& errs, std::string field, std::string_view detail = {}) {
  std::string msg = "Required value";
  if (!detail.empty()) msg += ": " + std::string(detail);
  add(errs, FieldError::Kind::required, std::move(field), std::move(msg));
}

void invalid(FieldErrors& errs, std::string field, const Json& value, std::string_view detail) {
  std::string msg = "Invalid value: " + show(value);
  if (!detail.empty()) msg += ": " + std::string(detail);
  add(errs, FieldError::Kind::invalid, std::move(field), std::move(msg), value);
}

void too_long(FieldErrors& errs, std::string field, const Json& value, size_t max) {
  add(errs, FieldError::Kind::too_long, std::move(field),
      "Too long: may not be more than " + std::to_string(max) + " bytes", value);
}

// ---- name grammars (k8s.io/apimachinery/pkg/util/validation) ----

bool lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])? without the length limit.
bool label_shape(std::string_view s) {
  if (s.empty() || !lower_alnum(s.front()) || !lower_alnum(s.back())) return false;
  for (char c : s)
    if (!lower_alnum(c) && c != '-') return false;
  return true;
}

bool subdomain_shape(std::string_view s) {
  if (s.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (!label_shape(part)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool qualified_shape(std::string_view s) {
  if (s.empty() || !alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s)
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

std::string regex_error(std::string_view msg, std::string_view fmt,
                        std::initializer_list<std::string_view> examples) {
  std::string s(msg);
  s += " (e.g. ";
  bool first = true;
  for (auto ex : examples) {
    if (!first) s += " or ";
    first = false;
    s.append("'").append(ex).append("', ");
  }
  s.append("regex used for validation is '").append(fmt).append("')");
  return s;
}

std::string max_len_error(size_t n) {
  return "must be no more than " + std::to_string(n) + " characters";
}

constexpr std::string_view kLabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
constexpr std::string_view kLabelMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character";
constexpr std::string_view kSubdomainFmt =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
constexpr std::string_view kSubdomainMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character";
constexpr std::string_view k1035Fmt = "[a-z]([-a-z0-9]*[a-z0-9])?";
constexpr std::string_view k1035Msg =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character";
constexpr std::string_view kQualifiedFmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
constexpr std::string_view kQualifiedMsg =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character";
constexpr std::string_view kLabelValueFmt = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
constexpr std::string_view kLabelValueMsg =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character";

std::vector<std::string> dns1123_label_errors(std::string_view s) {
  std::vector<std::string> out;
  if (s.size() > 63) out.push_back(max_len_error(63));
  if (!label_shape(s)) {
    if (subdomain_shape(s))
      out.push_back("must not contain dots");
    else
      out.push_back(regex_error(kLabelMsg, kLabelFmt, {"my-name", "123-abc"}));
  }
  return out;
}

std::vector<std::string> dns1123_subdomain_errors(std::string_view s) {
  std::vector<std::string> out;
  if (s.size() > 253) out.push_back(max_len_error(253));
  if (!subdomain_shape(s))
    out.push_back(regex_error(kSubdomainMsg, kSubdomainFmt, {"example.com"}));
  return out;
}

std::vector<std::string> rfc1035_label_errors(std::string_view s) {
  std::vector<std::string> out;
  if (s.size() > 63) out.push_back(max_len_error(63));
  if (!label_shape(s) || !(s.front() >= 'a' && s.front() <= 'z'))
    out.push_back(regex_error(k1035Msg, k1035Fmt, {"my-name", "abc-123"}));
  return out;
}

std::vector<std::string> qualified_name_errors(std::string_view s) {
  std::vector<std::string> out;
  std::string_view name = s;
  size_t slash = s.find('/');
  if (slash != std::string_view::npos) {
    if (s.find('/', slash + 1) != std::string_view::npos) {
      out.push_back("a qualified name " +
                    regex_error(kQualifiedMsg, kQualifiedFmt, {"MyName", "my.name", "123-abc"}) +
                    " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
      return out;
    }
    std::string_view prefix = s.substr(0, slash);
    name = s.substr(slash + 1);
    if (prefix.empty())
      out.push_back("prefix part must be non-empty");
    else
      for (auto& m : dns1123_subdomain_errors(prefix)) out.push_back("prefix part " + m);
  }
  if (name.empty())
    out.push_back("name part must be non-empty");
  else if (name.size() > 63)
    out.push_back("name part " + max_len_error(63));
  if (!qualified_shape(name))
    out.push_back("name part " +
                  regex_error(kQualifiedMsg, kQualifiedFmt, {"MyName", "my.name", "123-abc"}));
  return out;
}

std::vector<std::string> label_value_errors(std::string_view s) {
  std::vector<std::string> out;
  if (s.size() > 63) out.push_back(max_len_error(63));
  if (!s.empty() && !qualified_shape(s))
    out.push_back(regex_error(kLabelValueMsg, kLabelValueFmt, {"MyValue", "my_value", "12345"}));
  return out;
}

// IANA service names, as IsValidPortName checks them (named container ports, targetPort).
std::vector<std::string> port_name_errors(std::string_view s) {
  std::vector<std::string> out;
  if (s.size() > 15) out.push_back(max_len_error(15));
  bool letter = false, ok = !s.empty();
  for (char c : s) {
    if (c >= 'a' && c <= 'z') letter = true;
    if (!(lower_alnum(c) || c == '-')) ok = false;
  }
  if (!ok) out.push_back("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  if (!letter) out.push_back("must contain at least one letter (a-z)");
  if (s.find("--") != std::string_view::npos)
    out.push_back("must not contain consecutive hyphens (-)");
  if (!s.empty() && (s.front() == '-' || s.back() == '-'))
    out.push_back("must not begin or end with a hyphen (-)");
  return out;
}

// ---- other formats ----

bool digits(std::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return false;
  for (size_t i = pos; i < pos + n; ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

// RFC 3339 date-time, as time.RFC3339 accepts it: 2006-01-02T15:04:05[.frac](Z|±07:00).
bool is_rfc3339(std::string_view s) {
  if (s.size() < 20 || !digits(s, 0, 4) || s[4] != '-' || !digits(s, 5, 2) || s[7] != '-' ||
      !digits(s, 8, 2) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2) || s[13] != ':' ||
      !digits(s, 14, 2) || s[16] != ':' || !digits(s, 17, 2))
    return false;
  auto num = [&](size_t p) { return (s[p] - '0') * 10 + (s[p + 1] - '0'); };
  if (num(5) < 1 || num(5) > 12 || num(8) < 1 || num(8) > 31 || num(11) > 23 || num(14) > 59 ||
      num(17) > 60)
    return false;
  size_t p = 19;
  if (p < s.size() && s[p] == '.') {
    size_t q = ++p;
    while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) ++p;
    if (p == q) return false;
  }
  if (p < s.size() && (s[p] == 'Z' || s[p] == 'z')) return p + 1 == s.size();
  if (p < s.size() && (s[p] == '+' || s[p] == '-'))
    return p + 6 == s.size() && digits(s, p + 1, 2) && s[p + 3] == ':' && digits(s, p + 4, 2);
  return false;
}

bool is_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// Returns the offset of the first byte Go's base64.StdEncoding rejects, or -1 when valid.
long base64_error_at(std::string_view s) {
  size_t pad = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/';
    if (c == '=') {
      // Padding may only close the final quantum.
      if (i % 4 < 2) return static_cast<long>(i);
      ++pad;
      continue;
    }
    if (!ok || pad > 0) return static_cast<long>(i);
  }
  if (s.size() % 4 != 0) return static_cast<long>(s.size() / 4 * 4);
  return -1;
}

// The quantity grammar of k8s.io/apimachinery/pkg/api/resource:
// [+-]? (digits | digits. | digits.digits | .digits) (binarySI | decimalSI | [eE][+-]?digits)
bool is_quantity(std::string_view s) {
  size_t p = 0;
  if (p < s.size() && (s[p] == '+' || s[p] == '-')) ++p;
  size_t int_start = p;
  while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) ++p;
  size_t int_digits = p - int_start, frac_digits = 0;
  if (p < s.size() && s[p] == '.') {
    size_t q = ++p;
    while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) ++p;
    frac_digits = p - q;
  }
  if (int_digits + frac_digits == 0) return false;
  std::string_view suffix = s.substr(p);
  if (suffix.empty()) return true;
  static constexpr std::string_view kSuffixes[] = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u",
                                                   "m",  "k",  "M",  "G",  "T",  "P",  "E"};
  for (auto sfx : kSuffixes)
    if (suffix == sfx) return true;
  if (suffix[0] == 'e' || suffix[0] == 'E') {
    size_t q = 1;
    if (q < suffix.size() && (suffix[q] == '+' || suffix[q] == '-')) ++q;
    if (q == suffix.size()) return false;
    for (; q < suffix.size(); ++q)
      if (!std::isdigit(static_cast<unsigned char>(suffix[q]))) return false;
    return true;
  }
  return false;
}

// ---- cron, with the rules and messages of github.com/robfig/cron/v3 ParseStandard ----

struct CronField {
  int min, max;
  const char* const* names;  // three-letter names, index = value - min (nullptr: none)
};
constexpr const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                   "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    out.emplace_back(s.substr(start, p == std::string_view::npos ? s.npos : p - start));
    if (p == std::string_view::npos) return out;
    start = p + 1;
  }
}

bool cron_int(const std::string& s, int* out, std::string* err) {
  if (s.empty() || s.size() > 9) {
    *err = "failed to parse int from " + s + ": strconv.Atoi: parsing " + quote(s) +
           ": invalid syntax";
    return false;
  }
  bool neg = s[0] == '-';
  int v = 0;
  for (size_t i = neg ? 1 : 0; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i])) || (neg && s.size() == 1)) {
      *err = "failed to parse int from " + s + ": strconv.Atoi: parsing " + quote(s) +
             ": invalid syntax";
      return false;
    }
    v = v * 10 + (s[i] - '0');
  }
  if (neg) {
    *err = "negative number (-" + std::to_string(v) + ") not allowed: " + s;
    return false;
  }
  *out = v;
  return true;
}

bool cron_value(const std::string& s, const CronField& f, int* out, std::string* err) {
  if (f.names) {
    std::string lower;
    for (char c : s) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (int i = 0; i <= f.max - f.min; ++i)
      if (lower == f.names[i]) {
        *out = f.min + i;
        return true;
      }
  }
  return cron_int(s, out, err);
}

bool cron_range(const std::string& expr, const CronField& f, std::string* err) {
  auto range_and_step = split(expr, '/');
  auto low_high = split(range_and_step[0], '-');
  int start = 0, end = 0, step = 1;
  bool star = low_high[0] == "*" || low_high[0] == "?";
  if (star) {
    start = f.min;
    end = f.max;
  } else {
    if (!cron_value(low_high[0], f, &start, err)) return false;
    if (low_high.size() == 1) {
      end = start;
    } else if (low_high.size() == 2) {
      if (!cron_value(low_high[1], f, &end, err)) return false;
    } else {
      *err = "too many hyphens: " + expr;
      return false;
    }
  }
  if (range_and_step.size() == 2) {
    if (!cron_int(range_and_step[1], &step, err)) return false;
    // "N/step" means N through the maximum.
    if (!star && low_high.size() == 1) end = f.max;
  } else if (range_and_step.size() > 2) {
    *err = "too many slashes: " + expr;
    return false;
  }
  if (start < f.min) {
    *err = "beginning of range (" + std::to_string(start) + ") below minimum (" +
           std::to_string(f.min) + "): " + expr;
    return false;
  }
  if (end > f.max) {
    *err = "end of range (" + std::to_string(end) + ") above maximum (" + std::to_string(f.max) +
           "): " + expr;
    return false;
  }
  if (start > end) {
    *err = "beginning of range (" + std::to_string(start) + ") beyond end of range (" +
           std::to_string(end) + "): " + expr;
    return false;
  }
  if (step == 0) {
    *err = "step of range should be a positive number: " + expr;
    return false;
  }
  return true;
}

// Returns "" when the schedule is valid, else robfig/cron's message.
std::string cron_error(std::string_view spec) {
  std::vector<std::string> fields;
  {
    std::string cur;
    for (char c : spec) {
      if (std::isspace(static_cast<unsigned char>(c))) {
        if (!cur.empty()) fields.push_back(std::move(cur));
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (!cur.empty()) fields.push_back(std::move(cur));
  }
  if (fields.empty()) return "empty spec string";
  if (fields[0].rfind("TZ=", 0) == 0 || fields[0].rfind("CRON_TZ=", 0) == 0)
    return "";  // a time zone prefix parses; the CronJob rules decide whether it is allowed
  if (fields[0][0] == '@') {
    static constexpr std::string_view kDescriptors[] = {
        "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"};
    for (auto d : kDescriptors)
      if (fields[0] == d && fields.size() == 1) return "";
    if (fields[0] == "@every" && fields.size() == 2) return "";
    return "unrecognized descriptor: " + std::string(spec);
  }
  if (fields.size() != 5) {
    std::string list = "[";
    for (size_t i = 0; i < fields.size(); ++i) list += (i ? " " : "") + fields[i];
    return "expected exactly 5 fields, found " + std::to_string(fields.size()) + ": " + list + "]";
  }
  const CronField spec_fields[] = {
      {0, 59, nullptr}, {0, 23, nullptr}, {1, 31, nullptr}, {1, 12, kMonths}, {0, 6, kDays}};
  for (size_t i = 0; i < 5; ++i)
    for (const auto& part : split(fields[i], ',')) {
      std::string err;
      if (!cron_range(part, spec_fields[i], &err)) return err;
    }
  return "";
}

// ---- schema walk ----

const char* json_type(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "object";
    case Json::value_t::array:
      return "array";
    case Json::value_t::string:
      return "string";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "integer";
    default:
      return "number";
  }
}

bool is_integral(const Json& v) {
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  double d = v.get<double>();
  // JSON has one number type; 3.0 is an integer to Kubernetes' structural schemas too.
  return std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.2e18;
}

void type_error(FieldErrors& errs, const std::string& path, const Json& value,
                std::string_view expected) {
  // The wording of CRD structural validation, the only place a real apiserver reports a
  // type mismatch as a field error.
  std::string actual = json_type(value);
  invalid(errs, path, actual,
          (path.empty() ? std::string("body") : path) + " in body must be of type " +
              std::string(expected) + ": " + quote(actual));
}

void check_bounds(const Schema& s, const Json& value, const std::string& path, FieldErrors& errs) {
  if (!value.is_number()) return;
  double d = value.get<double>();
  if (s.minimum && d < static_cast<double>(*s.minimum))
    invalid(errs, path, value, "must be greater than or equal to " + std::to_string(*s.minimum));
  if (s.maximum && d > static_cast<double>(*s.maximum))
    invalid(errs, path, value, "must be less than or equal to " + std::to_string(*s.maximum));
}

void check_port_number(const Json& value, const std::string& path, FieldErrors& errs) {
  double d = value.get<double>();
  if (d < 1 || d > 65535) invalid(errs, path, value, "must be between 1 and 65535, inclusive");
}

void check_string_format(const Schema& s, const std::string& v, const std::string& path,
                         FieldErrors& errs) {
  std::vector<std::string> msgs;
  switch (s.format) {
    case Format::none:
      break;
    case Format::dns1123_label:
      msgs = dns1123_label_errors(v);
      break;
    case Format::dns1123_subdomain:
      msgs = dns1123_subdomain_errors(v);
      break;
    case Format::rfc1035_label:
      msgs = rfc1035_label_errors(v);
      break;
    case Format::label_key:
      msgs = qualified_name_errors(v);
      break;
    case Format::label_value:
      msgs = label_value_errors(v);
      break;
    case Format::port:
      msgs = port_name_errors(v);
      break;
    case Format::date_time:
      if (!is_rfc3339(v))
        msgs.push_back((path.empty() ? std::string("body") : path) +
                       " in body must be of type date-time: " + quote(v));
      break;
    case Format::ip:
      if (!is_ip(v))
        msgs.push_back("must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");
      break;
    case Format::base64:
      if (long at = base64_error_at(v); at >= 0)
        msgs.push_back("illegal base64 data at input byte " + std::to_string(at));
      break;
    case Format::cron:
      if (auto e = cron_error(v); !e.empty()) msgs.push_back(std::move(e));
      break;
  }
  for (auto& m : msgs) invalid(errs, path, v, m);
}

void check_enum(const Schema& s, const Json& value, const std::string& path, FieldErrors& errs) {
  if (s.enum_values.empty() || !value.is_string()) return;
  const auto& v = value.get_ref<const std::string&>();
  for (const auto& e : s.enum_values)
    if (e == v) return;
  std::string detail = "supported values: ";
  for (size_t i = 0; i < s.enum_values.size(); ++i)
    detail += (i ? ", " : "") + quote(s.enum_values[i]);
  add(errs, FieldError::Kind::not_supported, path,
      "Unsupported value: " + show(value) + ": " + detail, value);
}

void immutable_walk(const Schema& s, const Json& now, const Json& old, const std::string& path,
                    FieldErrors& errs) {
  if (s.immutable) {
    if (now != old) invalid(errs, path, now, "field is immutable");
    return;  // one error per immutable subtree, as ValidateImmutableField reports it
  }
  switch (s.type) {
    case Type::object:
      if (!now.is_object() || !old.is_object()) return;
      for (const auto& [name, sub] : s.properties) {
        if (!sub) continue;
        auto a = now.find(name);
        auto b = old.find(name);
        const Json& av = a == now.end() ? Json() : *a;
        const Json& bv = b == old.end() ? Json() : *b;
        if (sub->immutable)
          immutable_walk(*sub, av, bv, child(path, name), errs);
        else if (a != now.end() && b != old.end())
          immutable_walk(*sub, *a, *b, child(path, name), errs);
      }
      break;
    case Type::map:
      if (!s.items || !now.is_object() || !old.is_object()) return;
      for (auto it = now.begin(); it != now.end(); ++it)
        if (auto o = old.find(it.key()); o != old.end())
          immutable_walk(*s.items, it.value(), *o, key(path, it.key()), errs);
      break;
    case Type::array:
      if (!s.items || !now.is_array() || !old.is_array()) return;
      for (size_t i = 0; i < now.size() && i < old.size(); ++i)
        immutable_walk(*s.items, now[i], old[i], index(path, i), errs);
      break;
    default:
      break;
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void validate_metadata(const Kind& kind, const Json& obj, const Json* old, FieldErrors& errs) {
  static const Json kEmpty = Json::object();
  const Json* md = find_path(obj, {"metadata"});
  if (md && !md->is_object()) return;  // the schema walk already reported the type
  if (!md) md = &kEmpty;
  std::string name = get_string(*md, {"name"});
  std::string generate = get_string(*md, {"generateName"});
  if (!generate.empty()) {
    // A prefix may end in '-': the generated suffix makes the whole a valid name.
    std::string_view prefix = generate;
    if (prefix.size() > 1 && prefix.back() == '-') prefix.remove_suffix(1);
    for (auto& m : dns1123_subdomain_errors(prefix))
      invalid(errs, "metadata.generateName", generate, m);
  }
  if (name.empty()) {
    if (generate.empty()) required(errs, "metadata.name", "name or generateName is required");
  } else {
    for (auto& m : dns1123_subdomain_errors(name)) invalid(errs, "metadata.name", name, m);
  }

  std::string ns = get_string(*md, {"namespace"});
  if (kind.namespaced) {
    if (ns.empty())
      required(errs, "metadata.namespace");
    else
      for (auto& m : dns1123_label_errors(ns)) invalid(errs, "metadata.namespace", ns, m);
  } else if (!ns.empty()) {
    add(errs, FieldError::Kind::forbidden, "metadata.namespace",
        "Forbidden: not allowed on this type");
  }

  if (const Json* labels = find_path(*md, {"labels"}); labels && labels->is_object()) {
    for (auto it = labels->begin(); it != labels->end(); ++it) {
      for (auto& m : qualified_name_errors(it.key())) invalid(errs, "metadata.labels", it.key(), m);
      if (it.value().is_string())
        for (auto& m : label_value_errors(it.value().get_ref<const std::string&>()))
          invalid(errs, "metadata.labels", it.value(), m);
    }
  }
  if (const Json* ann = find_path(*md, {"annotations"}); ann && ann->is_object()) {
    size_t total = 0;
    for (auto it = ann->begin(); it != ann->end(); ++it) {
      // Annotation keys are case-insensitive qualified names.
      for (auto& m : qualified_name_errors(lower(it.key())))
        invalid(errs, "metadata.annotations", it.key(), m);
      total += it.key().size();
      if (it.value().is_string()) total += it.value().get_ref<const std::string&>().size();
    }
    constexpr size_t kTotalAnnotationSize = 256 * 1024;
    if (total > kTotalAnnotationSize)
      too_long(errs, "metadata.annotations", "", kTotalAnnotationSize);
  }

  if (old) {
    const Json* omd = find_path(*old, {"metadata"});
    if (omd && omd->is_object()) {
      for (std::string_view f : {"name", "namespace", "uid", "creationTimestamp"}) {
        std::string before = get_string(*omd, {f});
        std::string after = get_string(*md, {f});
        // The apiserver fills an absent uid or creationTimestamp from the stored object, so
        // only a different value is a change for those two.
        bool system = f == "uid" || f == "creationTimestamp";
        if (before != after && (!system || (!before.empty() && !after.empty())))
          invalid(errs, "metadata." + std::string(f), after, "field is immutable");
      }
    }
  }
}

}  // namespace

// ---- public API ----

bool is_dns1123_label(std::string_view s) {
  return s.size() <= 63 && label_shape(s);
}
bool is_dns1123_subdomain(std::string_view s) {
  return s.size() <= 253 && subdomain_shape(s);
}
bool is_rfc1035_label(std::string_view s) {
  return is_dns1123_label(s) && s.front() >= 'a' && s.front() <= 'z';
}
bool is_qualified_name(std::string_view s) {
  return qualified_name_errors(s).empty();
}
bool is_label_value(std::string_view s) {
  return label_value_errors(s).empty();
}

void apply_schema_defaults(const Schema& schema, Json& value) {
  switch (schema.type) {
    case Type::object:
      if (!value.is_object()) return;
      for (const auto& [name, sub] : schema.properties) {
        if (!sub) continue;
        // A scalar field without a default has nothing to default, present or not: skip the
        // lookup, which most fields of most kinds are.
        bool nested =
            sub->type == Type::object || sub->type == Type::map || sub->type == Type::array;
        if (!nested && !sub->default_value) continue;
        auto it = value.find(name);
        // A null field counts as absent, as in structural defaulting.
        if ((it == value.end() || it->is_null()) && sub->default_value) {
          Json& slot = value[name];
          slot = *sub->default_value;
          apply_schema_defaults(*sub, slot);
        } else if (it != value.end()) {
          apply_schema_defaults(*sub, *it);
        }
      }
      break;
    case Type::map:
      if (!schema.items || !value.is_object()) return;
      for (auto& v : value) apply_schema_defaults(*schema.items, v);
      break;
    case Type::array:
      if (!schema.items || !value.is_array()) return;
      for (auto& v : value) apply_schema_defaults(*schema.items, v);
      break;
    default:
      break;
  }
}

void apply_defaults(const Kind& kind, Json& obj) {
  if (kind.schema) apply_schema_defaults(*kind.schema, obj);
  if (!kind.defaults) return;
  try {
    kind.defaults(obj);
  } catch (const std::exception&) {
    // A hook that trips over a malformed object leaves it for validation to reject.
  }
}

namespace {

// A field path that is spelled out only when an error needs it: validation visits every field
// of every object written, and almost all of them are fine.
struct LazyPath {
  enum class Step { root, field, key, index };
  const LazyPath* parent = nullptr;
  Step step = Step::root;
  std::string_view text;  // root: the whole path; field and key: the name
  size_t i = 0;           // index

  std::string str() const {
    switch (step) {
      case Step::root:
        return std::string(text);
      case Step::field:
        return child(parent->str(), text);
      case Step::key:
        return key(parent->str(), text);
      case Step::index:
        return index(parent->str(), i);
    }
    return std::string(text);
  }
};

void validate_walk(const Schema& schema, const Json& value, const LazyPath& path,
                   FieldErrors& errs) {
  if (value.is_null()) return;  // null decodes as the zero value: same as absent
  switch (schema.type) {
    case Type::any:
      return;
    case Type::object: {
      if (!value.is_object()) return type_error(errs, path.str(), value, "object");
      for (const auto& r : schema.required) {
        auto it = value.find(r);
        if (it == value.end() || it->is_null()) required(errs, child(path.str(), r));
      }
      for (const auto& [name, sub] : schema.properties) {
        if (!sub || sub->type == Type::any) continue;  // free-form: nothing to check
        if (auto it = value.find(name); it != value.end())
          validate_walk(*sub, *it, LazyPath{&path, LazyPath::Step::field, name}, errs);
      }
      return;
    }
    case Type::map:
      if (!value.is_object()) return type_error(errs, path.str(), value, "object");
      if (schema.items)
        for (auto it = value.begin(); it != value.end(); ++it)
          validate_walk(*schema.items, it.value(), LazyPath{&path, LazyPath::Step::key, it.key()},
                        errs);
      return;
    case Type::array:
      if (!value.is_array()) return type_error(errs, path.str(), value, "array");
      if (schema.max_length && value.size() > *schema.max_length) {
        add(errs, FieldError::Kind::too_long, path.str(),
            "Too many: " + std::to_string(value.size()) + ": must have at most " +
                std::to_string(*schema.max_length) + " items",
            value.size());
      }
      if (schema.items)
        for (size_t i = 0; i < value.size(); ++i)
          validate_walk(*schema.items, value[i], LazyPath{&path, LazyPath::Step::index, {}, i},
                        errs);
      return;
    case Type::string: {
      if (!value.is_string()) return type_error(errs, path.str(), value, "string");
      const auto& v = value.get_ref<const std::string&>();
      if (schema.max_length && v.size() > *schema.max_length)
        too_long(errs, path.str(), value, *schema.max_length);
      if (!schema.enum_values.empty()) check_enum(schema, value, path.str(), errs);
      if (schema.format != Format::none) check_string_format(schema, v, path.str(), errs);
      return;
    }
    case Type::integer:
      if (!is_integral(value)) return type_error(errs, path.str(), value, "integer");
      if (schema.minimum || schema.maximum) check_bounds(schema, value, path.str(), errs);
      if (schema.format == Format::port) check_port_number(value, path.str(), errs);
      return;
    case Type::number:
      if (!value.is_number()) return type_error(errs, path.str(), value, "number");
      if (schema.minimum || schema.maximum) check_bounds(schema, value, path.str(), errs);
      return;
    case Type::boolean:
      if (!value.is_boolean()) return type_error(errs, path.str(), value, "boolean");
      return;
    case Type::int_or_string:
      if (value.is_string()) {
        const auto& v = value.get_ref<const std::string&>();
        if (!schema.enum_values.empty()) check_enum(schema, value, path.str(), errs);
        if (schema.format != Format::none) check_string_format(schema, v, path.str(), errs);
        return;
      }
      if (!is_integral(value)) return type_error(errs, path.str(), value, "integer or string");
      if (schema.minimum || schema.maximum) check_bounds(schema, value, path.str(), errs);
      if (schema.format == Format::port) check_port_number(value, path.str(), errs);
      return;
    case Type::quantity:
      if (value.is_number()) return;
      if (!value.is_string()) return type_error(errs, path.str(), value, "quantity");
      if (!is_quantity(value.get_ref<const std::string&>()))
        invalid(errs, path.str(), value,
                "quantities must match the regular expression "
                "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
      return;
  }
}

void prune_walk(const Schema& schema, Json& value, std::vector<std::string>* unknown,
                const LazyPath& path) {
  switch (schema.type) {
    case Type::object: {
      if (!value.is_object()) return;
      for (auto it = value.begin(); it != value.end();) {
        const SchemaPtr* sub = schema.property(it.key());
        if (!sub || !*sub) {
          if (unknown) unknown->push_back(child(path.str(), it.key()));
          it = value.erase(it);
        } else {
          prune_walk(**sub, it.value(), unknown, LazyPath{&path, LazyPath::Step::field, it.key()});
          ++it;
        }
      }
      break;
    }
    case Type::map:
      if (!schema.items || !value.is_object()) return;
      for (auto it = value.begin(); it != value.end(); ++it)
        prune_walk(*schema.items, it.value(), unknown,
                   LazyPath{&path, LazyPath::Step::key, it.key()});
      break;
    case Type::array:
      if (!schema.items || !value.is_array()) return;
      for (size_t i = 0; i < value.size(); ++i)
        prune_walk(*schema.items, value[i], unknown, LazyPath{&path, LazyPath::Step::index, {}, i});
      break;
    default:
      break;  // scalars and Type::any keep their value whole
  }
}

}  // namespace

void prune(const Schema& schema, Json& value, std::vector<std::string>* unknown,
           const std::string& path) {
  prune_walk(schema, value, unknown, LazyPath{nullptr, LazyPath::Step::root, path});
}

void validate_schema(const Schema& schema, const Json& value, const std::string& path,
                     FieldErrors& errs) {
  validate_walk(schema, value, LazyPath{nullptr, LazyPath::Step::root, path}, errs);
}

FieldErrors validate(const Kind& kind, const Json& obj, const Json* old) {
  FieldErrors errs;
  if (!obj.is_object()) {
    type_error(errs, "", obj, "object");
    return errs;
  }
  if (kind.schema) validate_schema(*kind.schema, obj, "", errs);
  validate_metadata(kind, obj, old, errs);
  if (old && kind.schema) immutable_walk(*kind.schema, obj, *old, "", errs);
  if (!kind.validate) return errs;
  try {
    kind.validate(obj, old, errs);
  } catch (const std::exception& e) {
    // A kind rule that cannot read the object (a field of the wrong type the schema walk has
    // already reported) must not take the request down with it.
    if (errs.empty()) invalid(errs, "", nullptr, e.what());
  }
  return errs;
}

}  // namespace k8c::api
