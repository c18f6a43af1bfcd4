// JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch.
//
// The strategic merge follows apimachinery's strategicpatch package as the server applies it
// (MergeParallelList and IgnoreUnmatchedNulls both on), including its list ordering rules, so that
// `kubectl patch` and `kubectl apply` give the same objects as against a real cluster. Deliberate
// differences, each to keep directive keys and stray nulls out of stored objects:
//   - a value that lands where the original had nothing is itself merged into an empty value,
//     so directives nested inside it are applied and nulls inside it are dropped;
//   - `$patch: delete` on a map removes the field instead of leaving an empty map behind.
#include "control/api/patch.h"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

namespace k8c::api {
namespace {

// ---------------------------------------------------------------------------------------------
// JSON pointer (RFC 6901) and JSON patch (RFC 6902)

bool parse_pointer(const std::string& ptr, std::vector<std::string>* tokens, std::string* err) {
  tokens->clear();
  if (ptr.empty()) return true;
  if (ptr[0] != '/') {
    *err = "JSON pointer must be empty or start with a \"/\": \"" + ptr + "\"";
    return false;
  }
  std::string cur;
  for (size_t i = 1; i <= ptr.size(); ++i) {
    if (i == ptr.size() || ptr[i] == '/') {
      tokens->push_back(std::move(cur));
      cur.clear();
      continue;
    }
    if (ptr[i] == '~') {
      char next = i + 1 < ptr.size() ? ptr[i + 1] : '\0';
      if (next == '0') {
        cur += '~';
      } else if (next == '1') {
        cur += '/';
      } else {
        *err = "invalid escape in JSON pointer \"" + ptr + "\": '~' must be followed by 0 or 1";
        return false;
      }
      ++i;
      continue;
    }
    cur += ptr[i];
  }
  return true;
}

// Array indices are decimal without leading zeros (RFC 6901 section 4).
bool parse_index(const std::string& tok, size_t* out) {
  if (tok.empty() || tok.size() > 18) return false;
  if (tok.size() > 1 && tok[0] == '0') return false;
  size_t v = 0;
  for (char c : tok) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  *out = v;
  return true;
}

std::string missing_path(const std::string& path) {
  return "doc is missing path: \"" + path + "\": missing value";
}

// Walks every token but the last; returns the container that holds the final token.
Json* resolve_parent(Json& doc, const std::vector<std::string>& tokens, const std::string& path,
                     std::string* err) {
  Json* cur = &doc;
  for (size_t i = 0; i + 1 < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (cur->is_object()) {
      auto it = cur->find(t);
      if (it == cur->end()) {
        *err = missing_path(path);
        return nullptr;
      }
      cur = &*it;
    } else if (cur->is_array()) {
      size_t idx = 0;
      if (!parse_index(t, &idx) || idx >= cur->size()) {
        *err = missing_path(path);
        return nullptr;
      }
      cur = &(*cur)[idx];
    } else {
      *err = missing_path(path);
      return nullptr;
    }
  }
  return cur;
}

Json* resolve(Json& doc, const std::vector<std::string>& tokens, const std::string& path,
              std::string* err) {
  if (tokens.empty()) return &doc;
  Json* parent = resolve_parent(doc, tokens, path, err);
  if (!parent) return nullptr;
  const std::string& last = tokens.back();
  if (parent->is_object()) {
    auto it = parent->find(last);
    if (it != parent->end()) return &*it;
  } else if (parent->is_array()) {
    size_t idx = 0;
    if (parse_index(last, &idx) && idx < parent->size()) return &(*parent)[idx];
  }
  *err = missing_path(path);
  return nullptr;
}

bool op_add(Json& doc, const std::vector<std::string>& tokens, const std::string& path, Json value,
            std::string* err) {
  if (tokens.empty()) {
    doc = std::move(value);
    return true;
  }
  Json* parent = resolve_parent(doc, tokens, path, err);
  if (!parent) return false;
  const std::string& last = tokens.back();
  if (parent->is_object()) {
    (*parent)[last] = std::move(value);
    return true;
  }
  if (parent->is_array()) {
    if (last == "-") {
      parent->push_back(std::move(value));
      return true;
    }
    size_t idx = 0;
    if (!parse_index(last, &idx) || idx > parent->size()) {
      *err = "add operation does not apply: index out of bounds: \"" + path + "\"";
      return false;
    }
    parent->insert(parent->begin() + static_cast<std::ptrdiff_t>(idx), std::move(value));
    return true;
  }
  *err = missing_path(path);
  return false;
}

bool op_remove(Json& doc, const std::vector<std::string>& tokens, const std::string& path,
               Json* removed, std::string* err) {
  if (tokens.empty()) {
    *err = "unable to remove the whole document";
    return false;
  }
  Json* parent = resolve_parent(doc, tokens, path, err);
  if (!parent) return false;
  const std::string& last = tokens.back();
  if (parent->is_object()) {
    auto it = parent->find(last);
    if (it == parent->end()) {
      *err = "unable to remove nonexistent key: " + last + ": missing value";
      return false;
    }
    if (removed) *removed = std::move(*it);
    parent->erase(it);
    return true;
  }
  if (parent->is_array()) {
    size_t idx = 0;
    if (!parse_index(last, &idx) || idx >= parent->size()) {
      *err = "unable to remove index out of bounds: \"" + path + "\"";
      return false;
    }
    if (removed) *removed = std::move((*parent)[idx]);
    parent->erase(idx);
    return true;
  }
  *err = missing_path(path);
  return false;
}

bool apply_one(Json& doc, const Json& op, size_t n, std::string* err) {
  if (!op.is_object()) {
    *err = "operation " + std::to_string(n) + " is not an object";
    return false;
  }
  auto op_it = op.find("op");
  if (op_it == op.end() || !op_it->is_string()) {
    *err = "operation " + std::to_string(n) + " has no \"op\"";
    return false;
  }
  const std::string name = op_it->get<std::string>();
  auto path_it = op.find("path");
  if (path_it == op.end() || !path_it->is_string()) {
    *err = name + " operation has no \"path\"";
    return false;
  }
  const std::string path = path_it->get<std::string>();
  std::vector<std::string> tokens;
  if (!parse_pointer(path, &tokens, err)) return false;

  auto need_value = [&](Json* out) {
    auto v = op.find("value");
    if (v == op.end()) {
      *err = name + " operation has no \"value\" for path \"" + path + "\"";
      return false;
    }
    *out = *v;
    return true;
  };
  auto need_from = [&](std::string* from, std::vector<std::string>* ftokens) {
    auto f = op.find("from");
    if (f == op.end() || !f->is_string()) {
      *err = name + " operation has no \"from\"";
      return false;
    }
    *from = f->get<std::string>();
    return parse_pointer(*from, ftokens, err);
  };

  if (name == "add") {
    Json value;
    return need_value(&value) && op_add(doc, tokens, path, std::move(value), err);
  }
  if (name == "remove") return op_remove(doc, tokens, path, nullptr, err);
  if (name == "replace") {
    Json value;
    if (!need_value(&value)) return false;
    Json* target = resolve(doc, tokens, path, err);
    if (!target) {
      *err = "replace operation does not apply: " + *err;
      return false;
    }
    *target = std::move(value);
    return true;
  }
  if (name == "move") {
    std::string from;
    std::vector<std::string> ftokens;
    if (!need_from(&from, &ftokens)) return false;
    if (from == path) return resolve(doc, ftokens, from, err) != nullptr;
    // A value cannot be moved into one of its own children (RFC 6902 section 4.4).
    if (tokens.size() > ftokens.size() &&
        std::equal(ftokens.begin(), ftokens.end(), tokens.begin())) {
      *err = "move operation cannot move \"" + from + "\" into its own child \"" + path + "\"";
      return false;
    }
    Json value;
    if (!op_remove(doc, ftokens, from, &value, err)) {
      *err = "move operation does not apply: " + *err;
      return false;
    }
    return op_add(doc, tokens, path, std::move(value), err);
  }
  if (name == "copy") {
    std::string from;
    std::vector<std::string> ftokens;
    if (!need_from(&from, &ftokens)) return false;
    Json* source = resolve(doc, ftokens, from, err);
    if (!source) {
      *err = "copy operation does not apply: " + *err;
      return false;
    }
    Json value = *source;
    return op_add(doc, tokens, path, std::move(value), err);
  }
  if (name == "test") {
    Json value;
    if (!need_value(&value)) return false;
    std::string ignored;
    Json* target = resolve(doc, tokens, path, &ignored);
    // A missing target only equals an explicit null, as in evanphx/json-patch.
    bool equal = target ? *target == value : value.is_null();
    if (!equal) {
      *err = "testing value " + path + " failed: test failed";
      return false;
    }
    return true;
  }
  *err = "Unexpected kind: " + name;
  return false;
}

// ---------------------------------------------------------------------------------------------
// JSON merge patch (RFC 7386)

Json merge_patch(const Json& target, const Json& patch) {
  if (!patch.is_object()) return patch;
  Json result = target.is_object() ? target : Json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it->is_null()) {
      result.erase(it.key());
      continue;
    }
    auto cur = result.find(it.key());
    result[it.key()] = merge_patch(cur == result.end() ? Json() : *cur, *it);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch

constexpr std::string_view kDirective = "$patch";
constexpr std::string_view kRetainKeys = "$retainKeys";
constexpr std::string_view kSetOrderPrefix = "$setElementOrder/";
constexpr std::string_view kDeletePrimitivePrefix = "$deleteFromPrimitiveList/";

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

bool has_strategy(const Schema* s, std::string_view want) {
  if (!s) return false;
  std::string_view all = s->patch_strategy;
  while (!all.empty()) {
    size_t comma = all.find(',');
    std::string_view one = all.substr(0, comma);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (one == want) return true;
    if (comma == std::string_view::npos) break;
    all.remove_prefix(comma + 1);
  }
  return false;
}

const Schema* field_schema(const Schema* s, const std::string& key) {
  if (!s) return nullptr;
  if (s->type == Type::object) {
    const SchemaPtr* p = s->property(key);
    return p ? p->get() : nullptr;
  }
  if (s->type == Type::map) return s->items.get();
  return nullptr;
}

const Schema* item_schema(const Schema* s) {
  return s && s->type == Type::array ? s->items.get() : nullptr;
}

bool merges_as_list(const Schema* s) {
  return s && s->type == Type::array && has_strategy(s, "merge");
}

std::string short_json(const Json& v) {
  std::string s = v.dump();
  if (s.size() > 200) s = s.substr(0, 197) + "...";
  return s;
}

// Outcome of merging a map: keep the merged value, or drop the field (`$patch: delete`).
enum class MapResult { keep, remove, error };

class Merger {
 public:
  explicit Merger(std::string* err) : err_(err) {}

