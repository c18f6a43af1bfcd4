#include "control/api/protobuf.h"

#include "control/api/kinds.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <string>

namespace k8c::api::proto {
namespace {

// A tiny protobuf writer: enough to build request bodies field by field, malformed ones included.
struct Msg {
  std::string b;

  Msg& key(uint32_t n, uint32_t wire) { return raw_varint(uint64_t(n) << 3 | wire); }
  Msg& raw_varint(uint64_t v) {
    do {
      uint8_t x = v & 0x7f;
      v >>= 7;
      b += static_cast<char>(v ? x | 0x80 : x);
    } while (v);
    return *this;
  }
  Msg& u(uint32_t n, uint64_t v) { return key(n, 0).raw_varint(v); }
  // Negative int32/int64 are sign-extended to ten bytes, as Go's encoder writes them.
  Msg& i(uint32_t n, int64_t v) { return u(n, static_cast<uint64_t>(v)); }
  Msg& s(uint32_t n, std::string_view v) {
    key(n, 2).raw_varint(v.size());
    b += v;
    return *this;
  }
  Msg& m(uint32_t n, const Msg& v) { return s(n, v.b); }
  // A map<string,string|bytes> entry.
  Msg& kv(uint32_t n, std::string_view k, std::string_view v) {
    return m(n, Msg{}.s(1, k).s(2, v));
  }
  Msg& kvm(uint32_t n, std::string_view k, const Msg& v) { return m(n, Msg{}.s(1, k).m(2, v)); }
};

std::string body(std::string_view api_version, std::string_view kind, const Msg& raw) {
  Msg unknown;
  unknown.m(1, Msg{}.s(1, api_version).s(2, kind)).m(2, raw).s(3, "").s(4, "");
  return std::string("k8s\0", 4) + unknown.b;
}

// ObjectMeta as Go writes it for a new object: every non-pointer field, zero or not.
Msg meta(std::string_view name) {
  return Msg{}.s(1, name).s(2, "").s(3, "").s(4, "").s(5, "").s(6, "").u(7, 0).m(8, Msg{});
}

Json decode_ok(const std::string& b, std::vector<std::string>* unknown = nullptr) {
  std::string err;
  auto d = decode(b, &err);
  EXPECT_TRUE(d) << err;
  if (!d) return nullptr;
  if (unknown) *unknown = d->unknown;
  else EXPECT_TRUE(d->unknown.empty()) << d->unknown.front();
  return d->object;
}

std::string decode_err(const std::string& b) {
  std::string err;
  auto d = decode(b, &err);
  EXPECT_FALSE(d) << d->object.dump();
  return err;
}

TEST(Protobuf, ConfigMap) {
  Json got = decode_ok(body("v1", "ConfigMap",
                            Msg{}.m(1, meta("c").kv(11, "app", "web")).kv(2, "a", "b").kv(2, "c", "")));
  EXPECT_EQ(got, Json::parse(R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"c","creationTimestamp":null,"labels":{"app":"web"}},
      "data":{"a":"b","c":""}})"));
}

TEST(Protobuf, SecretBytesAreBase64) {
  Json got = decode_ok(body("v1", "Secret",
                            Msg{}
                                .m(1, meta("s"))
                                .kv(2, "key", std::string("\x00\xff\x10", 3))
                                .kv(2, "empty", "")
                                .s(3, "Opaque")
                                .kv(4, "plain", "text")));
  EXPECT_EQ(got["data"], Json::parse(R"({"key":"AP8Q","empty":""})"));
  EXPECT_EQ(got["type"], "Opaque");
  EXPECT_EQ(got["stringData"]["plain"], "text");
}

TEST(Protobuf, ServiceIntOrStringAndOmittedZeros) {
  Msg http = Msg{}.s(1, "http").s(2, "TCP").u(3, 80).m(4, Msg{}.u(1, 0).u(2, 8080).s(3, "")).u(5, 0);
  Msg https = Msg{}.s(1, "https").s(2, "TCP").u(3, 443).m(4, Msg{}.u(1, 1).u(2, 0).s(3, "web"));
  Msg spec = Msg{}.m(1, http).m(1, https).kv(2, "app", "web").s(3, "").s(4, "").u(13, 0);
  Json got = decode_ok(body("v1", "Service", Msg{}.m(1, meta("svc")).m(2, spec).m(3, Msg{})));
  // type "" and clusterIP "" are left out as JSON's omitempty would, so defaulting still applies.
  EXPECT_EQ(got["spec"], Json::parse(R"({"selector":{"app":"web"},"ports":[
      {"name":"http","protocol":"TCP","port":80,"targetPort":8080},
      {"name":"https","protocol":"TCP","port":443,"targetPort":"web"}]})"));
  EXPECT_EQ(got["status"], Json::object());
}

