#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace k8c::metrics {

namespace {

enum Type { kCounter, kGauge, kHistogram };

bool valid_name(std::string_view n, bool allow_colon) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// The labels of a series, with `le` appended for histogram buckets.
std::vector<TextWriter::Label> series_labels(const std::vector<std::string>& names,
                                             const std::vector<std::string>& values,
                                             std::string_view le = {}) {
  std::vector<TextWriter::Label> out;
  out.reserve(names.size() + 1);
  for (size_t i = 0; i < names.size(); ++i) out.emplace_back(names[i], values[i]);
  if (!le.empty()) out.emplace_back("le", le);
  return out;
}

void atomic_add(std::atomic<double>& a, double v) {
  a.fetch_add(v, std::memory_order_relaxed);
}

}  // namespace

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  // Integral values print without an exponent or fraction, the way Prometheus clients do.
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(v));
    return std::string(buf, end);
  }
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) {
  size_t i =
      static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  // Scrapes race with observations; the +Inf bucket is the count so the two always agree.
  s.count = running;
  return s;
}

std::vector<double> default_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> exponential_buckets(double start, double factor, int count) {
  if (start <= 0 || factor <= 1 || count < 1) {
    throw std::invalid_argument("exponential_buckets needs start > 0, factor > 1, count >= 1");
  }
  std::vector<double> out;
  for (int i = 0; i < count; ++i, start *= factor) out.push_back(start);
  return out;
}

template <class M>
M& Family<M>::labels(const std::vector<std::string>& values) {
  if (values.size() != label_names_.size()) {
    throw std::invalid_argument("metric " + name_ + " takes " +
                                std::to_string(label_names_.size()) + " label values, got " +
                                std::to_string(values.size()));
  }
  std::lock_guard l(mu_);
  auto it = series_.find(values);
  if (it != series_.end()) return *it->second;
  std::unique_ptr<M> m;
  if constexpr (std::is_same_v<M, Histogram>) {
    m = std::make_unique<Histogram>(bounds_);
  } else {
    m = std::make_unique<M>();
  }
  M& ref = *m;
  series_.emplace(values, std::move(m));
  return ref;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

struct Registry::Entry {
  int type;
  std::vector<std::string> label_names;
  std::vector<double> bounds;
  std::unique_ptr<Family<Counter>> counter;
  std::unique_ptr<Family<Gauge>> gauge;
  std::unique_ptr<Family<Histogram>> histogram;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Entry& Registry::entry(const std::string& name, int type, const std::string& help,
                                 const std::vector<std::string>& label_names,
                                 const std::vector<double>& bounds) {
  if (!valid_name(name, true)) throw std::invalid_argument("invalid metric name: " + name);
  for (const auto& l : label_names) {
    if (!valid_name(l, false) || l.starts_with("__") || (type == kHistogram && l == "le")) {
      throw std::invalid_argument("invalid label name " + l + " for metric " + name);
    }
  }
  if (type == kHistogram) {
    if (bounds.empty() || !std::is_sorted(bounds.begin(), bounds.end()) ||
        std::adjacent_find(bounds.begin(), bounds.end()) != bounds.end()) {
      throw std::invalid_argument("histogram " + name + " needs strictly ascending buckets");
    }
  }
  std::lock_guard l(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    Entry& e = *it->second;
    if (e.type != type || e.label_names != label_names ||
        (type == kHistogram && e.bounds != bounds)) {
      throw std::invalid_argument("metric " + name + " already registered differently");
    }
    return e;
  }
  auto e = std::make_unique<Entry>();
  e->type = type;
  e->label_names = label_names;
  e->bounds = bounds;
  switch (type) {
    case kCounter:
      e->counter.reset(new Family<Counter>(name, help, label_names));
      break;
    case kGauge:
      e->gauge.reset(new Family<Gauge>(name, help, label_names));
      break;
    default:
      e->histogram.reset(new Family<Histogram>(name, help, label_names, bounds));
  }
  Entry& ref = *e;
  families_.emplace(name, std::move(e));
  return ref;
}

Family<Counter>& Registry::counter(const std::string& name, const std::string& help,
                                   const std::vector<std::string>& label_names) {
  return *entry(name, kCounter, help, label_names, {}).counter;
}

Family<Gauge>& Registry::gauge(const std::string& name, const std::string& help,
                               const std::vector<std::string>& label_names) {
  return *entry(name, kGauge, help, label_names, {}).gauge;
}

Family<Histogram>& Registry::histogram(const std::string& name, const std::string& help,
                                       std::vector<double> bounds,
                                       const std::vector<std::string>& label_names) {
  return *entry(name, kHistogram, help, label_names, bounds).histogram;
}

void TextWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += escape_help(help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
  name_ = name;
}

void TextWriter::sample_text(std::span<const Label> labels, std::string_view value,
                             std::string_view suffix) {
  out_ += name_;
  out_ += suffix;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i) out_ += ',';
      out_ += labels[i].first;
      out_ += "=\"";
      out_ += escape_label_value(labels[i].second);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += value;
  out_ += '\n';
}

std::string Registry::render() const {
  TextWriter w;
  std::lock_guard l(mu_);
  for (const auto& [name, e] : families_) {
    if (e->counter) {
      const auto& f = *e->counter;
      w.family(name, "counter", f.help_);
      std::lock_guard fl(f.mu_);
      for (const auto& [values, m] : f.series_)
        w.sample(series_labels(f.label_names_, values), m->value());
    } else if (e->gauge) {
      const auto& f = *e->gauge;
      w.family(name, "gauge", f.help_);
      std::lock_guard fl(f.mu_);
      for (const auto& [values, m] : f.series_)
        w.sample(series_labels(f.label_names_, values), m->value());
    } else {
      const auto& f = *e->histogram;
      w.family(name, "histogram", f.help_);
      std::lock_guard fl(f.mu_);
      for (const auto& [values, m] : f.series_) {
        Histogram::Snapshot s = m->snapshot();
        for (size_t i = 0; i < s.cumulative.size(); ++i) {
          std::string le = i < f.bounds_.size() ? format_value(f.bounds_[i]) : "+Inf";
          w.sample_text(series_labels(f.label_names_, values, le), std::to_string(s.cumulative[i]),
                        "_bucket");
        }
        auto labels = series_labels(f.label_names_, values);
        w.sample(labels, s.sum, "_sum");
        w.sample_text(labels, std::to_string(s.count), "_count");
      }
    }
  }
  return w.take();
}

Registry& default_registry() {
  static Registry* registry = new Registry();  // never destroyed: used from detached threads
  return *registry;
}

http::Response serve(const http::Request& request, const Registry& registry) {
  http::Response r;
  if (request.method != "GET" && request.method != "HEAD") {
    r.status = 405;
    r.headers = {{"Allow", "GET, HEAD"}, {"Content-Type", "text/plain; charset=utf-8"}};
    r.body = "method not allowed\n";
    return r;
  }
  r.headers = {{"Content-Type", kContentType}};
  r.body = registry.render();
  return r;
}

}  // namespace k8c::metrics
