#include "control/client/kubeconfig.h"

#include "common/base64.h"

#include "common/json.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace k8c::client {

namespace fs = std::filesystem;

std::shared_ptr<CredentialDir> CredentialDir::create(std::string* error) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/k8c-cred-XXXXXX";
  // mkdtemp creates the directory with mode 0700, so the files are private from the start.
  if (mkdtemp(tmpl.data()) == nullptr) {
    if (error)
      *error = "cannot create a private directory for credentials: " + tmpl + ": " +
               std::strerror(errno);
    return nullptr;
  }
  return std::shared_ptr<CredentialDir>(new CredentialDir(tmpl));
}

CredentialDir::~CredentialDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string CredentialDir::write(const std::string& name, const std::string& data,
                                 std::string* error) {
  std::string path = path_ + "/" + name;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (error) *error = "cannot write " + path + ": " + std::strerror(errno);
    return {};
  }
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (error) *error = "cannot write " + path + ": " + std::strerror(errno);
      ::close(fd);
      return {};
    }
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  return path;
}

http::ClientOptions Kubeconfig::client_options() const {
  http::ClientOptions o;
  o.host = host;
  o.port = port;
  o.tls = tls;
  o.ca_file = ca_file;
  o.cert_file = cert_file;
  o.key_file = key_file;
  o.server_name = tls_server_name;
  return o;
}

namespace {

std::string where(const std::string& origin) {
  return origin.empty() ? std::string("kubeconfig") : origin;
}

// YAML scalars arrive typed (a namespace "123" would be a number); fields here are strings.
std::optional<std::string> scalar(const Json* v) {
  if (!v || v->is_null()) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number() || v->is_boolean()) return v->dump();
  return std::nullopt;
}

// Finds the entry named `name` in a list such as clusters: [{name, cluster: {...}}].
const Json* find_named(const Json& doc, const char* list, const char* inner,
                       const std::string& name) {
  const Json* arr = find_path(doc, {list});
  if (!arr || !arr->is_array()) return nullptr;
  for (const Json& e : *arr) {
    if (!e.is_object()) continue;
    if (scalar(find_path(e, {"name"})).value_or("") != name) continue;
    const Json* v = find_path(e, {inner});
    static const Json empty = Json::object();
    return v && v->is_object() ? v : &empty;
  }
  return nullptr;
}

// Parses "https://host:port/prefix".
bool parse_server(const std::string& url, Kubeconfig& cfg, std::string* error,
                  const std::string& field) {
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    cfg.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    cfg.tls = false;
    rest.remove_prefix(7);
  } else {
    *error = field + ": server URL \"" + url + "\" must start with https:// or http://";
    return false;
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string prefix = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  cfg.path_prefix = prefix;
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with("[")) {  // IPv6 literal
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      *error = field + ": server URL \"" + url + "\" has an unterminated IPv6 address";
      return false;
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (after.starts_with(":")) port = after.substr(1);
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) {
    *error = field + ": server URL \"" + url + "\" has no host";
    return false;
  }
  cfg.host = std::string(host);
  if (port.empty()) {
    cfg.port = cfg.tls ? 443 : 80;
  } else {
    unsigned long p = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || p > 65535) {
        p = 0;
        break;
      }
      p = p * 10 + static_cast<unsigned long>(c - '0');
    }
    if (p == 0 || p > 65535) {
      *error = field + ": server URL \"" + url + "\" has an invalid port";
      return false;
    }
    cfg.port = static_cast<uint16_t>(p);
  }
  cfg.server = url;
  return true;
}

bool read_file(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

}  // namespace

