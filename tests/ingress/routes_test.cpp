// Host and path routing, precedence, merging, defaultBackend and class selection, checked against
// the networking.k8s.io/v1 rules and the examples in the Kubernetes Ingress documentation.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ingress/route_table.h"
#include "ingress/test_objects.h"

namespace k8c::ingress {
namespace {

using namespace objects;

// Every backend Service used here exists with port 80, so names alone identify the route.
Json svc(std::string_view name) {
  return service("default", name, {service_port("", 80, 8080)});
}

std::string routed_to(const Route* r) {
  if (!r) return "<404>";
  return r->backend->service_name;
}

struct PathSpec {
  std::string path;
  std::string type;
  std::string service;
};

// The examples table of the Kubernetes Ingress concept page, one row per request.
struct PathCase {
  std::string name;
  std::vector<PathSpec> rules;
  std::string request;
  std::string expected;  // service name, or "<404>"
};

std::vector<PathCase> docs_examples() {
  return {
      {"PrefixRootMatchesAll", {{"/", "Prefix", "root"}}, "/anything/at/all", "root"},
      {"PrefixRootMatchesRoot", {{"/", "Prefix", "root"}}, "/", "root"},
      {"ExactSame", {{"/foo", "Exact", "foo"}}, "/foo", "foo"},
      {"ExactOther", {{"/foo", "Exact", "foo"}}, "/bar", "<404>"},
      {"ExactRequestTrailingSlash", {{"/foo", "Exact", "foo"}}, "/foo/", "<404>"},
      {"ExactRuleTrailingSlash", {{"/foo/", "Exact", "foo"}}, "/foo", "<404>"},
      {"PrefixFooReqFoo", {{"/foo", "Prefix", "foo"}}, "/foo", "foo"},
      {"PrefixFooReqFooSlash", {{"/foo", "Prefix", "foo"}}, "/foo/", "foo"},
      {"PrefixFooSlashReqFoo", {{"/foo/", "Prefix", "foo"}}, "/foo", "foo"},
      {"PrefixFooSlashReqFooSlash", {{"/foo/", "Prefix", "foo"}}, "/foo/", "foo"},
      {"PrefixPartialElement", {{"/aaa/bb", "Prefix", "a"}}, "/aaa/bbb", "<404>"},
      {"PrefixSame", {{"/aaa/bbb", "Prefix", "a"}}, "/aaa/bbb", "a"},
      {"PrefixRuleTrailingSlashIgnored", {{"/aaa/bbb/", "Prefix", "a"}}, "/aaa/bbb", "a"},
      {"PrefixRequestTrailingSlash", {{"/aaa/bbb", "Prefix", "a"}}, "/aaa/bbb/", "a"},
      {"PrefixSubpath", {{"/aaa/bbb", "Prefix", "a"}}, "/aaa/bbb/ccc", "a"},
      {"PrefixNotStringPrefix", {{"/aaa/bbb", "Prefix", "a"}}, "/aaa/bbbxyz", "<404>"},
      {"LongestOfRootAndAaa",
       {{"/", "Prefix", "root"}, {"/aaa", "Prefix", "aaa"}},
       "/aaa/ccc",
       "aaa"},
      {"LongestOfThree",
       {{"/", "Prefix", "root"}, {"/aaa", "Prefix", "aaa"}, {"/aaa/bbb", "Prefix", "bbb"}},
       "/aaa/bbb",
       "bbb"},
      {"RootWhenNothingLonger",
       {{"/", "Prefix", "root"}, {"/aaa", "Prefix", "aaa"}, {"/aaa/bbb", "Prefix", "bbb"}},
       "/ccc",
       "root"},
      {"NoPrefixMatch", {{"/aaa", "Prefix", "aaa"}}, "/ccc", "<404>"},
      {"ExactBeatsPrefixOnTie",
       {{"/foo", "Prefix", "prefix"}, {"/foo", "Exact", "exact"}},
       "/foo",
       "exact"},
      {"ExactBeatsPrefixOnTieListedFirst",
       {{"/foo", "Exact", "exact"}, {"/foo", "Prefix", "prefix"}},
       "/foo",
       "exact"},
      {"PrefixStillServesSubpathsBesideExact",
       {{"/foo", "Prefix", "prefix"}, {"/foo", "Exact", "exact"}},
       "/foo/x",
       "prefix"},
      // Beyond the table: case sensitivity, query strings, ImplementationSpecific, odd slashes.
      {"ExactCaseSensitive", {{"/Foo", "Exact", "foo"}}, "/foo", "<404>"},
      {"PrefixCaseSensitive", {{"/Foo", "Prefix", "foo"}}, "/foo/bar", "<404>"},
      {"ExactIgnoresQuery", {{"/foo", "Exact", "foo"}}, "/foo?x=1&y=/bar", "foo"},
      {"PrefixIgnoresQuery", {{"/foo", "Prefix", "foo"}}, "/foobar?/foo", "<404>"},
      {"PrefixQueryRightAfterElement", {{"/foo", "Prefix", "foo"}}, "/foo?a", "foo"},
      {"ImplSpecificIsElementPrefix",
       {{"/foo", "ImplementationSpecific", "impl"}},
       "/foo/x",
       "impl"},
      {"ImplSpecificNotStringPrefix",
       {{"/foo", "ImplementationSpecific", "impl"}},
       "/foobar",
       "<404>"},
      {"ImplSpecificWithoutPathMatchesAll", {{"", "ImplementationSpecific", "impl"}}, "/x", "impl"},
      {"LongerPrefixBeatsShorterExactMiss",
       {{"/a", "Exact", "exact"}, {"/a/b", "Prefix", "ab"}, {"/a", "Prefix", "a"}},
       "/a/b/c",
       "ab"},
      {"ExactWinsOverLongestPrefix",
       {{"/a/b/c", "Exact", "exact"}, {"/a/b", "Prefix", "ab"}},
       "/a/b/c",
       "exact"},
      {"DoubleSlashIsAnEmptyElement", {{"/foo/bar", "Prefix", "fb"}}, "/foo//bar", "<404>"},
      {"PrefixBeforeDoubleSlash", {{"/foo", "Prefix", "foo"}}, "/foo//bar", "foo"},
      {"PercentEncodingNotDecoded", {{"/foo/bar", "Prefix", "fb"}}, "/foo%2Fbar", "<404>"},
  };
}

// Each case runs with the linear scan (limit 100) and with the hash maps (limit 0), which must
// agree exactly.
class PathTypes : public ::testing::TestWithParam<std::tuple<PathCase, size_t>> {};

TEST_P(PathTypes, DocsExample) {
  const auto& [c, limit] = GetParam();
  Snapshot snap;
  std::vector<Json> paths;
  for (const PathSpec& p : c.rules) {
    paths.push_back(path(p.path, p.type, service_backend(p.service, 80)));
    snap.services.push_back(svc(p.service));
  }
  snap.ingresses.push_back(ingress("default", "web").rules({rule("example.com", paths)}));
  BuildOptions opts;
  opts.linear_path_limit = limit;
  auto table = build_route_table(snap, opts);
  EXPECT_EQ(routed_to(table->match("example.com", c.request)), c.expected)
      << "request " << c.request;
}

INSTANTIATE_TEST_SUITE_P(Docs, PathTypes,
                         ::testing::Combine(::testing::ValuesIn(docs_examples()),
                                            ::testing::Values(size_t{100}, size_t{0})),
                         [](const auto& info) {
                           return std::get<0>(info.param).name +
                                  (std::get<1>(info.param) == 0 ? "_Maps" : "_Linear");
                         });

TEST(PathTypes, ManyPathsOnOneHostUseMapsAndStillPickTheLongest) {
  Snapshot snap;
  std::vector<Json> paths;
  for (int i = 0; i < 50; ++i) {
    std::string name = "s" + std::to_string(i);
    paths.push_back(path("/api/v" + std::to_string(i), "Prefix", service_backend(name, 80)));
    snap.services.push_back(svc(name));
  }
  paths.push_back(path("/api/v7/admin", "Exact", service_backend("admin", 80)));
  snap.services.push_back(svc("admin"));
  snap.ingresses.push_back(ingress("default", "many").rules({rule("m.com", paths)}));
  auto table = build_route_table(snap);
  EXPECT_EQ(routed_to(table->match("m.com", "/api/v7/admin")), "admin");
  EXPECT_EQ(routed_to(table->match("m.com", "/api/v7/admin/x")), "s7");
  EXPECT_EQ(routed_to(table->match("m.com", "/api/v49")), "s49");
  EXPECT_EQ(routed_to(table->match("m.com", "/api/v4")), "s4");
  EXPECT_EQ(routed_to(table->match("m.com", "/api/v4x")), "<404>");
  EXPECT_EQ(routed_to(table->match("m.com", "/api")), "<404>");
}

class Hosts : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* s : {"exact", "wild", "any", "deep"}) snap_.services.push_back(svc(s));
    snap_.ingresses.push_back(
        ingress("default", "hosts")
            .rules({rule("foo.bar.com", {path("/", "Prefix", service_backend("exact", 80))}),
                    rule("*.bar.com", {path("/", "Prefix", service_backend("wild", 80))}),
                    rule("*.x.bar.com", {path("/", "Prefix", service_backend("deep", 80))}),
                    rule("", {path("/", "Prefix", service_backend("any", 80))})}));
    table_ = build_route_table(snap_);
  }
  std::string at(std::string_view host) { return routed_to(table_->match(host, "/")); }

  Snapshot snap_;
  std::shared_ptr<const RouteTable> table_;
};

