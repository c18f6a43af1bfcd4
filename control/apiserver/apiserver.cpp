#include "control/apiserver/apiserver.h"

#include "common/log.h"
#include "control/api/table.h"
#include "control/apiserver/codec.h"
#include "control/apiserver/impl.h"

#include <openssl/rand.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <stdexcept>

namespace k8c::apiserver {

std::string now_rfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string new_uid() {
  // Random bytes come from OpenSSL's DRBG in blocks, so a create pays one call per 256 UIDs.
  thread_local unsigned char pool[4096];
  thread_local size_t used = sizeof pool;
  if (used + 16 > sizeof pool) {
    if (RAND_bytes(pool, sizeof pool) != 1) throw std::runtime_error("RAND_bytes failed");
    used = 0;
  }
  unsigned char b[16];
  std::memcpy(b, pool + used, sizeof b);
  used += sizeof b;
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // variant 1
  static const char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[b[i] >> 4];
    out += hex[b[i] & 0x0f];
  }
  return out;
}

// ---- Call ----

std::string Call::param(std::string_view key, std::string fallback) const {
  for (const auto& [k, v] : query)
    if (k == key) return v;
  return fallback;
}

bool Call::has_param(std::string_view key) const {
  for (const auto& [k, v] : query)
    if (k == key) return true;
  return false;
}

bool Call::wants_table() const {
  const std::string* accept = request.header("Accept");
  return accept && accept->find("as=Table") != std::string::npos;
}

bool Call::wants_metadata() const {
  const std::string* accept = request.header("Accept");
  return accept && !wants_table() && accept->find("as=PartialObjectMetadata") != std::string::npos;
}

std::string Call::key() const {
  return object_key(*kind, info.namespace_, info.name);
}

void Call::reply(int status, std::string body) {
  http::Response r{status, {{"Content-Type", "application/json"}}, std::move(body)};
  for (const auto& w : warnings) r.headers.push_back({"Warning", "299 - \"" + w + "\""});
  responder->send(std::move(r));
}

void Call::reply_object(int status, std::string bytes) {
  if (!view) return reply(status, std::move(bytes));
  reply_json(status, view(Json::parse(bytes)));
}

void Call::fail(const ApiError& e) {
  reply(e.code, status_json(e).dump());
}

// ---- Filter ----

std::optional<Filter> Filter::from(const Call& c, ApiError& err) {
  Filter f;
  f.resolve = c.kind->field_value;
  std::string why;
  if (auto ls = c.param("labelSelector"); !ls.empty()) {
    f.labels = api::LabelSelector::parse(ls, &why);
    if (!f.labels) {
      err = bad_request("unable to parse requirement: " + why);
      return std::nullopt;
    }
  }
  if (auto fs = c.param("fieldSelector"); !fs.empty()) {
    f.fields = api::FieldSelector::parse(fs, &why);
    if (!f.fields) {
      err = bad_request(why);
      return std::nullopt;
    }
    for (const auto& t : f.fields->terms()) {
      bool ok = t.field == "metadata.name" || t.field == "metadata.namespace";
      for (const auto& s : c.kind->field_selectors) ok |= s == t.field;
      if (!ok) {
        err = bad_request("field label not supported: " + t.field);
        return std::nullopt;
      }
    }
  }
  return f;
}

bool Filter::matches(const Json& obj) const {
  if (labels && !labels->empty()) {
    const Json* l = find_path(obj, {"metadata", "labels"});
    if (!labels->matches(l ? *l : Json())) return false;
  }
  return !fields || fields->matches(obj, resolve);
}

// ---- ApiServer ----

ApiServer::Impl::Impl(store::Store& s, Options o)
    : store(s), options(std::move(o)), cache(s, "/registry/", wire_encoder()) {}

ApiServer::ApiServer(store::Store& store, Options options)
    : impl_(std::make_unique<Impl>(store, std::move(options))) {
  impl_->ticker = std::thread([impl = impl_.get()] {
    while (!impl->stopping) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      impl->tick();
    }
  });
}

ApiServer::~ApiServer() {
  impl_->stopping = true;
  if (impl_->ticker.joinable()) impl_->ticker.join();
  std::list<std::shared_ptr<WatchStream>> watches;
  {
    std::lock_guard lock(impl_->watches_mu);
    watches.swap(impl_->watches);
  }
  watches.clear();
}

http::Handler ApiServer::handler() {
  return [this](http::Request& r, std::shared_ptr<http::Responder> w) { handle(r, std::move(w)); };
}

