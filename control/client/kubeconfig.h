// Kubeconfig files: reading the current context into connection settings, and writing the
// admin kubeconfig that `k8c server` and `k8c up` generate (one writer, so both agree).
#pragma once

#include "common/http.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace k8c::client {

// A private directory (mode 0700) holding credentials that a kubeconfig carried inline; removed
// with its contents when the last Kubeconfig referring to it goes away.
class CredentialDir {
 public:
  static std::shared_ptr<CredentialDir> create(std::string* error);
  ~CredentialDir();
  CredentialDir(const CredentialDir&) = delete;
  CredentialDir& operator=(const CredentialDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes `name` in the directory with mode 0600; returns its path, or "" and sets `error`.
  std::string write(const std::string& name, const std::string& data, std::string* error);

 private:
  explicit CredentialDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// The resolved current context of a kubeconfig.
struct Kubeconfig {
  std::string source;        // the file it came from ("" when parsed from text)
  std::string context_name;  // the context used
  std::string cluster_name;
  std::string user_name;

  std::string server;  // "https://127.0.0.1:6443"
  std::string host;    // "127.0.0.1" (brackets stripped for IPv6)
  uint16_t port = 0;   // explicit or 443/80 by scheme
  bool tls = true;
  std::string path_prefix;  // a server URL path ("/k8s"), prepended to every API path
  std::string tls_server_name;
  // Read for completeness; http::Client always verifies, so such a cluster only works when its
  // certificate also verifies against the CA or the system roots.
  bool insecure_skip_tls_verify = false;

  // Credentials as files the HTTP client can load. Paths from the kubeconfig are resolved
  // against its directory, as kubectl does; inline *-data fields are written to `credentials`.
  // Without a CA the system's trusted roots verify the server, as with kubectl.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string token;  // bearer token (users[].user.token or tokenFile)

  std::string ns = "default";  // contexts[].context.namespace

  std::shared_ptr<CredentialDir> credentials;  // keeps inline credentials on disk while in use

  // Connection options for http::Client.
  http::ClientOptions client_options() const;
};

// Parses kubeconfig text. `origin` names the file in errors and anchors relative paths
// ("" means the current directory). `context` overrides current-context when non-empty.
// On failure returns nullopt and sets `error` to one line naming the file and the field.
std::optional<Kubeconfig> parse_kubeconfig(std::string_view text, const std::string& origin,
                                           std::string* error, const std::string& context = {});
std::optional<Kubeconfig> load_kubeconfig(const std::string& path, std::string* error,
                                          const std::string& context = {});
// $KUBECONFIG (its first entry) or else ~/.kube/config.
std::string default_kubeconfig_path();

// What `k8c server` and `k8c up` write: one cluster, one user, one context, credentials inline.
struct KubeconfigSpec {
  std::string server;  // "https://127.0.0.1:6443"
  std::string ca_pem;
  std::string cert_pem;  // client certificate, or empty with a token
  std::string key_pem;
  std::string token;
  std::string cluster_name = "k8c";
  std::string user_name = "admin";
  std::string context_name = "k8c";
  std::string ns;  // context namespace; empty: none (kubectl uses "default")
};

// The kubeconfig as YAML text.
std::string render_kubeconfig(const KubeconfigSpec& spec);
// Writes it atomically (temp file + rename) with mode 0600: it holds a private key.
// Returns false and sets `error` on failure.
bool write_kubeconfig(const std::string& path, const KubeconfigSpec& spec, std::string* error);


}  // namespace k8c::client