TEST_F(Hosts, ExactHost) {
  EXPECT_EQ(at("foo.bar.com"), "exact");
}

TEST_F(Hosts, HostIsCaseInsensitive) {
  EXPECT_EQ(at("FOO.Bar.COM"), "exact");
  EXPECT_EQ(at("Baz.BAR.com"), "wild");
}

TEST_F(Hosts, PortIsIgnored) {
  EXPECT_EQ(at("foo.bar.com:8080"), "exact");
  EXPECT_EQ(at("baz.bar.com:443"), "wild");
}

TEST_F(Hosts, TrailingDotIsTheSameHost) {
  EXPECT_EQ(at("foo.bar.com."), "exact");
}

TEST_F(Hosts, WildcardCoversOneLabel) {
  EXPECT_EQ(at("baz.bar.com"), "wild");
}

TEST_F(Hosts, WildcardDoesNotCoverTwoLabels) {
  // baz.qux.bar.com is two labels under bar.com: not "*.bar.com", so it falls to host-less rules.
  EXPECT_EQ(at("baz.qux.bar.com"), "any");
}

TEST_F(Hosts, WildcardDoesNotCoverTheBareDomain) {
  EXPECT_EQ(at("bar.com"), "any");
}

TEST_F(Hosts, NarrowerWildcardForDeeperNames) {
  EXPECT_EQ(at("a.x.bar.com"), "deep");
}

