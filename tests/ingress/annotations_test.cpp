// ingress.k8c.io/ annotations: parsing, defaults, rejection of invalid values (the default stays
// and an error is recorded on the route and in diagnostics), and rewrite-target paths.
#include <gtest/gtest.h>

#include "ingress/annotations.h"
#include "ingress/route_table.h"
#include "ingress/test_objects.h"

namespace k8c::ingress {
namespace {

using namespace objects;
using std::chrono::milliseconds;

RouteOptions parse(Json annotations) {
  return parse_annotations(&annotations, RouteDefaults{});
}

TEST(Annotations, DefaultsWhenAbsent) {
  RouteOptions o = parse_annotations(nullptr, RouteDefaults{});
  EXPECT_EQ(o.proxy_body_size, 1u << 20);
  EXPECT_EQ(o.connect_timeout, milliseconds(5000));
  EXPECT_EQ(o.read_timeout, milliseconds(60000));
  EXPECT_EQ(o.send_timeout, milliseconds(60000));
  EXPECT_FALSE(o.ssl_redirect.has_value());
  EXPECT_TRUE(o.rewrite_target.empty());
  EXPECT_TRUE(o.errors.empty());
}

TEST(Annotations, AllValidValues) {
  RouteOptions o = parse({{"ingress.k8c.io/rewrite-target", "/v2/"},
                          {"ingress.k8c.io/ssl-redirect", "false"},
                          {"ingress.k8c.io/proxy-body-size", "8m"},
                          {"ingress.k8c.io/proxy-connect-timeout", "3"},
                          {"ingress.k8c.io/proxy-read-timeout", "1500ms"},
                          {"ingress.k8c.io/proxy-send-timeout", "2m"},
                          {"nginx.ingress.kubernetes.io/rewrite-target", "/ignored"}});
  EXPECT_TRUE(o.errors.empty()) << o.errors.front();
  EXPECT_EQ(o.rewrite_target, "/v2/");
  EXPECT_EQ(o.ssl_redirect, false);
  EXPECT_EQ(o.proxy_body_size, 8u << 20);
  EXPECT_EQ(o.connect_timeout, milliseconds(3000));
  EXPECT_EQ(o.read_timeout, milliseconds(1500));
  EXPECT_EQ(o.send_timeout, milliseconds(120000));
}

TEST(Annotations, BodySizes) {
  std::string err;
  EXPECT_EQ(parse_body_size("0", &err), 0u);
  EXPECT_EQ(parse_body_size("1024", &err), 1024u);
  EXPECT_EQ(parse_body_size("512k", &err), 512u << 10);
  EXPECT_EQ(parse_body_size("512K", &err), 512u << 10);
  EXPECT_EQ(parse_body_size("1g", &err), uint64_t{1} << 30);
  EXPECT_EQ(parse_body_size("2G", &err), uint64_t{2} << 30);
  for (std::string_view bad : {"", "m", "-1", "1.5m", "10x", " 10m", "10mb", "99999999999999999g",
                               "18446744073709551616"}) {
    err.clear();
    EXPECT_FALSE(parse_body_size(bad, &err).has_value()) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

TEST(Annotations, Timeouts) {
  std::string err;
  EXPECT_EQ(parse_timeout("60", &err), milliseconds(60000));
  EXPECT_EQ(parse_timeout("60s", &err), milliseconds(60000));
  EXPECT_EQ(parse_timeout("1ms", &err), milliseconds(1));
  EXPECT_EQ(parse_timeout("1440m", &err), milliseconds(86400000));
  for (std::string_view bad : {"0", "0s", "", "s", "-5", "1.5", "1h", "1441m", "86401", "5 s"}) {
    err.clear();
    EXPECT_FALSE(parse_timeout(bad, &err).has_value()) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

TEST(Annotations, Booleans) {
  EXPECT_EQ(parse_bool("true", nullptr), true);
  EXPECT_EQ(parse_bool("false", nullptr), false);
  for (std::string_view bad : {"True", "yes", "1", "", "on"}) {
    EXPECT_FALSE(parse_bool(bad, nullptr).has_value()) << bad;
  }
}

TEST(Annotations, RewriteTargets) {
  std::string err;
  EXPECT_TRUE(valid_rewrite_target("/", &err));
  EXPECT_TRUE(valid_rewrite_target("/api/v2", &err));
  for (std::string_view bad : {"", "api", "/$1", "/a?b=c", "/a#f", "/a b", "/a\nb"}) {
    err.clear();
    EXPECT_FALSE(valid_rewrite_target(bad, &err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
  EXPECT_FALSE(valid_rewrite_target("/" + std::string(1024, 'a'), &err));
}

TEST(Annotations, InvalidValuesKeepTheDefaultAndSayWhy) {
  RouteOptions o = parse({{"ingress.k8c.io/proxy-body-size", "lots"},
                          {"ingress.k8c.io/proxy-read-timeout", "0"},
                          {"ingress.k8c.io/ssl-redirect", "yes"},
                          {"ingress.k8c.io/rewrite-target", "/$1"}});
  EXPECT_EQ(o.proxy_body_size, 1u << 20);
  EXPECT_EQ(o.read_timeout, milliseconds(60000));
  EXPECT_FALSE(o.ssl_redirect.has_value());
  EXPECT_TRUE(o.rewrite_target.empty());
  ASSERT_EQ(o.errors.size(), 4u);
  // nlohmann objects iterate in key order.
  EXPECT_EQ(o.errors[0],
            "ingress.k8c.io/proxy-body-size: invalid value \"lots\": expected a size such as 8m, "
            "512k, 1g or 0 (unlimited); using the default 1048576 bytes");
  EXPECT_EQ(o.errors[1],
            "ingress.k8c.io/proxy-read-timeout: invalid value \"0\": expected a duration between "
            "1ms and 24h such as 30, 30s, 500ms or 2m; using the default 60000ms");
  EXPECT_NE(o.errors[2].find("ingress.k8c.io/rewrite-target: invalid value \"/$1\""),
            std::string::npos);
  EXPECT_NE(o.errors[3].find("ingress.k8c.io/ssl-redirect: invalid value \"yes\""),
            std::string::npos);
}

TEST(Annotations, UnknownNamesAndNonStringValuesAreReported) {
  RouteOptions o =
      parse({{"ingress.k8c.io/proxy-body-sise", "1m"}, {"ingress.k8c.io/proxy-body-size", 5}});
  ASSERT_EQ(o.errors.size(), 2u);
  EXPECT_EQ(o.errors[0], "ingress.k8c.io/proxy-body-sise: unknown annotation; ignored");
  EXPECT_EQ(o.errors[1], "ingress.k8c.io/proxy-body-size: value must be a string; ignored");
  EXPECT_EQ(o.proxy_body_size, 1u << 20);
}

TEST(Annotations, ControlCharactersDoNotBreakLogLines) {
  RouteOptions o = parse({{"ingress.k8c.io/proxy-body-size", "1\n2"}});
  ASSERT_EQ(o.errors.size(), 1u);
  EXPECT_EQ(o.errors[0].find('\n'), std::string::npos);
}

TEST(Annotations, ControllerDefaultsAreConfigurable) {
  RouteDefaults d;
  d.proxy_body_size = 0;
  d.read_timeout = milliseconds(5);
  RouteOptions o = parse_annotations(nullptr, d);
  EXPECT_EQ(o.proxy_body_size, 0u);
  EXPECT_EQ(o.read_timeout, milliseconds(5));
}

// Through the table: annotations reach every route of their Ingress, and only that Ingress.
class AnnotatedTable : public ::testing::Test {
 protected:
  void SetUp() override {
    snap_.services = {service("default", "app", {service_port("", 80, 80)})};
    snap_.ingresses.push_back(
        ingress("default", "annotated")
            .annotation("ingress.k8c.io/proxy-body-size", "bogus")
            .annotation("ingress.k8c.io/proxy-read-timeout", "5s")
            .annotation("ingress.k8c.io/rewrite-target", "/")
            .rules({rule("a.com", {path("/app", "Prefix", service_backend("app", 80)),
                                   path("/exact", "Exact", service_backend("app", 80))})})
            .default_backend(service_backend("app", 80)));
    snap_.ingresses.push_back(
        ingress("default", "plain")
            .rules({rule("b.com", {path("/app", "Prefix", service_backend("app", 80))})}));
    table_ = build_route_table(snap_);
  }
  std::string rewritten(std::string_view host, std::string_view path) {
    std::string out;
    RouteTable::rewrite_path(*table_->match(host, path), path, out);
    return out;
  }
  Snapshot snap_;
  std::shared_ptr<const RouteTable> table_;
};

TEST_F(AnnotatedTable, RoutesCarryTheirIngressSettings) {
  const Route* a = table_->match("a.com", "/app/x");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->options.read_timeout, milliseconds(5000));
  EXPECT_EQ(a->options.proxy_body_size, 1u << 20) << "invalid value must not change behaviour";
  ASSERT_EQ(a->options.errors.size(), 1u);
  EXPECT_NE(a->options.errors[0].find("proxy-body-size"), std::string::npos);

  const Route* b = table_->match("b.com", "/app");
  EXPECT_EQ(b->options.read_timeout, milliseconds(60000));
  EXPECT_TRUE(b->options.errors.empty());
}

TEST_F(AnnotatedTable, ErrorsAreReportedOncePerIngressInDiagnostics) {
  ASSERT_EQ(table_->diagnostics().size(), 1u);
  EXPECT_EQ(table_->diagnostics()[0].object, "Ingress default/annotated");
  EXPECT_NE(table_->diagnostics()[0].message.find("proxy-body-size"), std::string::npos);
}

TEST_F(AnnotatedTable, RewriteReplacesTheMatchedPrefix) {
  EXPECT_EQ(rewritten("a.com", "/app"), "/");
  EXPECT_EQ(rewritten("a.com", "/app/"), "/");
  EXPECT_EQ(rewritten("a.com", "/app/x/y"), "/x/y");
  EXPECT_EQ(rewritten("a.com", "/exact"), "/");
  EXPECT_EQ(rewritten("b.com", "/app/x"), "/app/x") << "no annotation, no rewrite";
  EXPECT_EQ(rewritten("a.com", "/elsewhere"), "/elsewhere") << "defaultBackend is not rewritten";
}

TEST(Rewrite, JoinsTargetAndRemainderWithOneSlash) {
  Snapshot s;
  s.services = {service("default", "app", {service_port("", 80, 80)})};
  s.ingresses.push_back(
      ingress("default", "one")
          .annotation("ingress.k8c.io/rewrite-target", "/v2/")
          .rules({rule("a.com", {path("/api/", "Prefix", service_backend("app", 80))})}));
  s.ingresses.push_back(
      ingress("default", "two")
          .annotation("ingress.k8c.io/rewrite-target", "/base")
          .rules({rule("b.com", {path("/", "Prefix", service_backend("app", 80))})}));
  auto t = build_route_table(s);
  auto rw = [&](std::string_view host, std::string_view p) {
    std::string out = "keep:";
    RouteTable::rewrite_path(*t->match(host, p), p, out);
    return out;
  };
  EXPECT_EQ(rw("a.com", "/api"), "keep:/v2/");
  EXPECT_EQ(rw("a.com", "/api/users/7"), "keep:/v2/users/7");
  EXPECT_EQ(rw("a.com", "/api/users/"), "keep:/v2/users/");
  EXPECT_EQ(rw("b.com", "/"), "keep:/base/");
  EXPECT_EQ(rw("b.com", "/x"), "keep:/base/x");
}

TEST(SslRedirect, DefaultsToWhetherTheHostHasACertificate) {
  Snapshot s;
  s.services = {service("default", "app", {service_port("", 80, 80)})};
  s.secrets = {tls_secret("default", "a-tls", fake_cert_pem("a"), fake_key_pem("a"))};
  s.ingresses.push_back(
      ingress("default", "tls")
          .tls({"a.com"}, "a-tls")
          .rules({rule("a.com", {path("/", "Prefix", service_backend("app", 80))}),
                  rule("b.com", {path("/", "Prefix", service_backend("app", 80))})}));
  s.ingresses.push_back(
      ingress("default", "opt-out")
          .annotation("ingress.k8c.io/ssl-redirect", "false")
          .rules({rule("a.com", {path("/no", "Prefix", service_backend("app", 80))})}));
  s.ingresses.push_back(
      ingress("default", "opt-in")
          .annotation("ingress.k8c.io/ssl-redirect", "true")
          .rules({rule("c.com", {path("/", "Prefix", service_backend("app", 80))})}));
  auto t = build_route_table(s);
  EXPECT_TRUE(t->match("a.com", "/")->ssl_redirect);
  EXPECT_TRUE(t->match("a.com", "/")->has_certificate);
  EXPECT_FALSE(t->match("b.com", "/")->ssl_redirect);
  EXPECT_FALSE(t->match("a.com", "/no")->ssl_redirect);
  EXPECT_TRUE(t->match("a.com", "/no")->has_certificate);
  EXPECT_TRUE(t->match("c.com", "/")->ssl_redirect);
}

}  // namespace
}  // namespace k8c::ingress
