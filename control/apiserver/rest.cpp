// REST verbs over the watch cache (reads) and the store (compare-and-swap writes).
#include "common/log.h"
#include "control/api/object.h"
#include "control/api/patch.h"
#include "control/api/protobuf.h"
#include "control/api/selector.h"
#include "control/api/table.h"
#include "control/apiserver/codec.h"
#include "control/apiserver/impl.h"

#include <openssl/rand.h>

#include <chrono>

namespace k8c::apiserver {

namespace {

constexpr int kUpdateAttempts = 8;
constexpr auto kReadYourWritesTimeout = std::chrono::seconds(5);

std::string media_type(const http::Request& r) {
  const std::string* ct = r.header("Content-Type");
  if (!ct) return "";
  std::string t = ct->substr(0, ct->find(';'));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  return t;
}

// The fieldValidation policy for unknown fields, each given as its message ("unknown field
// \"x\""): Strict fails the request (false, with `err` set), Warn (the default) returns each as a
// Warning header, Ignore drops them silently.
bool check_unknown_fields(const CallPtr& c, const std::vector<std::string>& unknown,
                          ApiError& err) {
  if (unknown.empty()) return true;
  std::string validation = c->param("fieldValidation", "Warn");
  if (validation == "Strict") {
    const api::Kind& k = *c->kind;
    std::string msg = k.kind + " in version \"" + k.version + "\" cannot be handled as a " +
                      k.kind + ": strict decoding error: ";
    for (size_t i = 0; i < unknown.size(); ++i) msg += (i ? ", " : "") + unknown[i];
    err = bad_request(msg);
    return false;
  }
  if (validation == "Warn") {
    // The warning travels inside a quoted header value, so its own quotes are escaped.
    for (const auto& u : unknown) {
      std::string w;
      for (char ch : u) {
        if (ch == '"') w += '\\';
        w += ch;
      }
      c->warnings.push_back(std::move(w));
    }
  }
  return true;
}

std::optional<Json> decode_object(const CallPtr& c, ApiError& err) {
  std::string type = media_type(c->request);
  if (type == api::proto::kMediaType) {
    std::string why;
    auto decoded = api::proto::decode(c->request.body, &why);
    if (!decoded) {
      err = bad_request(why);
      return std::nullopt;
    }
    // Field numbers the table lacks get the treatment admit() gives unknown JSON fields.
    std::vector<std::string> unknown;
    for (const auto& u : decoded->unknown) unknown.push_back("unknown protobuf " + u);
    if (!check_unknown_fields(c, unknown, err)) return std::nullopt;
    return std::move(decoded->object);
  }
  if (!type.empty() && type != "application/json" && type != "application/yaml" && type != "*/*") {
    err = unsupported_media_type(type);
    return std::nullopt;
  }
  std::string why;
  auto obj = parse_json_or_yaml(c->request.body, &why);
  if (!obj) {
    err = bad_request("couldn't get version/kind; json parse error: " + why);
    return std::nullopt;
  }
  if (!obj->is_object()) {
    err = bad_request("the body of the request must be a JSON or YAML object");
    return std::nullopt;
  }
  return obj;
}

// The identity checks Kubernetes' decoder and REST handler make before anything else.
bool check_identity(const CallPtr& c, Json& obj, ApiError& err) {
  const api::Kind& k = *c->kind;
  std::string kind = get_string(obj, {"kind"});
  std::string api_version = get_string(obj, {"apiVersion"});
  if (kind.empty()) {
    err = bad_request("Object 'Kind' is missing in '" + obj.dump().substr(0, 200) + "'");
    return false;
  }
  if (api_version.empty()) {
    err = bad_request("Object 'apiVersion' is missing in '" + obj.dump().substr(0, 200) + "'");
    return false;
  }
  if (kind != k.kind || api_version != k.api_version()) {
    err = bad_request("the object provided is unrecognized: " + api_version + ", Kind=" + kind +
                      " cannot be handled at " + c->request.path + " (expected " + k.api_version() +
                      ", Kind=" + k.kind + ")");
    return false;
  }
  if (!obj.contains("metadata") || obj["metadata"].is_null()) obj["metadata"] = Json::object();
  if (!obj["metadata"].is_object()) {
    err = bad_request(k.kind + " in version \"" + k.version + "\" cannot be handled as a " +
                      k.kind + ": metadata must be an object");
    return false;
  }
  Json& meta = obj["metadata"];
  if (k.namespaced) {
    std::string ns = get_string(meta, {"namespace"});
    if (!ns.empty() && ns != c->info.namespace_) {
      err = bad_request(
          "the namespace of the provided object does not match the namespace sent "
          "on the request");
      return false;
    }
    meta["namespace"] = c->info.namespace_;
  } else {
    meta.erase("namespace");
  }
  if (!c->info.name.empty()) {
    std::string name = get_string(meta, {"name"});
    if (name.empty())
      meta["name"] = c->info.name;
    else if (name != c->info.name) {
      err = bad_request("the name of the object (" + name +
                        ") does not match the name on the URL (" + c->info.name + ")");
      return false;
    }
  }
  return true;
}

std::string random_suffix() {
  static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  unsigned char b[5];
  RAND_bytes(b, sizeof b);
  std::string s;
  for (unsigned char x : b) s += alphabet[x % (sizeof alphabet - 1)];
  return s;
}

int64_t parse_rv(const std::string& s) {
  if (s.empty()) return 0;
  try {
    size_t used = 0;
    long long v = std::stoll(s, &used);
    return used == s.size() && v >= 0 ? v : -1;
  } catch (...) {
    return -1;
  }
}

// Answers a failed update or removal of the call's object with its Status; false when the
// write succeeded and the caller replies.
bool failed_write(const CallPtr& c, const store::WriteResult& r) {
  const api::Kind& k = *c->kind;
  switch (r.err) {
    case store::Errc::ok:
      return false;
    case store::Errc::conflict:
      c->fail(conflict(k.group, k.plural, c->info.name,
                       "the object has been modified; please apply your changes to the latest "
                       "version and try again"));
      return true;
    case store::Errc::not_found:
      c->fail(not_found(k.group, k.plural, c->info.name));
      return true;
    default:
      c->fail(unavailable("storage: " + std::string(store::to_string(r.err)) + " " + r.message));
      return true;
  }
}

}  // namespace

std::optional<Json> ApiServer::Impl::current_object(const std::string& key, int64_t* mod_revision) {
  // Reads observe every write acknowledged before them, as Kubernetes' consistent reads do.
  cache.wait_for(store.revision(), kReadYourWritesTimeout);
  int64_t rev = 0;
  auto cached = cache.get(key, &rev);
  if (!cached) return std::nullopt;
  if (mod_revision) *mod_revision = cached->mod_revision;
  return Json::parse(*cached->bytes);
}

void ApiServer::Impl::dispatch_resource(const CallPtr& c) {
  const RequestInfo& i = c->info;
  c->kind = api::find_by_resource(i.group, i.version, i.resource);
  if (!c->kind)
    return c->fail(
        ApiError{404, "NotFound", "the server could not find the requested resource", nullptr});
  if (c->kind->namespaced && i.namespace_.empty() && !i.name.empty())
    return c->fail(
        ApiError{404, "NotFound", "the server could not find the requested resource", nullptr});
  if (!c->kind->namespaced && i.resource != "namespaces" && !i.namespace_.empty())
    return c->fail(
        ApiError{404, "NotFound", "the server could not find the requested resource", nullptr});
  if (!i.subresource.empty()) {
    bool known = (i.subresource == "status" && c->kind->has_status) ||
                 (i.subresource == "scale" && !c->kind->scale_replicas_path.empty());
    if (!known)
      return c->fail(
          ApiError{404, "NotFound", "the server could not find the requested resource", nullptr});
    if (i.verb != "get" && i.verb != "update" && i.verb != "patch")
      return c->fail(method_not_supported(i.verb, i.resource + "/" + i.subresource));
    if (i.subresource == "scale") return scale(c);
  }
  if (i.verb == "get") return get(c);
  if (i.verb == "list") return list(c);
  if (i.verb == "watch") return watch(c);
  if (i.verb == "create") {
    if (!i.name.empty()) return c->fail(method_not_supported("create", i.resource));
    return create(c);
  }
  if (i.verb == "update") return update(c);
  if (i.verb == "patch") return patch(c);
  if (i.verb == "delete") return remove(c);
  if (i.verb == "deletecollection") return remove_collection(c);
  c->fail(method_not_supported(i.verb, i.resource));
}

void ApiServer::Impl::get(const CallPtr& c) {
  cache.wait_for(store.revision(), kReadYourWritesTimeout);
  int64_t rev = 0;
  auto obj = cache.get(c->key(), &rev);
  if (!obj) return c->fail(not_found(c->kind->group, c->kind->plural, c->info.name));
  if (c->wants_table()) {
    Json parsed = Json::parse(*obj->bytes);
    return c->reply_json(200,
                         api::to_table(*c->kind, {&parsed}, c->param("includeObject", "Metadata"),
                                       {{"resourceVersion", std::to_string(obj->mod_revision)}}));
  }
  if (c->wants_metadata()) return c->reply(200, partial_object_metadata(*obj->bytes));
  c->reply(200, *obj->bytes);
}

void ApiServer::Impl::list(const CallPtr& c) {
  ApiError err;
  auto filter = Filter::from(*c, err);
  if (!filter) return c->fail(err);
  int64_t limit = 0;
  if (auto l = c->param("limit"); !l.empty()) {
    limit = parse_rv(l);
    if (limit < 0) return c->fail(bad_request("invalid limit: " + l));
  }
  const api::Kind& k = *c->kind;
  std::string prefix = list_prefix(k, c->info.namespace_);

  std::vector<store::Bytes> items;
  std::vector<std::string> keys;
  int64_t list_rev = 0;
  std::string next_token;
  int64_t remaining = -1;

  auto accept = [&](const store::Bytes& bytes) {
    if (!filter->active()) return true;
    return filter->matches(Json::parse(*bytes));
  };

  if (auto token = c->param("continue"); !token.empty()) {
    std::string start;
    if (!decode_continue(token, &list_rev, &start) || start.rfind(prefix, 0) != 0)
      return c->fail(bad_request("continue key is not valid"));
    // Later pages read the snapshot of the first one, from the store's history.
    std::string end = store::prefix_end(prefix);
    bool more = true;
    while (more && (limit == 0 || static_cast<int64_t>(items.size()) < limit)) {
      auto page =
          store.range(start, end, limit ? limit - static_cast<int64_t>(items.size()) : 0, list_rev);
      if (page.err == store::Errc::compacted)
        return c->fail(
            gone("The provided continue parameter is too old to display a consistent "
                 "list result. You can start a new list without the continue parameter."));
      if (page.err != store::Errc::ok) return c->fail(internal_error(store::to_string(page.err)));
      more = page.more;
      for (auto& kv : page.kvs) {
        auto bytes =
            std::make_shared<const std::string>(with_resource_version(kv.value, kv.mod_revision));
        start = kv.key + '\0';
        if (accept(bytes)) {
          items.push_back(bytes);
          keys.push_back(kv.key);
        }
      }
      if (page.kvs.empty()) break;
    }
    if (more) next_token = encode_continue(list_rev, keys.empty() ? start : keys.back());
  } else {
    std::string rv = c->param("resourceVersion");
    if (rv != "0") cache.wait_for(store.revision(), kReadYourWritesTimeout);
    auto objs = cache.list(prefix, &list_rev);
    for (size_t i = 0; i < objs.size(); ++i) {
      if (!accept(objs[i].bytes)) continue;
      if (limit && static_cast<int64_t>(items.size()) == limit) {
        next_token = encode_continue(list_rev, keys.back());
        remaining = static_cast<int64_t>(objs.size() - i);
        break;
      }
      items.push_back(objs[i].bytes);
      keys.push_back(objs[i].key);
    }
    if (filter->active()) remaining = -1;  // unknown without matching the rest
  }

  std::string rv = std::to_string(list_rev);
  if (c->wants_table()) {
    std::vector<Json> parsed;
    parsed.reserve(items.size());
    for (const auto& b : items) parsed.push_back(Json::parse(*b));
    std::vector<const Json*> ptrs;
    for (const auto& p : parsed) ptrs.push_back(&p);
    Json meta = {{"resourceVersion", rv}};
    if (!next_token.empty()) meta["continue"] = next_token;
    return c->reply_json(200, api::to_table(k, ptrs, c->param("includeObject", "Metadata"), meta));
  }
  if (c->wants_metadata()) {
    for (auto& b : items) b = std::make_shared<const std::string>(partial_object_metadata(*b));
    return c->reply(200, list_body(kMetaApiVersion, "PartialObjectMetadataList", rv, next_token,
                                   items, remaining));
  }
  c->reply(200, list_body(k.api_version(), k.kind + "List", rv, next_token, items, remaining));
}

bool ApiServer::Impl::admit(const CallPtr& c, Json& obj, const Json* old) {
  const api::Kind& k = *c->kind;
  std::vector<std::string> unknown;
  api::prune(*k.schema, obj, &unknown);
  for (auto& u : unknown) u = "unknown field \"" + u + "\"";
  ApiError err;
  if (!check_unknown_fields(c, unknown, err)) {
    c->fail(err);
    return false;
  }
  api::apply_defaults(k, obj);
  auto errs = api::validate(k, obj, old);
  if (!errs.empty()) {
    std::string name = get_string(obj, {"metadata", "name"});
    c->fail(invalid(k.group, k.kind, name, errs));
    return false;
  }
  return true;
}

void ApiServer::Impl::create(const CallPtr& c) {
  ApiError err;
  auto parsed = decode_object(c, err);
  if (!parsed || !check_identity(c, *parsed, err)) return c->fail(err);
  Json obj = std::move(*parsed);
  const api::Kind& k = *c->kind;
  Json& meta = obj["metadata"];
  if (get_string(meta, {"name"}).empty()) {
    std::string gen = get_string(meta, {"generateName"});
    if (gen.empty()) {
      api::FieldErrors errs{{api::FieldError::Kind::required, "metadata.name",
                             "Required value: name or generateName is required", nullptr}};
      return c->fail(invalid(k.group, k.kind, "", errs));
    }
    meta["name"] = gen + random_suffix();
  }
  std::string name = meta["name"].get<std::string>();
  c->info.name = name;  // POST addresses the collection; from here on the call is about `name`
  if (k.namespaced) {
    static const api::Kind* ns_kind = api::find_by_kind("", "v1", "Namespace");
    // The store's latest state: as consistent as waiting for the watch cache to catch up with
    // it, without parking this I/O thread while the cache ingests the writes before this one.
    auto ns = store.range(object_key(*ns_kind, "", c->info.namespace_), "");
    if (ns.err != store::Errc::ok)
      return c->fail(unavailable("storage: " + std::string(store::to_string(ns.err))));
    if (ns.kvs.empty()) return c->fail(not_found("", "namespaces", c->info.namespace_));
    if (ns.kvs.front().value.find("\"deletionTimestamp\"") != std::string::npos)
      return c->fail(ApiError{403, "Forbidden",
                              k.plural + " \"" + name +
                                  "\" is forbidden: unable to create new content in namespace " +
                                  c->info.namespace_ + " because it is being terminated",
                              nullptr});
  }
  // System-owned metadata is the server's to set.
  for (const char* f : {"resourceVersion", "uid", "creationTimestamp", "deletionTimestamp",
                        "deletionGracePeriodSeconds", "selfLink", "generation", "managedFields"})
    meta.erase(f);
  meta["uid"] = new_uid();
  meta["creationTimestamp"] = now_rfc3339();
  if (k.has_status) meta["generation"] = 1;
  if (!prepare_create(c, obj, err)) return c->fail(err);
  if (!admit(c, obj, nullptr)) return;
  if (k.kind == "Service") {
    std::lock_guard lock(alloc_mu);
    if (auto e = allocate_service(obj, nullptr)) return c->fail(*e);
    if (c->dry_run()) return c->reply_json(201, obj);
    std::string value = encode_for_store(std::move(obj));
    auto r = store.write_sync({store::Write::Op::create, c->key(), value, 0});
    if (r.err == store::Errc::already_exists)
      return c->fail(already_exists(k.group, k.plural, name));
    if (r.err != store::Errc::ok) return c->fail(unavailable(store::to_string(r.err)));
    cache.wait_for(r.revision, kReadYourWritesTimeout);  // the next allocation must see this one
    return c->reply(201, with_resource_version(value, r.revision));
  }
  if (c->dry_run()) return c->reply_json(201, obj);
  auto value = std::make_shared<std::string>(encode_for_store(std::move(obj)));
  store.write(
      {store::Write::Op::create, c->key(), *value, 0}, [c, value, name](store::WriteResult r) {
        const api::Kind& k = *c->kind;
        if (r.err == store::Errc::already_exists)
          return c->fail(already_exists(k.group, k.plural, name));
        if (r.err != store::Errc::ok)
          return c->fail(
              unavailable("storage: " + std::string(store::to_string(r.err)) + " " + r.message));
        c->reply(201, with_resource_version(*value, r.revision));
      });
}

void ApiServer::Impl::commit_update(const CallPtr& c, Json obj, const Json& old, int64_t expect,
                                    std::function<void()> retry, int success_code) {
  // Nothing changed: Kubernetes answers with the stored object and writes nothing.
  Json old_cmp = old, new_cmp = obj;
  old_cmp["metadata"].erase("resourceVersion");
  new_cmp["metadata"].erase("resourceVersion");
  if (old_cmp == new_cmp) {
    obj["metadata"]["resourceVersion"] = std::to_string(expect);
    return c->reply_object(200, obj.dump());
  }
  // An object marked for deletion whose last finalizer is gone is deleted now.
  const Json* fin = find_path(obj, {"metadata", "finalizers"});
  bool finalized = find_path(obj, {"metadata", "deletionTimestamp"}) && (!fin || fin->empty());
  if (c->dry_run()) return c->reply_object(success_code, obj.dump());
  auto value = std::make_shared<std::string>(encode_for_store(std::move(obj)));
  store::Write w{finalized ? store::Write::Op::remove : store::Write::Op::update, c->key(), *value,
                 expect};
  store.write(std::move(w), [c, value, retry, success_code](store::WriteResult r) {
    if (r.err == store::Errc::conflict && retry) return retry();
    if (failed_write(c, r)) return;
    c->reply_object(success_code, with_resource_version(*value, r.revision));
  });
}

void ApiServer::Impl::guaranteed_update(const CallPtr& c, Mutation mutate, int attempts,
                                        int success_code) {
  int64_t rev = 0;
  auto current = current_object(c->key(), &rev);
  const api::Kind& k = *c->kind;
  if (!current) return c->fail(not_found(k.group, k.plural, c->info.name));
  ApiError err;
  auto next = mutate(&*current, err);
  if (!next) return c->fail(err);
  Json obj = std::move(*next);
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object())
    return c->fail(bad_request("the result is not a valid object"));
  // Fields the client may not change through this path.
  Json& meta = obj["metadata"];
  const Json& old_meta = (*current)["metadata"];
  for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp",
                        "deletionGracePeriodSeconds", "generation", "namespace", "name"}) {
    if (old_meta.contains(f))
      meta[f] = old_meta[f];
    else
      meta.erase(f);
  }
  obj["kind"] = k.kind;
  obj["apiVersion"] = k.api_version();
  // A resourceVersion in the body is a precondition, checked by the store's compare-and-swap.
  int64_t expect = rev;
  bool precondition = false;
  if (auto rv = get_string(meta, {"resourceVersion"}); !rv.empty()) {
    expect = parse_rv(rv);
    precondition = true;
    if (expect != rev)
      return c->fail(conflict(k.group, k.plural, c->info.name,
                              "the object has been modified; please apply your changes to the "
                              "latest version and try again"));
  }
  prepare_update(c, obj, *current);
  if (!admit(c, obj, &*current)) return;
  if (k.kind == "Service") {
    std::lock_guard lock(alloc_mu);
    if (auto e = allocate_service(obj, &*current)) return c->fail(*e);
  }
  std::function<void()> retry;
  if (!precondition && attempts > 1)
    retry = [this, c, mutate, attempts, success_code] {
      guaranteed_update(c, mutate, attempts - 1, success_code);
    };
  commit_update(c, std::move(obj), *current, expect, retry, success_code);
}