TEST_F(Hosts, ExactBeatsWildcardBeatsHostless) {
  EXPECT_EQ(at("foo.bar.com"), "exact");
  EXPECT_EQ(at("other.bar.com"), "wild");
  EXPECT_EQ(at("unrelated.org"), "any");
}

TEST_F(Hosts, MissingOrOddHostHeaderUsesHostlessRules) {
  EXPECT_EQ(at(""), "any");
  EXPECT_EQ(at("[::1]:8080"), "any");
  EXPECT_EQ(at("127.0.0.1"), "any");
  EXPECT_EQ(at(std::string(400, 'a') + ".bar.com"), "any");
}

TEST_F(Hosts, WildcardLookupDoesNotCorruptLaterLookups) {
  EXPECT_EQ(at("zzz.bar.com"), "wild");
  EXPECT_EQ(at("foo.bar.com"), "exact");
}

TEST(HostPrecedence, HostIsChosenBeforePathWithoutFallThrough) {
  // The API evaluates the host first, then that host's paths: a request for an exact host whose
  // paths miss does not borrow the host-less "/" rule.
  Snapshot snap;
  snap.services = {svc("api"), svc("any")};
  snap.ingresses.push_back(
      ingress("default", "a")
          .rules({rule("my-app.com", {path("/api", "Prefix", service_backend("api", 80))}),
                  rule("", {path("/", "Prefix", service_backend("any", 80))})}));
  auto table = build_route_table(snap);
  EXPECT_EQ(routed_to(table->match("my-app.com", "/api/v1")), "api");
  EXPECT_EQ(routed_to(table->match("my-app.com", "/other")), "<404>");
  EXPECT_EQ(routed_to(table->match("else.com", "/other")), "any");
}