std::optional<Kubeconfig> parse_kubeconfig(std::string_view text, const std::string& origin,
                                           std::string* error, const std::string& context) {
  std::string dummy;
  if (!error) error = &dummy;
  const std::string file = where(origin);
  std::string perr;
  auto docs = parse_yaml_documents(text, &perr);
  if (!docs) {
    *error = file + ": invalid YAML: " + perr;
    return std::nullopt;
  }
  if (docs->empty() || !(*docs)[0].is_object()) {
    *error = file + ": not a kubeconfig (expected a mapping with clusters, users, contexts)";
    return std::nullopt;
  }
  const Json& doc = (*docs)[0];
  fs::path base = origin.empty() ? fs::current_path() : fs::absolute(origin).parent_path();
  auto resolve = [&base](const std::string& p) {
    return fs::path(p).is_absolute() ? p : (base / p).lexically_normal().string();
  };
  auto fail = [&](const std::string& msg) -> std::optional<Kubeconfig> {
    *error = file + ": " + msg;
    return std::nullopt;
  };

  Kubeconfig cfg;
  cfg.source = origin;
  cfg.context_name = context;
  if (cfg.context_name.empty()) {
    cfg.context_name = scalar(find_path(doc, {"current-context"})).value_or("");
  }
  if (cfg.context_name.empty()) return fail("current-context is not set");
  const Json* ctx = find_named(doc, "contexts", "context", cfg.context_name);
  if (!ctx) return fail("contexts: no context named \"" + cfg.context_name + "\"");
  cfg.cluster_name = scalar(find_path(*ctx, {"cluster"})).value_or("");
  if (cfg.cluster_name.empty()) {
    return fail("contexts[" + cfg.context_name + "].context.cluster is not set");
  }
  cfg.user_name = scalar(find_path(*ctx, {"user"})).value_or("");
  if (auto ns = scalar(find_path(*ctx, {"namespace"})); ns && !ns->empty()) cfg.ns = *ns;

  const Json* cluster = find_named(doc, "clusters", "cluster", cfg.cluster_name);
  if (!cluster) return fail("clusters: no cluster named \"" + cfg.cluster_name + "\"");
  const std::string cfield = "clusters[" + cfg.cluster_name + "].cluster";
  auto server = scalar(find_path(*cluster, {"server"}));
  if (!server || server->empty()) return fail(cfield + ".server is not set");
  if (!parse_server(*server, cfg, error, cfield + ".server")) {
    *error = file + ": " + *error;
    return std::nullopt;
  }
  cfg.tls_server_name = scalar(find_path(*cluster, {"tls-server-name"})).value_or("");
  if (const Json* v = find_path(*cluster, {"insecure-skip-tls-verify"}); v && v->is_boolean()) {
    cfg.insecure_skip_tls_verify = v->get<bool>();
  }

  // Inline credentials: decoded and written to a private directory created on first need.
  auto inline_file = [&](const std::string& field, const std::string& b64,
                         const std::string& name) -> std::optional<std::string> {
    auto decoded = base64_decode(b64);
    if (!decoded) {
      *error = file + ": " + field + " is not valid base64";
      return std::nullopt;
    }
    if (!cfg.credentials) {
      std::string e;
      cfg.credentials = CredentialDir::create(&e);
      if (!cfg.credentials) {
        *error = file + ": " + field + ": " + e;
        return std::nullopt;
      }
    }
    std::string e;
    std::string path = cfg.credentials->write(name, *decoded, &e);
    if (path.empty()) {
      *error = file + ": " + field + ": " + e;
      return std::nullopt;
    }
    return path;
  };
  // A credential given either as "<key>-data" (base64) or "<key>" (a path).
  auto credential = [&](const Json& section, const std::string& section_field,
                        const std::string& key, const std::string& name, std::string* out) -> bool {
    if (auto data = scalar(find_path(section, {key + "-data"})); data && !data->empty()) {
      auto path = inline_file(section_field + "." + key + "-data", *data, name);
      if (!path) return false;
      *out = *path;
      return true;
    }
    if (auto p = scalar(find_path(section, {key})); p && !p->empty()) {
      *out = resolve(*p);
      if (::access(out->c_str(), R_OK) != 0) {
        *error = file + ": " + section_field + "." + key + ": cannot read " + *out + ": " +
                 std::strerror(errno);
        return false;
      }
    }
    return true;
  };
  if (!credential(*cluster, cfield, "certificate-authority", "ca.crt", &cfg.ca_file)) {
    return std::nullopt;
  }

  if (!cfg.user_name.empty()) {
    const Json* user = find_named(doc, "users", "user", cfg.user_name);
    if (!user) return fail("users: no user named \"" + cfg.user_name + "\"");
    const std::string ufield = "users[" + cfg.user_name + "].user";
    if (!credential(*user, ufield, "client-certificate", "client.crt", &cfg.cert_file) ||
        !credential(*user, ufield, "client-key", "client.key", &cfg.key_file)) {
      return std::nullopt;
    }
    if (cfg.cert_file.empty() != cfg.key_file.empty()) {
      return fail(ufield + ": client-certificate and client-key must be given together");
    }
    cfg.token = scalar(find_path(*user, {"token"})).value_or("");
    if (cfg.token.empty()) {
      if (auto tf = scalar(find_path(*user, {"tokenFile"})); tf && !tf->empty()) {
        std::string path = resolve(*tf);
        if (!read_file(path, &cfg.token)) {
          return fail(ufield + ".tokenFile: cannot read " + path);
        }
        while (!cfg.token.empty() && (cfg.token.back() == '\n' || cfg.token.back() == '\r')) {
          cfg.token.pop_back();
        }
      }
    }
  }
  return cfg;
}

std::optional<Kubeconfig> load_kubeconfig(const std::string& path, std::string* error,
                                          const std::string& context) {
  std::string text;
  if (!read_file(path, &text)) {
    if (error) *error = path + ": cannot read kubeconfig: " + std::strerror(errno);
    return std::nullopt;
  }
  return parse_kubeconfig(text, path, error, context);
}

std::string default_kubeconfig_path() {
  if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
    std::string_view list = env;
    return std::string(list.substr(0, list.find(':')));
  }
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/root") + "/.kube/config";
}

std::string render_kubeconfig(const KubeconfigSpec& spec) {
  Json cluster = {{"server", spec.server}};
  if (!spec.ca_pem.empty()) cluster["certificate-authority-data"] = base64_encode(spec.ca_pem);
  Json user = Json::object();
  if (!spec.cert_pem.empty()) user["client-certificate-data"] = base64_encode(spec.cert_pem);
  if (!spec.key_pem.empty()) user["client-key-data"] = base64_encode(spec.key_pem);
  if (!spec.token.empty()) user["token"] = spec.token;
  Json context = {{"cluster", spec.cluster_name}, {"user", spec.user_name}};
  if (!spec.ns.empty()) context["namespace"] = spec.ns;
  Json doc = {
      {"apiVersion", "v1"},
      {"kind", "Config"},
      {"preferences", Json::object()},
      {"clusters", Json::array({{{"name", spec.cluster_name}, {"cluster", cluster}}})},
      {"users", Json::array({{{"name", spec.user_name}, {"user", user}}})},
      {"contexts", Json::array({{{"name", spec.context_name}, {"context", context}}})},
      {"current-context", spec.context_name},
  };
  return to_yaml(doc);
}

bool write_kubeconfig(const std::string& path, const KubeconfigSpec& spec, std::string* error) {
  std::string text = render_kubeconfig(spec);
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  auto fail = [&](const std::string& what) {
    if (error) *error = what + " " + tmp + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  };
  if (fd < 0) return fail("cannot create");
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("cannot sync");
  ::close(fd);
  fd = -1;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    if (error) *error = "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace k8c::client