void ApiServer::Impl::update(const CallPtr& c) {
  ApiError err;
  auto parsed = decode_object(c, err);
  if (!parsed || !check_identity(c, *parsed, err)) return c->fail(err);
  auto body = std::make_shared<Json>(std::move(*parsed));
  guaranteed_update(
      c, [body](const Json*, ApiError&) -> std::optional<Json> { return *body; }, kUpdateAttempts,
      200);
}

void ApiServer::Impl::patch(const CallPtr& c) {
  std::string type = media_type(c->request);
  std::string why;
  auto patch = parse_json(c->request.body, &why);
  if (type == "application/apply-patch+yaml")
    return c->fail(unsupported_media_type(type + "; server-side apply is not supported by k8c yet, "
                                                 "use client-side kubectl apply"));
  if (type != "application/json-patch+json" && type != "application/merge-patch+json" &&
      type != "application/strategic-merge-patch+json")
    return c->fail(unsupported_media_type(type));
  if (!patch) return c->fail(bad_request("error decoding patch: " + why));
  auto body = std::make_shared<Json>(std::move(*patch));
  const api::Kind& k = *c->kind;
  guaranteed_update(
      c,
      [body, type, &k](const Json* current, ApiError& err) -> std::optional<Json> {
        api::PatchError perr;
        std::optional<Json> out;
        if (type == "application/json-patch+json")
          out = api::apply_json_patch(*current, *body, &perr);
        else if (type == "application/merge-patch+json")
          out = api::apply_merge_patch(*current, *body, &perr);
        else
          out = api::apply_strategic_merge_patch(*current, *body, k.schema.get(), &perr);
        if (!out)
          err = ApiError{type == "application/json-patch+json" ? 422 : 400,
                         type == "application/json-patch+json" ? "Invalid" : "BadRequest",
                         perr.message, nullptr};
        return out;
      },
      kUpdateAttempts, 200);
}

