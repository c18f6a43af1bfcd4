// A small Prometheus registry: counters, gauges and fixed-bucket histograms with labels, rendered
// in the text exposition format 0.0.4.
//
// Look a labelled series up once and keep the reference: series live as long as the registry,
// and incrementing one is a single atomic operation.
//
//   auto& requests = metrics::default_registry().counter(
//       "apiserver_request_total", "Requests by verb and code.", {"verb", "code"});
//   metrics::Counter& get_ok = requests.labels({"GET", "200"});
//   get_ok.inc();
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/http.h"

namespace k8c::metrics {

class Counter {
 public:
  void inc(double v = 1) { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double v = 1) { value_.fetch_add(v, std::memory_order_relaxed); }
  void dec(double v = 1) { value_.fetch_sub(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds` are the upper bounds of the buckets, ascending; +Inf is implicit.
  explicit Histogram(const std::vector<double>& bounds);
  void observe(double v);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // per bucket, not cumulative
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

// Default latency buckets, in seconds.
std::vector<double> default_buckets();
// `count` buckets starting at `start`, each `factor` times the previous one.
std::vector<double> exponential_buckets(double start, double factor, int count);

// All series of one metric name. labels() takes a lock; keep the returned reference.
template <class M>
class Family {
 public:
  // Values in the order of the family's label names. Throws std::invalid_argument on a count
  // mismatch.
  M& labels(const std::vector<std::string>& values);
  // The series without labels; for families declared without label names.
  M& get() { return labels({}); }

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {})
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}

  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;  // histograms only
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> series_;
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registering an existing name again with the same type and label names returns the same
  // family, so components may declare their metrics independently. Invalid names, or a name
  // reused with a different type or labels, throw std::invalid_argument.
  Family<Counter>& counter(const std::string& name, const std::string& help,
                           const std::vector<std::string>& label_names = {});
  Family<Gauge>& gauge(const std::string& name, const std::string& help,
                       const std::vector<std::string>& label_names = {});
  Family<Histogram>& histogram(const std::string& name, const std::string& help,
                               std::vector<double> bounds = default_buckets(),
                               const std::vector<std::string>& label_names = {});

  // The text exposition format 0.0.4, families sorted by name.
  std::string render() const;

 private:
  struct Entry;
  Entry& entry(const std::string& name, int type, const std::string& help,
               const std::vector<std::string>& label_names, const std::vector<double>& bounds);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> families_;
};

Registry& default_registry();

// Content-Type of render()'s output.
inline constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Answers a scrape: GET or HEAD gets the rendered registry, anything else 405.
http::Response serve(const http::Request& request, const Registry& registry = default_registry());

// Exposed for tests and for other exporters.
std::string escape_label_value(std::string_view v);
std::string format_value(double v);

// Writes the text exposition format a family at a time: Registry::render() is written with it,
// and so is any exporter that keeps its own counters and renders them at scrape time (the data
// plane's per-lcore counters), so that both put out the same text.
//
//   TextWriter w;
//   w.family("x_total", "counter", "Things.");
//   w.sample({{"kind", "a"}}, 3);  // x_total{kind="a"} 3
class TextWriter {
 public:
  using Label = std::pair<std::string_view, std::string_view>;  // name, unescaped value

  // # HELP and # TYPE lines; the samples that follow belong to this family.
  void family(std::string_view name, std::string_view type, std::string_view help);
  // One sample of the current family. `suffix` extends the name (histograms' _bucket, _sum,
  // _count); label values are escaped.
  void sample(std::span<const Label> labels, double value, std::string_view suffix = {}) {
    sample_text(labels, format_value(value), suffix);
  }
  void sample(std::initializer_list<Label> labels, double value) {
    sample(std::span<const Label>(labels.begin(), labels.size()), value);
  }
  // A sample whose value is already formatted (exact integer counts).
  void sample_text(std::span<const Label> labels, std::string_view value,
                   std::string_view suffix = {});

  std::string take() { return std::move(out_); }

 private:
  std::string out_;
  std::string name_;
};

}  // namespace k8c::metrics