void ApiServer::bootstrap() {
  const api::Kind* ns = api::find_by_kind("", "v1", "Namespace");
  for (const char* name : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    Json obj = {{"apiVersion", "v1"},
                {"kind", "Namespace"},
                {"metadata",
                 {{"name", name},
                  {"uid", new_uid()},
                  {"creationTimestamp", now_rfc3339()},
                  {"labels", {{"kubernetes.io/metadata.name", name}}}}},
                {"spec", {{"finalizers", {"kubernetes"}}}},
                {"status", {{"phase", "Active"}}}};
    auto r = impl_->store.write_sync(
        {store::Write::Op::create, object_key(*ns, "", name), encode_for_store(obj), 0});
    if (r.err != store::Errc::ok && r.err != store::Errc::already_exists)
      throw std::runtime_error(std::string("bootstrap namespace ") + name + ": " +
                               store::to_string(r.err));
  }
}

std::optional<User> ApiServer::Impl::authenticate(const http::Request& r) const {
  if (r.client_cn) return User{*r.client_cn, "", r.client_orgs};
  if (const std::string* auth = r.header("Authorization")) {
    constexpr std::string_view bearer = "Bearer ";
    if (auth->size() > bearer.size() && auth->compare(0, bearer.size(), bearer) == 0) {
      auto it = options.tokens.find(auth->substr(bearer.size()));
      if (it != options.tokens.end()) return it->second;
    }
  }
  return std::nullopt;
}

void ApiServer::handle(http::Request& request, std::shared_ptr<http::Responder> responder) {
  auto c = std::make_shared<Call>();
  c->request = std::move(request);
  c->responder = std::move(responder);
  c->query = http::parse_query(c->request.query);
  std::string watch = c->param("watch");
  c->info = parse_request_info(c->request.method, c->request.path, watch == "true" || watch == "1");
  try {
    // Health and version are public, as kube-apiserver's system:public-info-viewer makes them.
    static const std::set<std::string> public_paths = {"/healthz", "/livez", "/readyz", "/version"};
    bool is_public = public_paths.count(c->request.path) > 0;
    if (!is_public) {
      auto user = impl_->authenticate(c->request);
      if (!user) return c->fail(unauthorized());
      c->user = *user;
    }
    if (!c->info.is_resource_request) {
      if (!impl_->serve_non_resource(c))
        c->fail(
            ApiError{404, "NotFound", "the server could not find the requested resource", nullptr});
      return;
    }
    impl_->dispatch_resource(c);
  } catch (const std::exception& e) {
    // Handlers report errors as Status; an exception here is a bug, but it must not take the
    // server down or leave the client hanging.
    spdlog::error("{} {}: {}", c->request.method, c->request.target, e.what());
    c->fail(internal_error(e.what()));
  }
}

size_t ApiServer::active_watches() const {
  std::lock_guard lock(impl_->watches_mu);
  return impl_->watches.size();
}

// ---- discovery ----

namespace {

struct GroupVersion {
  std::string group, version;
};

std::vector<GroupVersion> group_versions() {
  std::vector<GroupVersion> out;
  for (const auto& k : api::all_kinds()) {
    bool seen = false;
    for (const auto& gv : out) seen |= gv.group == k.group && gv.version == k.version;
    if (!seen) out.push_back({k.group, k.version});
  }
  return out;
}

Json api_group(const std::string& group) {
  Json versions = Json::array();
  for (const auto& gv : group_versions())
    if (gv.group == group)
      versions.push_back({{"groupVersion", group + "/" + gv.version}, {"version", gv.version}});
  if (versions.empty()) return nullptr;
  return {{"name", group}, {"versions", versions}, {"preferredVersion", versions[0]}};
}

Json resource_list(const std::string& group, const std::string& version) {
  Json resources = Json::array();
  static const Json all_verbs = {"create", "delete", "deletecollection", "get",
                                 "list",   "patch",  "update",           "watch"};
  for (const auto& k : api::all_kinds()) {
    if (k.group != group || k.version != version) continue;
    Json r = {{"name", k.plural},
              {"singularName", k.singular},
              {"namespaced", k.namespaced},
              {"kind", k.kind},
              {"verbs", all_verbs}};
    if (!k.short_names.empty()) r["shortNames"] = k.short_names;
    if (!k.categories.empty()) r["categories"] = k.categories;
    resources.push_back(r);
    if (k.has_status)
      resources.push_back({{"name", k.plural + "/status"},
                           {"singularName", ""},
                           {"namespaced", k.namespaced},
                           {"kind", k.kind},
                           {"verbs", {"get", "patch", "update"}}});
    if (!k.scale_replicas_path.empty())
      resources.push_back({{"name", k.plural + "/scale"},
                           {"singularName", ""},
                           {"namespaced", k.namespaced},
                           {"group", "autoscaling"},
                           {"version", "v1"},
                           {"kind", "Scale"},
                           {"verbs", {"get", "patch", "update"}}});
  }
  if (resources.empty()) return nullptr;
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", group.empty() ? version : group + "/" + version},
          {"resources", resources}};
}

}  // namespace