TEST(HostPrecedence, InvalidWildcardRulesAreReportedAndIgnored) {
  Snapshot snap;
  snap.services = {svc("a")};
  snap.ingresses.push_back(
      ingress("default", "bad")
          .rules({rule("foo.*.com", {path("/", "Prefix", service_backend("a", 80))}),
                  rule("*", {path("/", "Prefix", service_backend("a", 80))})}));
  auto table = build_route_table(snap);
  EXPECT_EQ(table->match("foo.x.com", "/"), nullptr);
  EXPECT_EQ(table->diagnostics().size(), 2u);
}

TEST(DefaultBackend, IngressWithOnlyADefaultBackendTakesEverything) {
  Snapshot snap;
  snap.services = {svc("fallback")};
  snap.ingresses.push_back(
      ingress("default", "catchall").default_backend(service_backend("fallback", 80)));
  auto table = build_route_table(snap);
  for (std::string_view host : {"", "a.com", "B.org:81"}) {
    const Route* r = table->match(host, "/any/path?q");
    ASSERT_NE(r, nullptr) << host;
    EXPECT_TRUE(r->is_default_backend);
    EXPECT_EQ(r->backend->service_name, "fallback");
  }
  EXPECT_EQ(table->default_backend(), table->match("x", "/"));
}

TEST(DefaultBackend, UnmatchedPathOfAHostUsesItsIngressDefault) {
  Snapshot snap;
  snap.services = {svc("old-default"), svc("app"), svc("app-default"), svc("other")};
  snap.ingresses.push_back(ingress("default", "old")
                               .default_backend(service_backend("old-default", 80))
                               .created("2023-01-01T00:00:00Z"));
  snap.ingresses.push_back(
      ingress("default", "app")
          .rules({rule("app.com", {path("/api", "Prefix", service_backend("app", 80))})})
          .default_backend(service_backend("app-default", 80))
          .created("2024-01-01T00:00:00Z"));
  snap.ingresses.push_back(
      ingress("default", "other")
          .rules({rule("other.com", {path("/api", "Prefix", service_backend("other", 80))})})
          .created("2024-01-01T00:00:00Z"));
  auto table = build_route_table(snap);
  EXPECT_EQ(routed_to(table->match("app.com", "/api")), "app");
  EXPECT_EQ(routed_to(table->match("app.com", "/web")), "app-default");
  // other.com's Ingress has no defaultBackend: the table-wide (oldest) one applies.
  EXPECT_EQ(routed_to(table->match("other.com", "/web")), "old-default");
  EXPECT_EQ(routed_to(table->match("unknown.com", "/")), "old-default");
  // The newer default is not table-wide, and that is reported.
  ASSERT_EQ(table->diagnostics().size(), 1u);
  EXPECT_NE(table->diagnostics()[0].message.find("default/old"), std::string::npos);
}

TEST(DefaultBackend, WithoutAnyDefaultBackendUnmatchedRequestsAre404) {
  Snapshot snap;
  snap.services = {svc("app")};
  snap.ingresses.push_back(
      ingress("default", "app")
          .rules({rule("app.com", {path("/api", "Exact", service_backend("app", 80))})}));
  auto table = build_route_table(snap);
  EXPECT_EQ(table->match("app.com", "/api/"), nullptr);
  EXPECT_EQ(table->match("nope.com", "/api"), nullptr);
  EXPECT_EQ(table->default_backend(), nullptr);
}

TEST(DefaultBackend, EmptyTableMatchesNothing) {
  auto table = build_route_table(Snapshot{});
  EXPECT_EQ(table->match("a.com", "/"), nullptr);
  EXPECT_EQ(table->route_count(), 0u);
  EXPECT_EQ(table->host_count(), 0u);
}

TEST(Merging, RulesForOneHostFromSeveralIngressesMerge) {
  Snapshot snap;
  snap.services = {svc("api"), svc("web"), svc("admin")};
  snap.ingresses.push_back(
      ingress("team-a", "api")
          .rules({rule("shop.com", {path("/api", "Prefix", service_backend("api", 80))})}));
  snap.ingresses.push_back(
      ingress("team-b", "web")
          .rules({rule("SHOP.com", {path("/", "Prefix", service_backend("web", 80))})}));
  snap.ingresses.push_back(
      ingress("team-b", "admin")
          .rules({rule("shop.com", {path("/api/admin", "Exact", service_backend("admin", 80))})}));
  for (auto& s : {"api", "web", "admin"}) {
    snap.services.push_back(service("team-a", s, {service_port("", 80, 80)}));
    snap.services.push_back(service("team-b", s, {service_port("", 80, 80)}));
  }
  auto table = build_route_table(snap);
  EXPECT_EQ(routed_to(table->match("shop.com", "/api/cart")), "api");
  EXPECT_EQ(table->match("shop.com", "/api/cart")->backend->service_namespace, "team-a");
  EXPECT_EQ(routed_to(table->match("shop.com", "/api/admin")), "admin");
  EXPECT_EQ(routed_to(table->match("shop.com", "/index.html")), "web");
  EXPECT_EQ(table->host_count(), 1u);
  EXPECT_TRUE(table->diagnostics().empty());
}