TEST(Protobuf, DeploymentWithPodTemplate) {
  Msg resources = Msg{}
                      .kvm(1, "cpu", Msg{}.s(1, "500m"))
                      .kvm(1, "memory", Msg{}.s(1, "128Mi"))
                      .kvm(2, "cpu", Msg{}.s(1, "100m"));
  Msg container = Msg{}
                      .s(1, "nginx")
                      .s(2, "nginx:1.27")
                      .s(4, "-g")
                      .s(4, "daemon off;")
                      .m(6, Msg{}.s(1, "").u(2, 0).u(3, 80).s(4, "TCP").s(5, ""))
                      .m(7, Msg{}.s(1, "MODE").s(2, "prod"))
                      .m(7, Msg{}.s(1, "EMPTY").s(2, ""))
                      .m(8, resources)
                      .s(13, "")
                      .u(16, 0);
  Msg pod_spec = Msg{}.m(2, container).s(3, "").u(11, 0);
  Msg tmpl = Msg{}.m(1, meta("").kv(11, "app", "web")).m(2, pod_spec);
  Msg spec = Msg{}
                 .u(1, 3)
                 .m(2, Msg{}.kv(1, "app", "web"))
                 .m(3, tmpl)
                 .m(4, Msg{})
                 .u(5, 0)
                 .u(7, 0);
  Json got = decode_ok(body("apps/v1", "Deployment", Msg{}.m(1, meta("web")).m(2, spec).m(3, Msg{})));
  EXPECT_EQ(got, Json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment",
      "metadata":{"name":"web","creationTimestamp":null},
      "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"strategy":{},
        "template":{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},
          "spec":{"containers":[{"name":"nginx","image":"nginx:1.27","args":["-g","daemon off;"],
            "ports":[{"containerPort":80,"protocol":"TCP"}],
            "env":[{"name":"MODE","value":"prod"},{"name":"EMPTY"}],
            "resources":{"limits":{"cpu":"500m","memory":"128Mi"},"requests":{"cpu":"100m"}}}]}}},
      "status":{}})"));
}

TEST(Protobuf, PointerZeroIsKept) {
  // replicas is a *int32: written only when set, so 0 means 0 (not "use the default of 1").
  Json got = decode_ok(body("apps/v1", "Deployment", Msg{}.m(1, meta("web")).m(2, Msg{}.u(1, 0))));
  EXPECT_EQ(got["spec"]["replicas"], 0);
}

TEST(Protobuf, InlineStructsMergeIntoTheirParent) {
  Msg volume = Msg{}.s(1, "cfg").m(2, Msg{}.m(19, Msg{}.m(1, Msg{}.s(1, "settings")).u(3, 420)));
  Msg probe = Msg{}.m(1, Msg{}.m(2, Msg{}.s(1, "/healthz").m(2, Msg{}.u(1, 1).s(3, "http")))).u(4, 10);
  Msg env_from = Msg{}.m(2, Msg{}.m(1, Msg{}.s(1, "cm")));
  Msg container = Msg{}.s(1, "app").s(2, "busybox").m(10, probe).m(19, env_from);
  Json got = decode_ok(body("v1", "Pod", Msg{}.m(1, meta("p")).m(2, Msg{}.m(1, volume).m(2, container))));
  EXPECT_EQ(got["spec"]["volumes"],
            Json::parse(R"([{"name":"cfg","configMap":{"name":"settings","defaultMode":420}}])"));
  EXPECT_EQ(got["spec"]["containers"][0]["livenessProbe"],
            Json::parse(R"({"httpGet":{"path":"/healthz","port":"http"},"periodSeconds":10})"));
  EXPECT_EQ(got["spec"]["containers"][0]["envFrom"], Json::parse(R"([{"configMapRef":{"name":"cm"}}])"));
}