void ApiServer::Impl::scale(const CallPtr& c) {
  const api::Kind& k = *c->kind;
  auto to_scale = [&k](const Json& obj) {
    Json spec_replicas = find_path(obj, {"spec", "replicas"}) ? obj["spec"]["replicas"] : Json(0);
    const Json* status_replicas = find_path(obj, {"status", "replicas"});
    std::string selector;
    if (const Json* sel = find_path(obj, {"spec", "selector"})) {
      std::string why;
      if (auto s = api::LabelSelector::from_json(*sel, &why)) selector = s->to_string();
    }
    Json meta = {{"name", obj["metadata"]["name"]},
                 {"namespace", obj["metadata"]["namespace"]},
                 {"uid", obj["metadata"]["uid"]},
                 {"resourceVersion", obj["metadata"].value("resourceVersion", "")},
                 {"creationTimestamp", obj["metadata"]["creationTimestamp"]}};
    (void)k;
    return Json{
        {"kind", "Scale"},
        {"apiVersion", "autoscaling/v1"},
        {"metadata", meta},
        {"spec", {{"replicas", spec_replicas}}},
        {"status",
         {{"replicas", status_replicas ? *status_replicas : Json(0)}, {"selector", selector}}}};
  };
  c->view = to_scale;
  if (c->info.verb == "get") {
    auto obj = current_object(c->key(), nullptr);
    if (!obj) return c->fail(not_found(k.group, k.plural, c->info.name));
    return c->reply_object(200, obj->dump());
  }
  std::string type = media_type(c->request);
  std::string why;
  auto body = parse_json_or_yaml(c->request.body, &why);
  if (!body) return c->fail(bad_request("error decoding body: " + why));
  auto payload = std::make_shared<Json>(std::move(*body));
  bool is_patch = c->info.verb == "patch";
  // The scale is a view: apply the change to the Scale, then carry spec.replicas over.
  guaranteed_update(
      c,
      [payload, is_patch, type, to_scale](const Json* current,
                                          ApiError& err) -> std::optional<Json> {
        Json scale = to_scale(*current);
        std::optional<Json> next;
        api::PatchError perr;
        if (!is_patch)
          next = *payload;
        else if (type == "application/json-patch+json")
          next = api::apply_json_patch(scale, *payload, &perr);
        else
          next = api::apply_merge_patch(scale, *payload, &perr);
        if (!next) {
          err = bad_request(perr.message);
          return std::nullopt;
        }
        const Json* replicas = find_path(*next, {"spec", "replicas"});
        if (!replicas || !replicas->is_number_integer() || replicas->get<int64_t>() < 0) {
          err = invalid("autoscaling", "Scale", get_string(*current, {"metadata", "name"}),
                        {{api::FieldError::Kind::invalid, "spec.replicas",
                          "Invalid value: must be greater than or equal to 0", nullptr}});
          return std::nullopt;
        }
        Json obj = *current;
        obj["spec"]["replicas"] = *replicas;
        obj["metadata"].erase("resourceVersion");
        if (auto rv = get_string(*next, {"metadata", "resourceVersion"}); !rv.empty() && !is_patch)
          obj["metadata"]["resourceVersion"] = rv;
        return obj;
      },
      kUpdateAttempts, 200);
}