bool ApiServer::Impl::serve_non_resource(const CallPtr& c) {
  const std::string& p = c->request.path;
  if (p == "/healthz" || p == "/livez" || p == "/readyz") {
    c->responder->send({200, {{"Content-Type", "text/plain"}}, "ok"});
    return true;
  }
  if (p == "/version") {
    c->reply_json(200, {{"major", "1"},
                        {"minor", "32"},
                        {"gitVersion", "v1.32.0-k8c"},
                        {"gitCommit", "k8c"},
                        {"gitTreeState", "clean"},
                        {"buildDate", "2026-11-24T00:00:00Z"},
                        {"goVersion", "c++20"},
                        {"compiler", "gcc"},
                        {"platform", "linux/amd64"}});
    return true;
  }
  if (p == "/api" || p == "/api/") {
    c->reply_json(
        200, {{"kind", "APIVersions"},
              {"versions", {"v1"}},
              {"serverAddressByClientCIDRs",
               {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", options.advertise_address}}}}});
    return true;
  }
  if (p == "/apis" || p == "/apis/") {
    Json groups = Json::array();
    std::set<std::string> seen;
    for (const auto& gv : group_versions())
      if (!gv.group.empty() && seen.insert(gv.group).second) groups.push_back(api_group(gv.group));
    c->reply_json(200, {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}});
    return true;
  }
  if (p == "/openapi/v2") {
    // kubectl asks for protobuf first; other clients get JSON.
    const std::string* accept = c->request.header("Accept");
    if (accept && accept->find("protobuf") != std::string::npos)
      c->responder->send(
          {200,
           {{"Content-Type", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"}},
           api::openapi_v2_protobuf()});
    else
      c->responder->send({200, {{"Content-Type", "application/json"}}, api::openapi_v2_json()});
    return true;
  }
  if (p == "/openapi/v3" || p == "/openapi/v3/") {
    c->reply_json(200, api::openapi_v3_index());
    return true;
  }
  if (p.rfind("/openapi/v3/", 0) == 0) {
    std::string gv = p.substr(std::string("/openapi/v3/").size());
    std::string group, version;
    if (gv.rfind("api/", 0) == 0) {
      version = gv.substr(4);
    } else if (gv.rfind("apis/", 0) == 0) {
      auto rest = gv.substr(5);
      auto slash = rest.find('/');
      if (slash == std::string::npos) return false;
      group = rest.substr(0, slash);
      version = rest.substr(slash + 1);
    }
    Json doc = api::openapi_v3(group, version);
    if (doc.is_null()) return false;
    c->reply_json(200, doc);
    return true;
  }
  // /api/v1, /apis/{group}, /apis/{group}/{version}
  const RequestInfo& i = c->info;
  if (i.api_prefix == "api" && !i.version.empty()) {
    Json rl = resource_list("", i.version);
    if (rl.is_null()) return false;
    c->reply_json(200, rl);
    return true;
  }
  if (i.api_prefix == "apis") {
    std::string rest = p.substr(std::string("/apis/").size());
    while (!rest.empty() && rest.back() == '/') rest.pop_back();
    auto slash = rest.find('/');
    if (slash == std::string::npos) {
      Json g = api_group(rest);
      if (g.is_null()) return false;
      g["kind"] = "APIGroup";
      g["apiVersion"] = "v1";
      c->reply_json(200, g);
      return true;
    }
    Json rl = resource_list(rest.substr(0, slash), rest.substr(slash + 1));
    if (rl.is_null()) return false;
    c->reply_json(200, rl);
    return true;
  }
  return false;
}

std::map<std::string, User> load_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read token file " + path);
  std::map<std::string, User> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    std::string cur;
    bool quoted = false;
    for (char ch : line) {
      if (ch == '"')
        quoted = !quoted;
      else if (ch == ',' && !quoted)
        f.push_back(std::exchange(cur, {}));
      else
        cur += ch;
    }
    f.push_back(cur);
    if (f.size() < 3 || f[0].empty() || f[1].empty())
      throw std::runtime_error(path + ":" + std::to_string(n) +
                               ": expected token,user,uid[,\"group1,group2\"]");
    User u{f[1], f[2], {}};
    if (f.size() > 3) {
      size_t i = 0;
      while (i <= f[3].size()) {
        size_t j = f[3].find(',', i);
        if (j == std::string::npos) j = f[3].size();
        if (j > i) u.groups.push_back(f[3].substr(i, j - i));
        i = j + 1;
      }
    }
    out[f[0]] = u;
  }
  return out;
}

}  // namespace k8c::apiserver