TEST(Merging, OldestIngressWinsAConflictWhateverTheListOrder) {
  Snapshot snap;
  snap.services = {svc("new"), svc("old")};
  snap.ingresses.push_back(
      ingress("default", "new")
          .rules({rule("c.com", {path("/x", "Prefix", service_backend("new", 80))})})
          .created("2024-05-01T00:00:00Z"));
  snap.ingresses.push_back(
      ingress("default", "old")
          .rules({rule("c.com", {path("/x/", "Prefix", service_backend("old", 80))})})
          .created("2024-04-30T23:59:59Z"));
  auto table = build_route_table(snap);
  EXPECT_EQ(routed_to(table->match("c.com", "/x/y")), "old");
  ASSERT_EQ(table->diagnostics().size(), 1u);
  EXPECT_EQ(table->diagnostics()[0].object, "Ingress default/new");
  EXPECT_NE(table->diagnostics()[0].message.find("default/old"), std::string::npos);
}

TEST(Merging, SameAgeConflictGoesToNamespaceThenName) {
  Snapshot snap;
  snap.services = {service("b", "s", {service_port("", 80, 80)}),
                   service("a", "s", {service_port("", 80, 80)})};
  auto make = [](std::string_view ns) {
    return ingress(ns, "ing").rules(
        {rule("t.com", {path("/", "Prefix", service_backend("s", 80))})});
  };
  snap.ingresses = {make("b"), make("a")};
  auto table = build_route_table(snap);
  EXPECT_EQ(table->match("t.com", "/")->ingress, "a/ing");
}

TEST(Merging, ExactAndPrefixOfTheSamePathDoNotConflict) {
  Snapshot snap;
  snap.services = {svc("p"), svc("e")};
  snap.ingresses.push_back(
      ingress("default", "one")
          .rules({rule("t.com", {path("/p", "Prefix", service_backend("p", 80))})}));
  snap.ingresses.push_back(
      ingress("default", "two")
          .rules({rule("t.com", {path("/p", "Exact", service_backend("e", 80))})}));
  auto table = build_route_table(snap);
  EXPECT_EQ(routed_to(table->match("t.com", "/p")), "e");
  EXPECT_EQ(routed_to(table->match("t.com", "/p/q")), "p");
  EXPECT_TRUE(table->diagnostics().empty());
}

TEST(Merging, InvalidPathsAreReportedAndSkipped) {
  Snapshot snap;
  snap.services = {svc("a")};
  snap.ingresses.push_back(
      ingress("default", "bad")
          .rules({rule("t.com", {path("relative", "Prefix", service_backend("a", 80)),
                                 path("/x", "Regex", service_backend("a", 80)),
                                 path("/ok", "Prefix", service_backend("a", 80))})}));
  auto table = build_route_table(snap);
  EXPECT_EQ(table->route_count(), 1u);
  EXPECT_EQ(routed_to(table->match("t.com", "/ok")), "a");
  EXPECT_EQ(table->diagnostics().size(), 2u);
}

class ClassSelection : public ::testing::Test {
 protected:
  std::vector<std::string> served(const Snapshot& s, BuildOptions opts = {}) {
    auto table = build_route_table(s, opts);
    return {table->served_ingresses().begin(), table->served_ingresses().end()};
  }
  static Json with_class(std::string_view name, std::optional<std::string> cls) {
    return ingress("default", name).cls(std::move(cls));
  }
  using V = std::vector<std::string>;
};

TEST_F(ClassSelection, ConfiguredClassNameIsServedWithoutAnIngressClassObject) {
  Snapshot s;
  s.ingresses = {with_class("mine", "k8c"), with_class("theirs", "nginx")};
  EXPECT_EQ(served(s), V{"default/mine"});
}

