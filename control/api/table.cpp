// meta.k8s.io/v1 Table responses, shaped as the apiserver's table convertor emits them for
// `kubectl get` (Accept: application/json;as=Table;v=v1;g=meta.k8s.io).
#include "control/api/table.h"

#include <cctype>
#include <ctime>
#include <exception>

namespace k8c::api {

namespace {

// The description the real apiserver gives the Name column (ObjectMeta.name's doc string).
constexpr const char* kNameDescription =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

bool parse_rfc3339(std::string_view s, int64_t* out) {
  auto num = [&](size_t pos, size_t n, int* v) {
    if (pos + n > s.size()) return false;
    *v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
      *v = *v * 10 + (s[i] - '0');
    }
    return true;
  };
  std::tm tm{};
  int y, mo, d, h, mi, se;
  if (!num(0, 4, &y) || s.size() < 20 || s[4] != '-' || !num(5, 2, &mo) || s[7] != '-' ||
      !num(8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !num(11, 2, &h) || s[13] != ':' ||
      !num(14, 2, &mi) || s[16] != ':' || !num(17, 2, &se))
    return false;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  size_t p = 19;
  if (p < s.size() && s[p] == '.') {
    ++p;
    while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) ++p;
  }
  int64_t offset = 0;
  if (p < s.size() && (s[p] == 'Z' || s[p] == 'z')) {
    if (p + 1 != s.size()) return false;
  } else if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
    int oh, om;
    if (p + 6 != s.size() || !num(p + 1, 2, &oh) || s[p + 3] != ':' || !num(p + 4, 2, &om))
      return false;
    offset = (oh * 3600 + om * 60) * (s[p] == '+' ? 1 : -1);
  } else {
    return false;
  }
  *out = static_cast<int64_t>(timegm(&tm)) - offset;
  return true;
}

Json list_meta(const Json& list_metadata) {
  Json md = Json::object();
  if (!list_metadata.is_object()) return md;
  for (const char* k : {"selfLink", "resourceVersion", "continue", "remainingItemCount"})
    if (auto it = list_metadata.find(k); it != list_metadata.end() && !it->is_null()) md[k] = *it;
  return md;
}

bool is_age_column(const Column& c) {
  if (c.name.size() != 3) return false;
  return std::tolower(static_cast<unsigned char>(c.name[0])) == 'a' &&
         std::tolower(static_cast<unsigned char>(c.name[1])) == 'g' &&
         std::tolower(static_cast<unsigned char>(c.name[2])) == 'e';
}

Json cell(const Column& c, const Json& obj, int64_t now) {
  if (c.cell) {
    try {
      return c.cell(obj);
    } catch (const std::exception&) {
      // A malformed stored object must not fail the whole list; kubectl prints <none>.
      return nullptr;
    }
  }
  if (is_age_column(c)) return human_age(get_string(obj, {"metadata", "creationTimestamp"}), now);
  return nullptr;
}

}  // namespace

std::string human_age(const std::string& rfc3339, int64_t now_unix) {
  int64_t then = 0;
  // translateTimestampSince prints <unknown> for a zero (absent) timestamp.
  if (!parse_rfc3339(rfc3339, &then)) return "<unknown>";
  // The thresholds of k8s.io/apimachinery/pkg/util/duration.HumanDuration: about two or three
  // significant figures, coarser as the age grows.
  int64_t seconds = now_unix - then;
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return std::to_string(seconds) + "s";
  int64_t minutes = seconds / 60;
  if (minutes < 10) {
    int64_t s = seconds % 60;
    return std::to_string(minutes) + "m" + (s ? std::to_string(s) + "s" : "");
  }
  if (minutes < 180) return std::to_string(minutes) + "m";
  int64_t hours = seconds / 3600;
  if (hours < 8) {
    int64_t m = minutes % 60;
    return std::to_string(hours) + "h" + (m ? std::to_string(m) + "m" : "");
  }
  if (hours < 48) return std::to_string(hours) + "h";
  if (hours < 24 * 8) {
    int64_t h = hours % 24;
    return std::to_string(hours / 24) + "d" + (h ? std::to_string(h) + "h" : "");
  }
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24) + "d";
  if (hours < 24 * 365 * 8) {
    int64_t d = (hours / 24) % 365;
    return std::to_string(hours / 24 / 365) + "y" + (d ? std::to_string(d) + "d" : "");
  }
  return std::to_string(hours / 24 / 365) + "y";
}

Json to_table(const Kind& kind, const std::vector<const Json*>& objects,
              const std::string& include_object, const Json& list_metadata) {
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  Json defs = Json::array();
  defs.push_back({{"name", "Name"},
                  {"type", "string"},
                  {"format", "name"},
                  {"description", kNameDescription},
                  {"priority", 0}});
  for (const auto& c : kind.columns)
    defs.push_back({{"name", c.name},
                    {"type", c.type},
                    {"format", c.format},
                    {"description", c.description},
                    {"priority", c.priority}});

  Json rows = Json::array();
  for (const Json* obj : objects) {
    if (!obj) continue;
    Json cells = Json::array();
    cells.push_back(get_string(*obj, {"metadata", "name"}));
    for (const auto& c : kind.columns) cells.push_back(cell(c, *obj, now));
    Json row = {{"cells", std::move(cells)}};
    if (include_object == "Object") {
      row["object"] = *obj;
    } else if (include_object != "None") {
      // "Metadata" and the default: kubectl only needs the metadata to print names,
      // namespaces and labels (-L, --show-labels).
      const Json* md = find_path(*obj, {"metadata"});
      row["object"] = {{"kind", "PartialObjectMetadata"},
                       {"apiVersion", "meta.k8s.io/v1"},
                       {"metadata", md && md->is_object() ? *md : Json::object()}};
    }
    rows.push_back(std::move(row));
  }
  return {{"kind", "Table"},
          {"apiVersion", "meta.k8s.io/v1"},
          {"metadata", list_meta(list_metadata)},
          {"columnDefinitions", std::move(defs)},
          {"rows", std::move(rows)}};
}

}  // namespace k8c::api