  MapResult merge_map(Json& orig, Json patch, const Schema* s);
  bool merge_list(Json& orig, Json patch, const Schema* fs, const std::string& field);
  // Merges `patch` into nothing: applies its directives and drops its nulls.
  bool fresh(Json* out, Json patch, const Schema* s, const std::string& field);

 private:
  bool fail(std::string msg) {
    *err_ = std::move(msg);
    return false;
  }
  bool apply_retain_keys(Json& orig, Json& patch);
  bool apply_set_element_order(Json& orig, Json& patch, const Schema* s, const std::string& key,
                               const Json& order);
  bool merge_field(Json& orig, const std::string& key, Json patch_value, const Schema* s);
  bool order_list(Json* merged, const Json& patch_order, const Json& server_order,
                  const std::string& merge_key);

  std::string* err_;
};

// The identity of a list element: its merge key value for lists of maps, itself otherwise.
const Json& identity(const Json& v, const std::string& merge_key) {
  static const Json kNull;
  if (merge_key.empty()) return v;
  if (!v.is_object()) return kNull;
  auto it = v.find(merge_key);
  return it == v.end() ? kNull : *it;
}

std::ptrdiff_t index_of(const Json& list, const Json& id, const std::string& merge_key) {
  for (size_t i = 0; i < list.size(); ++i)
    if (identity(list[i], merge_key) == id) return static_cast<std::ptrdiff_t>(i);
  return -1;
}

bool is_delete_element(const Json& v) {
  if (!v.is_object()) return false;
  auto it = v.find(kDirective);
  return it != v.end() && *it == "delete";
}

// Kubernetes' ordering rule (normalizeElementOrder): elements named by the patch (or by its
// $setElementOrder list) keep the patch's order; the others keep the live order; the two runs
// are interleaved by their live positions, and an element the live list did not have goes before
// the live-only elements that follow it. This is why a container added by `kubectl patch` lands
// first, as the kubectl patch task in the Kubernetes docs shows.
bool Merger::order_list(Json* merged, const Json& patch_order, const Json& server_order,
                        const std::string& merge_key) {
  // Each element's positions are looked up once, so ordering costs O(n*m) comparisons of
  // identities rather than that much per sort comparison.
  struct Entry {
    Json value;
    std::ptrdiff_t in_patch;   // position in patch_order, -1 when absent
    std::ptrdiff_t in_server;  // position in server_order, -1 when absent
  };
  std::vector<Entry> in_patch, server_only;
  for (auto& v : *merged) {
    if (!merge_key.empty() && (!v.is_object() || !v.contains(merge_key)))
      return fail("map: " + short_json(v) + " does not contain declared merge key: " + merge_key);
    const Json& id = identity(v, merge_key);
    Entry e{Json(), index_of(patch_order, id, merge_key), index_of(server_order, id, merge_key)};
    e.value = std::move(v);
    (e.in_patch >= 0 ? in_patch : server_only).push_back(std::move(e));
  }
  std::stable_sort(in_patch.begin(), in_patch.end(),
                   [](const Entry& a, const Entry& b) { return a.in_patch < b.in_patch; });
  std::stable_sort(server_only.begin(), server_only.end(),
                   [](const Entry& a, const Entry& b) { return a.in_server < b.in_server; });

  Json out = Json::array();
  size_t i = 0, j = 0;
  while (i < server_only.size() || j < in_patch.size()) {
    bool take_server;
    if (j >= in_patch.size()) {
      take_server = true;
    } else if (i >= server_only.size()) {
      take_server = false;
    } else {
      auto li = server_only[i].in_server, ri = in_patch[j].in_server;
      take_server = li >= 0 && ri >= 0 && li < ri;
    }
    out.push_back(std::move(take_server ? server_only[i++].value : in_patch[j++].value));
  }
  *merged = std::move(out);
  return true;
}

bool Merger::fresh(Json* out, Json patch, const Schema* s, const std::string& field) {
  if (patch.is_object()) {
    Json empty = Json::object();
    MapResult r = merge_map(empty, std::move(patch), s);
    if (r == MapResult::error) return false;
    *out = r == MapResult::remove ? Json() : std::move(empty);
    return true;
  }
  if (patch.is_array()) {
    Json empty = Json::array();
    if (!merge_list(empty, std::move(patch), s, field)) return false;
    *out = std::move(empty);
    return true;
  }
  *out = std::move(patch);
  return true;
}

bool Merger::apply_retain_keys(Json& orig, Json& patch) {
  auto it = patch.find(kRetainKeys);
  if (it == patch.end()) return true;
  Json keys = std::move(*it);
  patch.erase(it);
  if (!keys.is_array()) return fail("invalid patch format of retainKeys");
  auto listed = [&keys](const std::string& k) {
    return std::any_of(keys.begin(), keys.end(), [&k](const Json& v) { return v == k; });
  };
  // Every field the patch sets must be retained, or the patch contradicts itself.
  for (auto p = patch.begin(); p != patch.end(); ++p) {
    if (p->is_null() || starts_with(p.key(), kSetOrderPrefix) ||
        starts_with(p.key(), kDeletePrimitivePrefix) || p.key() == kDirective)
      continue;
    if (!listed(p.key())) return fail("invalid patch format of retainKeys");
  }
  for (auto o = orig.begin(); o != orig.end();) {
    if (listed(o.key()))
      ++o;
    else
      o = orig.erase(o);
  }
  return true;
}

bool Merger::apply_set_element_order(Json& orig, Json& patch, const Schema* s,
                                     const std::string& key, const Json& order) {
  if (!order.is_array()) return fail("invalid patch format of setElementOrder list");
  const Schema* fs = field_schema(s, key);
  const std::string merge_key = fs ? fs->patch_merge_key : std::string();

  auto o = orig.find(key);
  bool has_orig = o != orig.end() && !o->is_null();
  auto p = patch.find(key);
  bool has_patch = p != patch.end();
  if (has_patch && p->is_null()) return true;  // the field is being deleted; nothing to order
  if (has_orig && !o->is_array())
    return fail("invalid list in original for " + key + ": " + short_json(*o));
  if (has_patch && !p->is_array())
    return fail("invalid list in patch for " + key + ": " + short_json(*p));

  if (!merge_key.empty()) {
    for (const auto& e : order)
      if (!e.is_object() || !e.contains(merge_key))
        return fail("map: " + short_json(e) + " does not contain declared merge key: " + merge_key);
  }
  // The patch list must follow the directive's order (deletions aside) and be named by it.
  if (has_patch && !order.empty()) {
    size_t pi = 0, oi = 0;
    const Json& plist = *p;
    std::vector<const Json*> kept;
    for (const auto& e : plist)
      if (merge_key.empty() || !is_delete_element(e)) kept.push_back(&e);
    while (pi < kept.size() && oi < order.size()) {
      if (kept[pi]->is_object() && kept[pi]->contains(kDirective)) {
        ++pi;
        continue;
      }
      if (identity(*kept[pi], merge_key) == identity(order[oi], merge_key)) ++pi;
      ++oi;
    }
    if (pi < kept.size())
      return fail("The order in patch list:\n" + short_json(plist) +
                  "\n doesn't match $setElementOrder list:\n" + short_json(order));
  }

  Json server_order = has_orig ? *o : Json::array();
  Json merged;
  if (has_orig && has_patch) {
    merged = *o;
    if (!merge_list(merged, std::move(*p), fs, key)) return false;
  } else if (has_patch) {
    if (!fresh(&merged, std::move(*p), fs, key)) return false;
  } else if (has_orig) {
    merged = *o;
  } else {
    return true;
  }
  if (has_patch) patch.erase(key);
  if (!order_list(&merged, order, server_order, merge_key)) return false;
  orig[key] = std::move(merged);
  return true;
}

bool Merger::merge_field(Json& orig, const std::string& key, Json pv, const Schema* s) {
  const Schema* fs = field_schema(s, key);
  auto o = orig.find(key);
  if (o == orig.end() || o->is_null()) {
    Json value;
    if (!fresh(&value, std::move(pv), fs, key)) return false;
    // A map carrying `$patch: delete` where nothing existed leaves nothing behind.
    if (value.is_null())
      orig.erase(key);
    else
      orig[key] = std::move(value);
    return true;
  }
  if (o->is_object() && pv.is_object()) {
    if (has_strategy(fs, "replace")) return fresh(&*o, std::move(pv), fs, key);
    MapResult r = merge_map(*o, std::move(pv), fs);
    if (r == MapResult::error) return false;
    if (r == MapResult::remove) orig.erase(key);
    return true;
  }
  if (o->is_array() && pv.is_array()) return merge_list(*o, std::move(pv), fs, key);
  // Different kinds, or scalars: the patch value wins.
  Json value;
  if (!fresh(&value, std::move(pv), fs, key)) return false;
  if (value.is_null())
    orig.erase(key);
  else
    *o = std::move(value);
  return true;
}

MapResult Merger::merge_map(Json& orig, Json patch, const Schema* s) {
  if (!orig.is_object()) orig = Json::object();
  auto d = patch.find(kDirective);
  if (d != patch.end()) {
    if (*d == "replace") {
      patch.erase(d);
      Json replaced = Json::object();
      MapResult r = merge_map(replaced, std::move(patch), s);
      if (r == MapResult::keep) orig = std::move(replaced);
      return r;
    }
    if (*d == "delete") return MapResult::remove;
    if (*d != "merge") {
      fail("Unknown patch type: " + short_json(*d) + " in map: " + short_json(patch));
      return MapResult::error;
    }
    patch.erase(d);
  }
  if (!apply_retain_keys(orig, patch)) return MapResult::error;

  // $setElementOrder first: it merges its list together with the patch's list for that field.
  std::vector<std::pair<std::string, Json>> orders;
  for (auto it = patch.begin(); it != patch.end(); ++it)
    if (starts_with(it.key(), kSetOrderPrefix)) orders.emplace_back(it.key(), *it);
  for (auto& [k, order] : orders) {
    patch.erase(k);
    std::string field = k.substr(kSetOrderPrefix.size());
    if (field.empty()) {
      fail("invalid patch format of setElementOrder list");
      return MapResult::error;
    }
    if (!apply_set_element_order(orig, patch, s, field, order)) return MapResult::error;
  }

  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& k = it.key();
    if (starts_with(k, kDeletePrimitivePrefix)) {
      std::string field = k.substr(kDeletePrimitivePrefix.size());
      if (field.empty() || !it->is_array()) {
        fail("invalid patch format of primitive list");
        return MapResult::error;
      }
      auto o = orig.find(field);
      if (o == orig.end() || !o->is_array()) continue;
      Json kept = Json::array();
      for (auto& v : *o)
        if (std::find(it->begin(), it->end(), v) == it->end()) kept.push_back(std::move(v));
      *o = std::move(kept);
      continue;
    }
    if (it->is_null()) {
      orig.erase(k);
      continue;
    }
    if (!merge_field(orig, k, std::move(*it), s)) return MapResult::error;
  }
  return MapResult::keep;
}

bool Merger::merge_list(Json& orig, Json patch, const Schema* fs, const std::string& field) {
  const Schema* is = item_schema(fs);
  if (!merges_as_list(fs)) {
    // Replace strategy, or no schema information: the patch list is the new list. Its map
    // elements still lose their directives; an element marked for deletion is dropped.
    Json out = Json::array();
    for (auto& e : patch) {
      if (e.is_object()) {
        Json v;
        if (!fresh(&v, std::move(e), is, field)) return false;
        if (!v.is_null()) out.push_back(std::move(v));
      } else {
        out.push_back(std::move(e));
      }
    }
    orig = std::move(out);
    return true;
  }
  if (orig.empty() && patch.empty()) return true;

  // All elements must be of one kind, and lists of lists are not mergeable.
  bool any_object = false, any_scalar = false;
  for (const Json* l : {&orig, &patch})
    for (const auto& e : *l) {
      if (e.is_array()) return fail("lists of lists are not supported");
      (e.is_object() ? any_object : any_scalar) = true;
    }
  if (any_object && any_scalar)
    return fail("list element types are not identical in " + field + ": " + short_json(orig) +
                " and " + short_json(patch));

  const std::string& merge_key = fs->patch_merge_key;
  if (!any_object) {
    // A set of primitives: union, then order as Kubernetes does.
    Json merged = orig;
    for (auto& v : patch)
      if (std::find(merged.begin(), merged.end(), v) == merged.end()) merged.push_back(v);
    Json server_order = orig;
    if (!order_list(&merged, patch, server_order, "")) return false;
    orig = std::move(merged);
    return true;
  }
  if (merge_key.empty()) return fail("cannot merge lists without merge key for " + field);

  // Elements carrying $patch act on the whole list.
  Json rest = Json::array();
  bool replace = false;
  for (auto& e : patch) {
    auto d = e.find(kDirective);
    if (d == e.end()) {
      rest.push_back(std::move(e));
      continue;
    }
    if (*d == "delete") {
      auto mv = e.find(merge_key);
      if (mv == e.end())
        return fail("map: " + short_json(e) + " does not contain declared merge key: " + merge_key);
      Json kept = Json::array();
      for (auto& o : orig)
        if (identity(o, merge_key) != *mv) kept.push_back(std::move(o));
      orig = std::move(kept);
    } else if (*d == "replace") {
      replace = true;
    } else if (*d == "merge") {
      return fail("merging lists cannot yet be specified in the patch");
    } else {
      return fail("Unknown patch type: " + short_json(*d) + " in map: " + short_json(e));
    }
  }
  if (replace) {
    Json out = Json::array();
    for (auto& e : rest) {
      Json v;
      if (!fresh(&v, std::move(e), is, field)) return false;
      if (!v.is_null()) out.push_back(std::move(v));
    }
    orig = std::move(out);
    return true;
  }

  Json server_order = orig;
  Json patch_order = Json::array();
  for (auto& e : rest) {
    auto mv = e.find(merge_key);
    if (mv == e.end())
      return fail("map: " + short_json(e) + " does not contain declared merge key: " + merge_key);
    patch_order.push_back(Json::object({{merge_key, *mv}}));
    auto pos = index_of(orig, *mv, merge_key);
    if (pos >= 0) {
      MapResult r = merge_map(orig[static_cast<size_t>(pos)], std::move(e), is);
      if (r == MapResult::error) return false;
      if (r == MapResult::remove) orig.erase(static_cast<size_t>(pos));
    } else {
      Json v;
      if (!fresh(&v, std::move(e), is, field)) return false;
      if (!v.is_null()) orig.push_back(std::move(v));
    }
  }
  return order_list(&orig, patch_order, server_order, merge_key);
}

}  // namespace