TEST(Protobuf, NegativeIntegersAndPackedRepeated) {
  Msg packed;
  packed.raw_varint(1000).raw_varint(static_cast<uint64_t>(int64_t{-2}));
  Msg sc = Msg{}.i(2, -1).key(4, 2).raw_varint(packed.b.size());
  sc.b += packed.b;
  sc.i(4, 7);  // unpacked elements may follow packed ones
  Msg container = Msg{}.s(1, "c").m(6, Msg{}.i(3, -5));
  Json got = decode_ok(
      body("v1", "Pod", Msg{}.m(1, meta("p")).m(2, Msg{}.m(2, container).i(4, -30).m(14, sc))));
  EXPECT_EQ(got["spec"]["terminationGracePeriodSeconds"], -30);
  EXPECT_EQ(got["spec"]["securityContext"]["runAsUser"], -1);
  EXPECT_EQ(got["spec"]["securityContext"]["supplementalGroups"], Json::parse("[1000,-2,7]"));
  EXPECT_EQ(got["spec"]["containers"][0]["ports"][0]["containerPort"], -5);
}

TEST(Protobuf, IngressNestedRepeatedWithInlineRuleValue) {
  auto path = [](std::string p, std::string svc, int port) {
    Msg backend = Msg{}.m(4, Msg{}.s(1, svc).m(2, Msg{}.s(1, "").u(2, port)));
    return Msg{}.s(1, p).m(2, backend).s(3, "Prefix");
  };
  Msg rule = Msg{}.s(1, "a.example.com").m(2, Msg{}.m(1, Msg{}.m(1, path("/", "web", 80)).m(1, path("/api", "api", 8080))));
  Msg spec = Msg{}.m(2, Msg{}.s(1, "a.example.com").s(1, "b.example.com").s(2, "tls")).m(3, rule).s(4, "k8c");
  Json got = decode_ok(body("networking.k8s.io/v1", "Ingress", Msg{}.m(1, meta("ing")).m(2, spec)));
  EXPECT_EQ(got["spec"], Json::parse(R"({"ingressClassName":"k8c",
      "tls":[{"hosts":["a.example.com","b.example.com"],"secretName":"tls"}],
      "rules":[{"host":"a.example.com","http":{"paths":[
        {"path":"/","pathType":"Prefix","backend":{"service":{"name":"web","port":{"number":80}}}},
        {"path":"/api","pathType":"Prefix","backend":{"service":{"name":"api","port":{"number":8080}}}}]}}]})"));
}