void ApiServer::Impl::remove(const CallPtr& c) {
  const api::Kind& k = *c->kind;
  Json opts = Json::object();
  if (!c->request.body.empty()) {
    std::string why;
    auto parsed = parse_json_or_yaml(c->request.body, &why);
    if (!parsed || !parsed->is_object())
      return c->fail(bad_request("invalid DeleteOptions: " + why));
    opts = std::move(*parsed);
  }
  std::string policy = opts.value("propagationPolicy", c->param("propagationPolicy"));
  if (!policy.empty() && policy != "Orphan" && policy != "Background" && policy != "Foreground")
    return c->fail(bad_request("propagationPolicy must be one of Orphan, Background, Foreground"));
  int64_t rev = 0;
  auto current = current_object(c->key(), &rev);
  if (!current) return c->fail(not_found(k.group, k.plural, c->info.name));
  if (const Json* pre = find_path(opts, {"preconditions"})) {
    std::string uid = get_string(*pre, {"uid"}), rv = get_string(*pre, {"resourceVersion"});
    if ((!uid.empty() && uid != get_string(*current, {"metadata", "uid"})) ||
        (!rv.empty() && parse_rv(rv) != rev))
      return c->fail(
          conflict(k.group, k.plural, c->info.name,
                   "Precondition failed: UID or ResourceVersion in precondition does not match"));
  }
  if (opts.contains("dryRun") && opts["dryRun"].is_array() && !opts["dryRun"].empty())
    c->query.emplace_back("dryRun", "All");

  Json obj = *current;
  Json& meta = obj["metadata"];
  std::vector<std::string> finalizers;
  if (meta.contains("finalizers") && meta["finalizers"].is_array())
    for (const auto& f : meta["finalizers"]) finalizers.push_back(f.get<std::string>());
  auto add_finalizer = [&](const std::string& f) {
    if (std::find(finalizers.begin(), finalizers.end(), f) == finalizers.end())
      finalizers.push_back(f);
  };
  if (policy == "Foreground") add_finalizer("foregroundDeletion");
  if (policy == "Orphan") add_finalizer("orphan");
  // Pods bound to a node are deleted gracefully: the node agent stops the containers, then
  // finishes the deletion with a grace period of 0.
  int64_t grace = 0;
  if (k.kind == "Pod" && !get_string(obj, {"spec", "nodeName"}).empty()) {
    grace = opts.contains("gracePeriodSeconds") && opts["gracePeriodSeconds"].is_number_integer()
                ? opts["gracePeriodSeconds"].get<int64_t>()
                : obj["spec"].value("terminationGracePeriodSeconds", int64_t{30});
  }
  bool pending = !finalizers.empty() || grace > 0;
  if (pending) {
    if (meta.contains("deletionTimestamp") && grace == 0 && policy.empty())
      return c->reply_json(202, *current);
    if (!meta.contains("deletionTimestamp")) meta["deletionTimestamp"] = now_rfc3339();
    meta["deletionGracePeriodSeconds"] = grace;
    meta["finalizers"] = finalizers;
    meta.erase("resourceVersion");
    if (c->dry_run()) return c->reply_json(202, obj);
    auto value = std::make_shared<std::string>(encode_for_store(std::move(obj)));
    store.write({store::Write::Op::update, c->key(), *value, rev},
                [c, value](store::WriteResult r) {
                  if (failed_write(c, r)) return;
                  c->reply(202, with_resource_version(*value, r.revision));
                });
    return;
  }
  if (c->dry_run()) return c->reply_json(200, *current);
  if (k.kind == "Namespace") {
    // The namespace's content goes with it; done inline until the namespace controller exists.
    std::string ns = c->info.name;
    for (const auto& other : api::all_kinds()) {
      if (!other.namespaced) continue;
      int64_t lrev = 0;
      for (const auto& o : cache.list(list_prefix(other, ns), &lrev))
        store.write_sync({store::Write::Op::remove, o.key, "", 0});
    }
  }
  auto body = std::make_shared<Json>(std::move(*current));
  store.write({store::Write::Op::remove, c->key(), "", rev}, [c, body](store::WriteResult r) {
    if (failed_write(c, r)) return;
    c->reply_json(200, *body);
  });
}

void ApiServer::Impl::remove_collection(const CallPtr& c) {
  ApiError err;
  auto filter = Filter::from(*c, err);
  if (!filter) return c->fail(err);
  const api::Kind& k = *c->kind;
  cache.wait_for(store.revision(), kReadYourWritesTimeout);
  int64_t rev = 0;
  Json deleted = Json::array();
  for (const auto& o : cache.list(list_prefix(k, c->info.namespace_), &rev)) {
    Json obj = Json::parse(*o.bytes);
    if (!filter->matches(obj)) continue;
    if (!c->dry_run()) {
      auto r = store.write_sync({store::Write::Op::remove, o.key, "", o.mod_revision});
      if (r.err != store::Errc::ok && r.err != store::Errc::not_found) continue;
    }
    deleted.push_back(std::move(obj));
  }
  c->reply_json(200, {{"kind", k.kind + "List"},
                      {"apiVersion", k.api_version()},
                      {"metadata", {{"resourceVersion", std::to_string(store.revision())}}},
                      {"items", deleted}});
}

}  // namespace k8c::apiserver