std::optional<Json> apply_json_patch(const Json& original, const Json& patch, PatchError* err) {
  std::string msg;
  try {
    if (!patch.is_array()) {
      msg = "json patch must be a list of operations";
    } else {
      Json doc = original;
      size_t n = 0;
      bool ok = true;
      for (const auto& op : patch) {
        if (!apply_one(doc, op, n++, &msg)) {
          ok = false;
          break;
        }
      }
      if (ok) return doc;
    }
  } catch (const std::exception& e) {
    msg = std::string("json patch failed: ") + e.what();
  }
  if (err) err->message = msg;
  return std::nullopt;
}

std::optional<Json> apply_merge_patch(const Json& original, const Json& patch, PatchError* err) {
  try {
    return merge_patch(original, patch);
  } catch (const std::exception& e) {
    if (err) err->message = std::string("merge patch failed: ") + e.what();
  }
  return std::nullopt;
}

std::optional<Json> apply_strategic_merge_patch(const Json& original, const Json& patch,
                                                const Schema* schema, PatchError* err) {
  std::string msg;
  try {
    if (!patch.is_object()) {
      msg = "invalid JSON document: a strategic merge patch must be a JSON object";
    } else if (!original.is_object() && !original.is_null()) {
      msg = "invalid JSON document: the original must be a JSON object";
    } else {
      Json doc = original.is_object() ? original : Json::object();
      Merger m(&msg);
      MapResult r = m.merge_map(doc, patch, schema);
      if (r == MapResult::keep) return doc;
      if (r == MapResult::remove) return Json::object();
    }
  } catch (const std::exception& e) {
    msg = std::string("strategic merge patch failed: ") + e.what();
  }
  if (err) err->message = msg;
  return std::nullopt;
}

}  // namespace k8c::api
