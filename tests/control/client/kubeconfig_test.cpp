#include "control/client/kubeconfig.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <sys/stat.h>
#include <unistd.h>

namespace k8c::client {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

class TempDir {
 public:
  TempDir() {
    std::string t = (fs::temp_directory_path() / "k8c-kctest-XXXXXX").string();
    EXPECT_NE(mkdtemp(t.data()), nullptr);
    path_ = t;
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name, const std::string& content) const {
    std::string p = path_ + "/" + name;
    fs::create_directories(fs::path(p).parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Kubeconfig, WriterOutputParsesBackWithInlineCredentialsInPrivateFiles) {
  KubeconfigSpec spec;
  spec.server = "https://127.0.0.1:6443";
  spec.ca_pem = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
  spec.cert_pem = "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n";
  spec.key_pem = "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n";
  spec.ns = "team-a";
  std::string text = render_kubeconfig(spec);
  EXPECT_NE(text.find("certificate-authority-data"), std::string::npos);
  EXPECT_NE(text.find("client-key-data"), std::string::npos);
  EXPECT_EQ(text.find("BEGIN"), std::string::npos);  // PEM only appears base64-encoded

  std::string err;
  std::string dir;
  {
    auto cfg = parse_kubeconfig(text, "", &err);
    ASSERT_TRUE(cfg) << err;
    EXPECT_EQ(cfg->context_name, "k8c");
    EXPECT_EQ(cfg->cluster_name, "k8c");
    EXPECT_EQ(cfg->user_name, "admin");
    EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");
    EXPECT_EQ(cfg->host, "127.0.0.1");
    EXPECT_EQ(cfg->port, 6443);
    EXPECT_TRUE(cfg->tls);
    EXPECT_EQ(cfg->ns, "team-a");
    ASSERT_TRUE(cfg->credentials);
    dir = cfg->credentials->path();
    EXPECT_EQ(mode_of(dir), 0700u);
    EXPECT_EQ(slurp(cfg->ca_file), spec.ca_pem);
    EXPECT_EQ(slurp(cfg->cert_file), spec.cert_pem);
    EXPECT_EQ(slurp(cfg->key_file), spec.key_pem);
    EXPECT_EQ(mode_of(cfg->key_file), 0600u);
    EXPECT_EQ(mode_of(cfg->ca_file), 0600u);

    http::ClientOptions o = cfg->client_options();
    EXPECT_EQ(o.host, "127.0.0.1");
    EXPECT_EQ(o.port, 6443);
    EXPECT_TRUE(o.tls);
    EXPECT_EQ(o.ca_file, cfg->ca_file);
    EXPECT_EQ(o.cert_file, cfg->cert_file);
    EXPECT_EQ(o.key_file, cfg->key_file);

    // Copies share the directory; it lives while any copy does.
    Kubeconfig copy = *cfg;
    cfg.reset();
    EXPECT_TRUE(fs::exists(copy.key_file));
  }
  EXPECT_FALSE(fs::exists(dir));  // private credentials do not outlive their users
}

TEST(Kubeconfig, WriteKubeconfigIsPrivateAndLoads) {
  TempDir tmp;
  KubeconfigSpec spec;
  spec.server = "https://10.0.0.1:6443";
  spec.ca_pem = "CA";
  spec.token = "sekret";
  std::string path = tmp.path() + "/admin.kubeconfig";
  std::string err;
  ASSERT_TRUE(write_kubeconfig(path, spec, &err)) << err;
  EXPECT_EQ(mode_of(path), 0600u);
  auto cfg = load_kubeconfig(path, &err);
  ASSERT_TRUE(cfg) << err;
  EXPECT_EQ(cfg->source, path);
  EXPECT_EQ(cfg->token, "sekret");
  EXPECT_EQ(cfg->ns, "default");
  EXPECT_TRUE(cfg->cert_file.empty());
  // Overwrite is atomic and leaves no temp files behind.
  spec.token = "rotated";
  ASSERT_TRUE(write_kubeconfig(path, spec, &err)) << err;
  EXPECT_EQ(load_kubeconfig(path, &err)->token, "rotated");
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 1);
}

TEST(Kubeconfig, FileReferencesResolveAgainstTheKubeconfigDirectory) {
  TempDir tmp;
  tmp.file("pki/ca.crt", "CA");
  tmp.file("pki/client.crt", "CRT");
  std::string abs_key = tmp.file("elsewhere/client.key", "KEY");
  tmp.file("token", "tok123\n");
  std::string path = tmp.file("conf/../config", R"(apiVersion: v1
kind: Config
current-context: dev
contexts:
- name: prod
  context: {cluster: other, user: nobody}
- name: dev
  context:
    cluster: local
    user: me
    namespace: 2024
clusters:
- name: local
  cluster:
    server: https://[::1]:7443/prefix/
    certificate-authority: pki/ca.crt
    tls-server-name: kubernetes
users:
- name: me
  user:
    client-certificate: pki/client.crt
    client-key: )" + abs_key + R"(
    tokenFile: token
)");
  std::string err;
  auto cfg = load_kubeconfig(path, &err);
  ASSERT_TRUE(cfg) << err;
  EXPECT_EQ(cfg->ca_file, tmp.path() + "/pki/ca.crt");
  EXPECT_EQ(cfg->cert_file, tmp.path() + "/pki/client.crt");
  EXPECT_EQ(cfg->key_file, abs_key);
  EXPECT_FALSE(cfg->credentials);  // nothing inline, nothing written
  EXPECT_EQ(cfg->token, "tok123");
  EXPECT_EQ(cfg->host, "::1");
  EXPECT_EQ(cfg->port, 7443);
  EXPECT_EQ(cfg->path_prefix, "/prefix");
  EXPECT_EQ(cfg->tls_server_name, "kubernetes");
  EXPECT_EQ(cfg->client_options().server_name, "kubernetes");
  EXPECT_EQ(cfg->ns, "2024");  // a YAML number read as the string it names
}

TEST(Kubeconfig, ContextOverrideAndDefaultPorts) {
  std::string text = R"(
current-context: a
contexts:
- {name: a, context: {cluster: ca}}
- {name: b, context: {cluster: cb}}
clusters:
- {name: ca, cluster: {server: "http://localhost"}}
- {name: cb, cluster: {server: "https://example.com", insecure-skip-tls-verify: true}}
)";
  std::string err;
  auto a = parse_kubeconfig(text, "", &err);
  ASSERT_TRUE(a) << err;
  EXPECT_FALSE(a->tls);
  EXPECT_EQ(a->port, 80);
  EXPECT_TRUE(a->user_name.empty());
  auto b = parse_kubeconfig(text, "", &err, "b");
  ASSERT_TRUE(b) << err;
  EXPECT_TRUE(b->tls);
  EXPECT_EQ(b->port, 443);
  EXPECT_TRUE(b->insecure_skip_tls_verify);
  EXPECT_EQ(b->host, "example.com");
}

struct BadCase {
  std::string name;
  std::string text;
  std::string want;  // substring of the error
};

TEST(Kubeconfig, ErrorsNameTheFileAndTheField) {
  const std::string clusters = R"(
clusters:
- name: c
  cluster: {server: "https://h:1", certificate-authority-data: Q0E=}
)";
  std::vector<BadCase> cases = {
      {"yaml", "a: [b", "invalid YAML"},
      {"not a map", "- a\n- b\n", "not a kubeconfig"},
      {"no current", "contexts: []\n", "current-context is not set"},
      {"no context", "current-context: x\ncontexts: []\n", "contexts: no context named \"x\""},
      {"no cluster ref", "current-context: x\ncontexts:\n- {name: x, context: {}}\n",
       "contexts[x].context.cluster is not set"},
      {"no cluster", "current-context: x\ncontexts:\n- {name: x, context: {cluster: c}}\n",
       "clusters: no cluster named \"c\""},
      {"no server",
       "current-context: x\ncontexts:\n- {name: x, context: {cluster: c}}\n"
       "clusters:\n- {name: c, cluster: {}}\n",
       "clusters[c].cluster.server is not set"},
      {"bad scheme",
       "current-context: x\ncontexts:\n- {name: x, context: {cluster: c}}\n"
       "clusters:\n- {name: c, cluster: {server: 'ftp://h'}}\n",
       "clusters[c].cluster.server: server URL \"ftp://h\" must start with https://"},
      {"bad port",
       "current-context: x\ncontexts:\n- {name: x, context: {cluster: c}}\n"
       "clusters:\n- {name: c, cluster: {server: 'https://h:99999'}}\n",
       "invalid port"},
      {"bad base64",
       "current-context: x\ncontexts:\n- {name: x, context: {cluster: c}}\n"
       "clusters:\n- {name: c, cluster: {server: 'https://h:1', "
       "certificate-authority-data: '!!!'}}\n",
       "clusters[c].cluster.certificate-authority-data is not valid base64"},
      {"missing file",
       "current-context: x\ncontexts:\n- {name: x, context: {cluster: c}}\n"
       "clusters:\n- {name: c, cluster: {server: 'https://h:1', "
       "certificate-authority: /nonexistent/ca.crt}}\n",
       "clusters[c].cluster.certificate-authority: cannot read /nonexistent/ca.crt"},
      {"no user",
       "current-context: x\ncontexts:\n- {name: x, context: {cluster: c, user: u}}\n" + clusters,
       "users: no user named \"u\""},
      {"cert without key",
       "current-context: x\ncontexts:\n- {name: x, context: {cluster: c, user: u}}\n" + clusters +
           "users:\n- {name: u, user: {client-certificate-data: Q0E=}}\n",
       "users[u].user: client-certificate and client-key must be given together"},
  };
  for (const auto& c : cases) {
    std::string err;
    auto cfg = parse_kubeconfig(c.text, "/etc/k8c/test.kubeconfig", &err);
    EXPECT_FALSE(cfg) << c.name;
    EXPECT_EQ(err.rfind("/etc/k8c/test.kubeconfig: ", 0), 0u) << c.name << ": " << err;
    EXPECT_NE(err.find(c.want), std::string::npos) << c.name << ": " << err;
  }
}

TEST(Kubeconfig, MissingFileError) {
  std::string err;
  EXPECT_FALSE(load_kubeconfig("/nonexistent/dir/config", &err));
  EXPECT_NE(err.find("/nonexistent/dir/config: cannot read kubeconfig"), std::string::npos) << err;
}

TEST(Kubeconfig, DefaultPathHonoursKUBECONFIG) {
  const char* old = std::getenv("KUBECONFIG");
  std::string saved = old ? old : "";
  ::setenv("KUBECONFIG", "/a/first:/b/second", 1);
  EXPECT_EQ(default_kubeconfig_path(), "/a/first");
  ::unsetenv("KUBECONFIG");
  EXPECT_NE(default_kubeconfig_path().find("/.kube/config"), std::string::npos);
  if (old) ::setenv("KUBECONFIG", saved.c_str(), 1);
}

}  // namespace
}  // namespace k8c::client
