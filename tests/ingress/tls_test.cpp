// SNI to certificate selection from spec.tls[] and kubernetes.io/tls Secrets.
#include <gtest/gtest.h>

#include "ingress/route_table.h"
#include "ingress/test_objects.h"

namespace k8c::ingress {
namespace {

using namespace objects;

std::string secret_of(const Certificate* c) {
  return c ? c->secret_name : "<none>";
}

class Sni : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"shop-tls", "blog-tls", "wild-tls", "default-tls"}) {
      snap_.secrets.push_back(tls_secret("web", name, fake_cert_pem(name), fake_key_pem(name)));
    }
    snap_.ingresses.push_back(ingress("web", "shop")
                                  .tls({"shop.example.com"}, "shop-tls")
                                  .tls({"*.example.com"}, "wild-tls"));
    snap_.ingresses.push_back(ingress("web", "blog").tls({"blog.example.com"}, "blog-tls"));
    table_ = build_route_table(snap_);
  }
  std::string at(std::string_view sni) { return secret_of(table_->certificate(sni)); }

  Snapshot snap_;
  std::shared_ptr<const RouteTable> table_;
};

TEST_F(Sni, TwoHostsGetTheirOwnCertificates) {
  EXPECT_EQ(at("shop.example.com"), "shop-tls");
  EXPECT_EQ(at("blog.example.com"), "blog-tls");
  EXPECT_TRUE(table_->diagnostics().empty());
}

TEST_F(Sni, PemIsDecodedFromSecretData) {
  const Certificate* c = table_->certificate("shop.example.com");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->cert_pem, fake_cert_pem("shop-tls"));
  EXPECT_EQ(c->key_pem, fake_key_pem("shop-tls"));
  EXPECT_EQ(c->secret_namespace, "web");
  EXPECT_EQ(c->resource_version, "1");
}

TEST_F(Sni, CaseAndTrailingDotAreIgnored) {
  EXPECT_EQ(at("SHOP.Example.COM"), "shop-tls");
  EXPECT_EQ(at("blog.example.com."), "blog-tls");
}

TEST_F(Sni, WildcardCertificateCoversOneLabel) {
  EXPECT_EQ(at("api.example.com"), "wild-tls");
  EXPECT_EQ(at("a.b.example.com"), "<none>");
  EXPECT_EQ(at("example.com"), "<none>");
}

TEST_F(Sni, ExactNameBeatsWildcard) {
  EXPECT_EQ(at("shop.example.com"), "shop-tls");
}

TEST_F(Sni, NoSniAndNoDefaultMeansNoCertificate) {
  EXPECT_EQ(at(""), "<none>");
}

TEST_F(Sni, TlsEntryWithoutHostsIsTheDefaultCertificate) {
  snap_.ingresses.push_back(ingress("web", "fallback").tls({}, "default-tls"));
  table_ = build_route_table(snap_);
  EXPECT_EQ(at(""), "default-tls");
  EXPECT_EQ(at("unknown.org"), "default-tls");
  EXPECT_EQ(at("a.b.example.com"), "default-tls");
  EXPECT_EQ(at("shop.example.com"), "shop-tls");
}

TEST_F(Sni, SameHostInTwoIngressesGoesToTheOlder) {
  snap_.ingresses.push_back(ingress("web", "aaa-newer")
                                .created("2025-01-01T00:00:00Z")
                                .tls({"shop.example.com"}, "blog-tls"));
  table_ = build_route_table(snap_);
  EXPECT_EQ(at("shop.example.com"), "shop-tls");
  ASSERT_EQ(table_->diagnostics().size(), 1u);
  EXPECT_EQ(table_->diagnostics()[0].object, "Ingress web/aaa-newer");
  EXPECT_NE(table_->diagnostics()[0].message.find("web/shop-tls"), std::string::npos);
}

TEST_F(Sni, IngressesOfOtherClassesDoNotProvideCertificates) {
  snap_.ingresses.push_back(
      ingress("web", "nginx").cls("nginx").tls({"nginx.example.org"}, "shop-tls"));
  table_ = build_route_table(snap_);
  EXPECT_EQ(at("nginx.example.org"), "<none>");
}

TEST(SniErrors, BadSecretsAreReportedAndGiveNoCertificate) {
  Snapshot s;
  Json no_key = tls_secret("web", "no-key", fake_cert_pem("x"), fake_key_pem("x"));
  no_key["data"].erase("tls.key");
  Json bad_b64 = tls_secret("web", "bad-b64", fake_cert_pem("x"), fake_key_pem("x"));
  bad_b64["data"]["tls.crt"] = "!!!not base64!!!";
  Json not_pem = tls_secret("web", "not-pem", "just text", fake_key_pem("x"));
  Json key_as_cert = tls_secret("web", "swapped", fake_key_pem("x"), fake_cert_pem("x"));
  s.secrets = {no_key, bad_b64, not_pem, key_as_cert};
  s.ingresses.push_back(ingress("web", "broken")
                            .tls({"missing.com"}, "does-not-exist")
                            .tls({"nokey.com"}, "no-key")
                            .tls({"b64.com"}, "bad-b64")
                            .tls({"pem.com"}, "not-pem")
                            .tls({"swapped.com"}, "swapped"));
  auto t = build_route_table(s);
  for (const char* host : {"missing.com", "nokey.com", "b64.com", "pem.com", "swapped.com"}) {
    EXPECT_EQ(t->certificate(host), nullptr) << host;
  }
  std::vector<std::string> messages;
  for (const Diagnostic& d : t->diagnostics()) messages.push_back(d.message);
  ASSERT_EQ(messages.size(), 5u);
  EXPECT_EQ(messages[0], "tls: Secret web/does-not-exist not found; its hosts get no certificate");
  EXPECT_EQ(messages[1],
            "tls: Secret web/no-key has no tls.crt and tls.key; its hosts get no certificate");
  EXPECT_NE(messages[2].find("not valid base64"), std::string::npos);
  EXPECT_NE(messages[3].find("tls.crt is not a PEM certificate"), std::string::npos);
  EXPECT_NE(messages[4].find("tls.crt is not a PEM certificate"), std::string::npos);
}

TEST(SniErrors, OneSecretForSeveralHostsIsLoadedOnce) {
  Snapshot s;
  s.secrets = {tls_secret("web", "multi", fake_cert_pem("m"), fake_key_pem("m"))};
  s.ingresses.push_back(ingress("web", "a").tls({"a.com", "b.com"}, "multi"));
  s.ingresses.push_back(ingress("web", "b").tls({"c.com"}, "multi"));
  auto t = build_route_table(s);
  EXPECT_EQ(t->certificate("a.com"), t->certificate("c.com"));
  EXPECT_NE(t->certificate("b.com"), nullptr);
  EXPECT_TRUE(t->diagnostics().empty());
}

TEST(SniErrors, SecretsAreLookedUpInTheIngressNamespace) {
  Snapshot s;
  s.secrets = {tls_secret("other", "t", fake_cert_pem("t"), fake_key_pem("t"))};
  s.ingresses.push_back(ingress("web", "a").tls({"a.com"}, "t"));
  auto t = build_route_table(s);
  EXPECT_EQ(t->certificate("a.com"), nullptr);
}

}  // namespace
}  // namespace k8c::ingress