TEST(Protobuf, Times) {
  Msg ev = Msg{}
               .m(1, meta("e").m(9, Msg{}.u(1, 1700000000)))
               .m(6, Msg{}.u(1, 1700000000).u(2, 5))
               .m(7, Msg{})
               .m(10, Msg{}.u(1, 1700000000).u(2, 123456789));
  Json got = decode_ok(body("v1", "Event", ev));
  EXPECT_EQ(got["metadata"]["deletionTimestamp"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(got["firstTimestamp"], "2023-11-14T22:13:20Z");
  EXPECT_TRUE(got["lastTimestamp"].is_null());
  EXPECT_EQ(got["eventTime"], "2023-11-14T22:13:20.123456Z");
}

TEST(Protobuf, ControllerRevisionRawJson) {
  Json got = decode_ok(body("apps/v1", "ControllerRevision",
                            Msg{}.m(1, meta("r")).m(2, Msg{}.s(1, R"({"spec":{"x":1}})")).u(3, 2)));
  EXPECT_EQ(got["data"], Json::parse(R"({"spec":{"x":1}})"));
  EXPECT_EQ(got["revision"], 2);
  EXPECT_NE(decode_err(body("apps/v1", "ControllerRevision", Msg{}.m(2, Msg{}.s(1, "\x0a\x01x")))).find("not JSON"),
            std::string::npos);
}

TEST(Protobuf, UnknownFieldsAreReportedNotDropped) {
  std::vector<std::string> unknown;
  // Zero and empty values of unknown fields are what a newer client writes for fields it
  // added but did not set: ignored, like zeros of known fields.
  Msg container = Msg{}.s(1, "c").u(99, 1).u(98, 0).s(97, "");
  Json got = decode_ok(body("v1", "Pod",
                            Msg{}.m(1, meta("p")).m(2, Msg{}.m(2, container)).s(77, "x").m(76, Msg{})),
                       &unknown);
  ASSERT_EQ(unknown.size(), 2u);
  EXPECT_EQ(unknown[0], "field 99 of k8s.io.api.core.v1.Container at spec.containers[0]");
  EXPECT_EQ(unknown[1], "field 77 of k8s.io.api.core.v1.Pod");
  EXPECT_EQ(got["spec"]["containers"][0]["name"], "c");
}

TEST(Protobuf, Malformed) {
  auto has = [](const std::string& err, const std::string& what) {
    EXPECT_NE(err.find(what), std::string::npos) << err;
  };
  Msg cm = Msg{}.m(1, meta("c"));
  has(decode_err("{\"kind\":\"ConfigMap\"}"), "magic");
  has(decode_err(std::string("k8s", 3)), "magic");
  has(decode_err(body("v1", "Frobnicator", cm)), "no protobuf decoding for v1, Kind=Frobnicator");
  has(decode_err(body("", "", cm)), "apiVersion and kind are missing");
  has(decode_err(std::string("k8s\0", 4) + Msg{}.m(1, Msg{}.s(1, "v1").s(2, "ConfigMap")).b), "missing");

  // Truncated varint: the last byte still has its continuation bit.
  Msg trunc = cm;
  trunc.key(4, 0);
  trunc.b += '\x80';
  has(decode_err(body("v1", "ConfigMap", trunc)), "truncated varint");
  // A length that runs past the end of the enclosing message.
  Msg past = cm;
  past.key(2, 2).raw_varint(50);
  past.b += "abc";
  has(decode_err(body("v1", "ConfigMap", past)), "runs past the end");
  // The whole body cut short.
  std::string whole = body("v1", "ConfigMap", cm);
  has(decode_err(whole.substr(0, whole.size() - 10)), "runs past the end");
  // metadata (a message) sent as a varint.
  has(decode_err(body("v1", "ConfigMap", Msg{}.u(1, 5))), "wire type 0 for field 1 (metadata), expected 2");
  // replicas (a varint) sent length-delimited where it is not repeated.
  has(decode_err(body("apps/v1", "Deployment", Msg{}.m(2, Msg{}.s(1, "3")))), "wire type 2 for field 1");
  // Eleven-byte varint.
  Msg longv = Msg{}.key(4, 0);
  longv.b += std::string(10, '\xff') + '\x01';
  has(decode_err(body("v1", "ConfigMap", longv)), "longer than 10 bytes");
  // Groups (wire types 3 and 4) are not used by Kubernetes.
  has(decode_err(body("v1", "ConfigMap", Msg{}.key(50, 3))), "unsupported wire type 3");
  // A skipped unknown fixed64 that is cut short.
  Msg fixed = Msg{}.key(50, 1);
  fixed.b += "abc";
  has(decode_err(body("v1", "ConfigMap", fixed)), "truncated fixed-width");
  has(decode_err(body("v1", "ConfigMap", Msg{}.m(1, Msg{}.s(1, "\xc3\x28")))), "invalid UTF-8");
  has(decode_err(body("v1", "ConfigMap", Msg{}.m(1, Msg{}.m(8, Msg{}.s(1, "x"))))), "wire type 2 for field 1");
  has(decode_err(body("v1", "ConfigMap", Msg{}.m(1, Msg{}.m(8, Msg{}.i(1, int64_t{1} << 50))))), "time out of range");
  has(decode_err(body("v1", "ConfigMap", Msg{}.m(2, Msg{}.u(1, 3)))), "map key");
  Msg gz;
  gz.m(1, Msg{}.s(1, "v1").s(2, "ConfigMap")).m(2, cm).s(3, "gzip");
  has(decode_err(std::string("k8s\0", 4) + gz.b), "content encoding \"gzip\"");
}

TEST(Protobuf, EveryTruncationFailsCleanly) {
  // Cutting a valid body anywhere gives an error (or, at a field boundary of the envelope, the
  // object), never a crash or a read past the end.
  Msg container = Msg{}.s(1, "nginx").s(2, "nginx").m(8, Msg{}.kvm(1, "cpu", Msg{}.s(1, "1")));
  std::string b = body("apps/v1", "Deployment",
                       Msg{}.m(1, meta("web")).m(2, Msg{}.u(1, 2).m(3, Msg{}.m(2, Msg{}.m(2, container)))));
  for (size_t n = 0; n < b.size(); ++n) {
    std::string err;
    auto d = decode(std::string_view(b).substr(0, n), &err);
    if (!d) {
      EXPECT_FALSE(err.empty()) << n;
    }
    if (n < b.size() - 4) {
      EXPECT_FALSE(d) << n;
    }  // the envelope ends with two empty strings
  }
}

TEST(Protobuf, MutatedBodiesFailCleanly) {
  // Random byte flips, insertions and deletions in a realistic body: every outcome is an
  // object that serializes or an error message (ASan and UBSan watch the rest).
  Msg container = Msg{}
                      .s(1, "nginx")
                      .s(2, "nginx:1.27")
                      .m(6, Msg{}.u(3, 80).s(4, "TCP"))
                      .m(7, Msg{}.s(1, "A").s(2, "b"))
                      .m(8, Msg{}.kvm(1, "cpu", Msg{}.s(1, "1")))
                      .m(10, Msg{}.m(1, Msg{}.m(2, Msg{}.s(1, "/").m(2, Msg{}.u(2, 80)))));
  Msg volume = Msg{}.s(1, "v").m(2, Msg{}.m(19, Msg{}.m(1, Msg{}.s(1, "cm"))));
  Msg pod = Msg{}.m(1, meta("p").kv(11, "a", "b")).m(2, Msg{}.m(1, volume).m(2, container));
  std::string good = body("apps/v1", "Deployment",
                          Msg{}.m(1, meta("web")).m(2, Msg{}.u(1, 2).m(3, pod)).m(3, Msg{}));
  uint64_t seed = 42;
  auto rnd = [&seed](size_t n) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<size_t>((seed >> 33) % n);
  };
  int decoded = 0, failed = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string b = good;
    for (int k = 1 + static_cast<int>(rnd(3)); k > 0; --k) {
      size_t at = 4 + rnd(b.size() - 4);
      switch (rnd(3)) {
        case 0: b[at] = static_cast<char>(rnd(256)); break;
        case 1: b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), static_cast<char>(rnd(256))); break;
        default: b.erase(at, 1);
      }
    }
    std::string err;
    auto d = decode(b, &err);
    if (d) {
      ++decoded;
      EXPECT_NO_THROW(d->object.dump());
    } else {
      ++failed;
      EXPECT_FALSE(err.empty());
    }
  }
  EXPECT_GT(failed, 0);
  EXPECT_GT(decoded, 0);
}

