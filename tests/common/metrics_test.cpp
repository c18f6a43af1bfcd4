#include "common/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>

namespace k8c::metrics {
namespace {

TEST(Metrics, CounterAndGaugeExposition) {
  Registry reg;
  auto& requests = reg.counter("http_requests_total", "Requests served.", {"method", "code"});
  requests.labels({"GET", "200"}).inc();
  requests.labels({"GET", "200"}).inc(2);
  requests.labels({"POST", "201"}).inc();
  auto& inflight = reg.gauge("inflight", "In-flight requests.\nSecond line \\ here");
  inflight.get().set(5);
  inflight.get().dec(1.5);
  EXPECT_EQ(reg.render(),
            "# HELP http_requests_total Requests served.\n"
            "# TYPE http_requests_total counter\n"
            "http_requests_total{method=\"GET\",code=\"200\"} 3\n"
            "http_requests_total{method=\"POST\",code=\"201\"} 1\n"
            "# HELP inflight In-flight requests.\\nSecond line \\\\ here\n"
            "# TYPE inflight gauge\n"
            "inflight 3.5\n");
}

TEST(Metrics, LabelValuesAreEscaped) {
  Registry reg;
  reg.counter("c", "h", {"path"}).labels({"a\"b\\c\nd"}).inc();
  EXPECT_NE(reg.render().find("c{path=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos)
      << reg.render();
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Registry reg;
  auto& h = reg.histogram("latency_seconds", "Latency.", {0.1, 1, 10}, {"op"});
  auto& get = h.labels({"get"});
  for (double v : {0.05, 0.1, 0.5, 2.0, 50.0}) get.observe(v);
  std::string text = reg.render();
  EXPECT_NE(text.find("# TYPE latency_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("latency_seconds_bucket{op=\"get\",le=\"0.1\"} 2\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("latency_seconds_bucket{op=\"get\",le=\"1\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("latency_seconds_bucket{op=\"get\",le=\"10\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("latency_seconds_bucket{op=\"get\",le=\"+Inf\"} 5\n"), std::string::npos);
  EXPECT_NE(text.find("latency_seconds_sum{op=\"get\"} 52.65\n"), std::string::npos) << text;
  EXPECT_NE(text.find("latency_seconds_count{op=\"get\"} 5\n"), std::string::npos);
}

TEST(Metrics, HandlesAreStableAndRegistrationIsIdempotent) {
  Registry reg;
  Counter& a = reg.counter("x_total", "x", {"k"}).labels({"v"});
  Counter& b = reg.counter("x_total", "x", {"k"}).labels({"v"});
  EXPECT_EQ(&a, &b);
  for (int i = 0; i < 100; ++i) reg.counter("x_total", "x", {"k"}).labels({std::to_string(i)});
  a.inc();
  EXPECT_EQ(b.value(), 1);
  EXPECT_THROW(reg.gauge("x_total", "x", {"k"}), std::invalid_argument);
  EXPECT_THROW(reg.counter("x_total", "x", {"other"}), std::invalid_argument);
  EXPECT_THROW(reg.counter("bad-name", "x"), std::invalid_argument);
  EXPECT_THROW(reg.counter("ok", "x", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(reg.histogram("h", "x", {2, 1}), std::invalid_argument);
  EXPECT_THROW(reg.counter("x_total", "x", {"k"}).labels({}), std::invalid_argument);
}

TEST(Metrics, ConcurrentIncrementsAreNotLost) {
  Registry reg;
  Counter& c = reg.counter("hits_total", "h").get();
  Histogram& h = reg.histogram("h", "h", {1}).get();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(0.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000);
  EXPECT_EQ(h.snapshot().count, 40000u);
  EXPECT_EQ(h.snapshot().cumulative[0], 40000u);
}

TEST(Metrics, TextWriterWritesWhatTheRegistryRenders) {
  TextWriter w;
  w.family("dp_flows", "gauge", "Open flows.\nPer service.");
  w.sample({{"service", "a/b:\"c\""}, {"backend", "10.0.0.1:80"}}, 3);
  w.sample({}, 0.5);
  std::vector<TextWriter::Label> le = {{"le", "+Inf"}};
  w.sample_text(le, "7", "_bucket");
  EXPECT_EQ(w.take(),
            "# HELP dp_flows Open flows.\\nPer service.\n"
            "# TYPE dp_flows gauge\n"
            "dp_flows{service=\"a/b:\\\"c\\\"\",backend=\"10.0.0.1:80\"} 3\n"
            "dp_flows 0.5\n"
            "dp_flows_bucket{le=\"+Inf\"} 7\n");

  // The registry's text for the same family is the same.
  Registry r;
  r.gauge("dp_flows", "Open flows.\nPer service.", {"service", "backend"})
      .labels({"a/b:\"c\"", "10.0.0.1:80"})
      .set(3);
  EXPECT_EQ(r.render(),
            "# HELP dp_flows Open flows.\\nPer service.\n"
            "# TYPE dp_flows gauge\n"
            "dp_flows{service=\"a/b:\\\"c\\\"\",backend=\"10.0.0.1:80\"} 3\n");
}

TEST(Metrics, ValueFormatting) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(-3), "-3");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(1e20), "1e+20");
  EXPECT_EQ(format_value(INFINITY), "+Inf");
  EXPECT_EQ(format_value(-INFINITY), "-Inf");
  EXPECT_EQ(format_value(NAN), "NaN");
  EXPECT_EQ(exponential_buckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
}

TEST(Metrics, ServeAnswersScrapes) {
  Registry reg;
  reg.gauge("up", "Whether the target is up.").get().set(1);
  http::Request get;
  get.method = "GET";
  get.path = "/metrics";
  http::Response r = serve(get, reg);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(*http::find_header(r.headers, "content-type"), kContentType);
  EXPECT_NE(r.body.find("\nup 1\n"), std::string::npos);
  http::Request post = get;
  post.method = "POST";
  EXPECT_EQ(serve(post, reg).status, 405);
}

TEST(Metrics, ServesOverHttp) {
  Registry& reg = default_registry();
  reg.counter("k8c_test_scrapes_total", "Scrapes in this test.").get().inc(7);
  http::Server server(
      {}, [](http::Request& req, std::shared_ptr<http::Responder> r) { r->send(serve(req)); });
  server.start();
  http::ClientOptions o;
  o.port = server.port();
  o.timeout = std::chrono::milliseconds(5000);
  http::Client client(o);
  http::Response r = client.request("GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("# TYPE k8c_test_scrapes_total counter\nk8c_test_scrapes_total 7\n"),
            std::string::npos)
      << r.body;
}

}  // namespace
}  // namespace k8c::metrics