TEST_F(ClassSelection, ClassNameIsConfigurable) {
  Snapshot s;
  s.ingresses = {with_class("mine", "edge"), with_class("default-name", "k8c")};
  BuildOptions o;
  o.class_name = "edge";
  EXPECT_EQ(served(s, o), V{"default/mine"});
}

TEST_F(ClassSelection, AnyIngressClassOfOurControllerIsServed) {
  Snapshot s;
  s.ingress_classes = {ingress_class("internal", "k8c.io/ingress-controller"),
                       ingress_class("nginx", "k8s.io/ingress-nginx")};
  s.ingresses = {with_class("a", "internal"), with_class("b", "nginx")};
  EXPECT_EQ(served(s), V{"default/a"});
}

TEST_F(ClassSelection, OurNameOwnedByAnotherControllerIsNotServed) {
  Snapshot s;
  s.ingress_classes = {ingress_class("k8c", "example.com/other")};
  s.ingresses = {with_class("a", "k8c")};
  EXPECT_TRUE(served(s).empty());
}

TEST_F(ClassSelection, NoClassIsServedOnlyWhenOurClassIsTheDefault) {
  Snapshot s;
  s.ingresses = {with_class("unclassed", std::nullopt)};
  EXPECT_TRUE(served(s).empty());

  s.ingress_classes = {ingress_class("k8c", "k8c.io/ingress-controller", /*is_default=*/false)};
  EXPECT_TRUE(served(s).empty());

  s.ingress_classes = {ingress_class("nginx", "k8s.io/ingress-nginx", /*is_default=*/true)};
  EXPECT_TRUE(served(s).empty());

  s.ingress_classes = {ingress_class("k8c", "k8c.io/ingress-controller", /*is_default=*/true)};
  EXPECT_EQ(served(s), V{"default/unclassed"});
}

TEST_F(ClassSelection, LegacyClassAnnotationIsHonoured) {
  Snapshot s;
  Json a = with_class("legacy", std::nullopt);
  a["metadata"]["annotations"] = {{"kubernetes.io/ingress.class", "k8c"}};
  Json b = with_class("legacy-other", std::nullopt);
  b["metadata"]["annotations"] = {{"kubernetes.io/ingress.class", "nginx"}};
  s.ingress_classes = {ingress_class("k8c", "k8c.io/ingress-controller", /*is_default=*/true)};
  s.ingresses = {a, b};
  EXPECT_EQ(served(s), V{"default/legacy"});
}

TEST_F(ClassSelection, UnservedIngressesContributeNoRoutes) {
  Snapshot s;
  s.services = {svc("a")};
  s.ingresses = {ingress("default", "other")
                     .cls("nginx")
                     .rules({rule("a.com", {path("/", "Prefix", service_backend("a", 80))})})
                     .default_backend(service_backend("a", 80))};
  auto table = build_route_table(s);
  EXPECT_EQ(table->match("a.com", "/"), nullptr);
  EXPECT_EQ(table->route_count(), 0u);
}

TEST_F(ClassSelection, ServedListIsOldestFirst) {
  Snapshot s;
  s.ingresses = {ingress("default", "young").created("2024-02-01T00:00:00Z"),
                 ingress("default", "old").created("2024-01-01T00:00:00Z")};
  EXPECT_EQ(served(s), (V{"default/old", "default/young"}));
}

TEST(Malformed, WrongTypesNeverThrowAndCostOnlyTheIngress) {
  Snapshot snap;
  snap.services = {svc("a")};
  Json bad = ingress("default", "bad");
  bad["spec"]["rules"] = Json::array({{{"host", 42}, {"http", {{"paths", "nope"}}}}});
  bad["spec"]["defaultBackend"] = {{"service", {{"name", 7}, {"port", {{"number", "x"}}}}}};
  bad["spec"]["tls"] = "bogus";
  snap.ingresses.push_back(bad);
  snap.ingresses.push_back(
      ingress("default", "good")
          .rules({rule("g.com", {path("/", "Prefix", service_backend("a", 80))})}));
  std::shared_ptr<const RouteTable> table;
  ASSERT_NO_THROW(table = build_route_table(snap));
  EXPECT_EQ(routed_to(table->match("g.com", "/")), "a");
}

}  // namespace
}  // namespace k8c::ingress