// The deepest chain of nested messages in the table, following inline fields too.
int depth(int index, std::vector<int>& memo, std::vector<bool>& visiting) {
  if (memo[index] >= 0) return memo[index];
  EXPECT_FALSE(visiting[index]) << "recursive message " << messages()[index].name;
  if (visiting[index]) return 0;
  visiting[index] = true;
  int d = 0;
  const PMessage& m = messages()[index];
  for (size_t i = 0; i < m.count; ++i)
    if (m.fields[i].kind == PKind::message) d = std::max(d, 1 + depth(m.fields[i].message, memo, visiting));
  visiting[index] = false;
  return memo[index] = d;
}

TEST(Protobuf, TypeGraphFitsTheDepthBound) {
  // The decoder refuses nesting past 64 messages; no Kubernetes object comes near it.
  std::vector<int> memo(messages().size(), -1);
  std::vector<bool> visiting(messages().size(), false);
  int deepest = 0;
  for (const PRoot& r : roots()) deepest = std::max(deepest, depth(r.message, memo, visiting));
  EXPECT_GT(deepest, 5);
  EXPECT_LT(deepest, 64);
}

TEST(Protobuf, TableIsWellFormedAndCoversEveryKind) {
  auto ms = messages();
  for (const PMessage& m : ms) {
    for (size_t i = 0; i < m.count; ++i) {
      const PField& f = m.fields[i];
      if (i) {
        EXPECT_LT(m.fields[i - 1].number, f.number) << m.name;
      }
      if (f.kind == PKind::message) {
        EXPECT_GE(f.message, 0) << m.name << "." << f.json;
        EXPECT_LT(static_cast<size_t>(f.message), ms.size()) << m.name << "." << f.json;
      }
    }
  }
  for (const Kind& k : all_kinds()) {
    bool found = false;
    for (const PRoot& r : roots()) found |= r.api_version == k.api_version() && r.kind == k.kind;
    EXPECT_TRUE(found) << k.api_version() << " " << k.kind;
  }
}

}  // namespace
}  // namespace k8c::api::proto
