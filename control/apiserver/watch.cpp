// Watch streams: newline-delimited JSON events over a chunked response. The events of one
// delivery round are written as one chunk.
#include "common/log.h"
#include "control/api/selector.h"
#include "control/api/table.h"
#include "control/apiserver/codec.h"
#include "control/apiserver/impl.h"

namespace k8c::apiserver {

namespace {

// A watcher that cannot keep up is dropped; its client relists and watches again, as with
// Kubernetes' watch cache.
constexpr size_t kMaxPendingBytes = 64 * 1024 * 1024;
// Events gathered into one chunk at most, so a long initial list or a burst streams out in
// pieces instead of being held back whole.
constexpr size_t kFlushBytes = 64 * 1024;

store::Bytes shared(std::string s) {
  return std::make_shared<const std::string>(std::move(s));
}

const store::Bytes& envelope_open(const char* type) {
  static const store::Bytes added = shared("{\"type\":\"ADDED\",\"object\":");
  static const store::Bytes modified = shared("{\"type\":\"MODIFIED\",\"object\":");
  static const store::Bytes deleted = shared("{\"type\":\"DELETED\",\"object\":");
  if (type[0] == 'A') return added;
  if (type[0] == 'M') return modified;
  return deleted;
}

const store::Bytes& envelope_close() {
  static const store::Bytes close = shared("}\n");
  return close;
}

}  // namespace

struct WatchStream {
  CallPtr call;
  Filter filter;
  bool table = false;
  bool metadata = false;  // PartialObjectMetadata events
  bool bookmarks = false;
  std::chrono::steady_clock::time_point deadline;
  std::chrono::steady_clock::time_point last_bookmark;
  std::mutex mu;  // orders writes from the cache thread and the ticker
  int64_t last_revision = 0;
  bool ended = false;
  std::unique_ptr<store::CacheWatch> handle;

  // Appends the event's line to `out`, or nothing when the filter rejects it. Caller holds mu.
  void encode(std::string& out, const char* type, const store::Bytes& bytes) {
    if (filter.active() || table) {
      Json obj = Json::parse(*bytes);
      if (!filter.matches(obj)) return;
      if (table) {
        Json ev = {{"type", type}};
        ev["object"] =
            api::to_table(*call->kind, {&obj}, call->param("includeObject", "Metadata"),
                          {{"resourceVersion", get_string(obj, {"metadata", "resourceVersion"})}});
        out += ev.dump();
        out += '\n';
        return;
      }
    }
    out += *envelope_open(type);
    if (metadata)
      out += partial_object_metadata(*bytes);
    else
      out += *bytes;
    out += *envelope_close();
  }

  // Writes the lines gathered in `out` as one chunk: one hand-off to the connection and one TLS
  // record for a whole delivery round, rather than three of each per event. Caller holds mu.
  void flush(std::string& out) {
    if (ended || out.empty()) return;
    call->responder->write_chunk(shared(std::move(out)));
    out.clear();
    check_backlog();
  }

  void check_backlog() {
    auto& w = call->responder;
    if (w->pending_bytes() > kMaxPendingBytes) {
      spdlog::warn("dropping watch {} {}: client is {} bytes behind", call->kind->plural,
                   call->request.remote, w->pending_bytes());
      end();
    }
  }

  void end() {
    if (ended) return;
    ended = true;
    call->responder->end_stream();
  }

  void bookmark() {
    Json ev = {{"type", "BOOKMARK"},
               {"object",
                {{"kind", call->kind->kind},
                 {"apiVersion", call->kind->api_version()},
                 {"metadata", {{"resourceVersion", std::to_string(last_revision)}}}}}};
    call->responder->write_chunk(shared(ev.dump() + "\n"));
  }
};

void ApiServer::Impl::watch(const CallPtr& c) {
  auto ws = std::make_shared<WatchStream>();
  ws->call = c;
  ApiError err;
  auto filter = Filter::from(*c, err);
  if (!filter) return c->fail(err);
  ws->filter = std::move(*filter);
  ws->table = c->wants_table();
  ws->metadata = c->wants_metadata();
  ws->bookmarks = c->param("allowWatchBookmarks") == "true";
  int64_t timeout = 1800;
  if (auto t = c->param("timeoutSeconds"); !t.empty()) {
    try {
      timeout = std::stoll(t);
    } catch (...) {
      return c->fail(bad_request("invalid timeoutSeconds: " + t));
    }
  }
  auto now = std::chrono::steady_clock::now();
  ws->deadline = now + std::chrono::seconds(timeout);
  ws->last_bookmark = now;

  std::string rv = c->param("resourceVersion");
  int64_t after = 0;
  bool initial = rv.empty() || rv == "0";
  if (!initial) {
    try {
      after = std::stoll(rv);
    } catch (...) {
      return c->fail(bad_request("invalid resourceVersion: " + rv));
    }
  }
  std::string prefix = list_prefix(*c->kind, c->info.namespace_);
  c->responder->start_stream(200, {{"Content-Type", "application/json"}});

  std::lock_guard lock(ws->mu);
  if (initial) {
    // Without a resourceVersion, a watch starts with the current state as ADDED events.
    if (rv.empty()) cache.wait_for(store.revision(), std::chrono::seconds(5));
    std::string out;
    for (const auto& o : cache.list(prefix, &after)) {
      ws->encode(out, "ADDED", o.bytes);
      if (out.size() >= kFlushBytes) ws->flush(out);
    }
    ws->flush(out);
  }
  ws->last_revision = after;
  std::weak_ptr<WatchStream> weak = ws;
  ws->handle = cache.watch(
      prefix, after,
      [weak](const std::vector<store::CachedEvent>& events) {
        auto ws = weak.lock();
        if (!ws) return;
        std::lock_guard lock(ws->mu);
        if (ws->ended) return;
        std::string out;
        for (const auto& e : events) {
          const char* type = e.type == store::Event::Type::remove ? "DELETED"
                             : e.created                          ? "ADDED"
                                                                  : "MODIFIED";
          ws->encode(out, type, e.object.bytes);
          ws->last_revision = e.object.mod_revision;
          if (out.size() >= kFlushBytes) ws->flush(out);
        }
        ws->flush(out);
      },
      [weak, after](store::Errc err) {
        auto ws = weak.lock();
        if (!ws) return;
        std::lock_guard lock(ws->mu);
        if (ws->ended) return;
        ApiError e = err == store::Errc::compacted
                         ? gone("too old resource version: " + std::to_string(after))
                         : internal_error(store::to_string(err));
        Json ev = {{"type", "ERROR"}, {"object", status_json(e)}};
        ws->call->responder->write_chunk(shared(ev.dump() + "\n"));
        ws->end();
      });
  {
    std::lock_guard wl(watches_mu);
    watches.push_back(ws);
  }
  c->responder->on_close([this, weak] {
    auto ws = weak.lock();
    if (!ws) return;
    std::lock_guard wl(watches_mu);
    watches.remove(ws);
  });
}

void ApiServer::Impl::tick() {
  auto now = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<WatchStream>> finished;
  {
    std::lock_guard wl(watches_mu);
    for (auto it = watches.begin(); it != watches.end();) {
      auto& ws = *it;
      std::lock_guard lock(ws->mu);
      if (ws->ended || ws->call->responder->closed() || now >= ws->deadline) {
        ws->end();
        finished.push_back(ws);
        it = watches.erase(it);
        continue;
      }
      if (ws->bookmarks && now - ws->last_bookmark >= options.bookmark_interval) {
        ws->bookmark();
        ws->last_bookmark = now;
      }
      ++it;
    }
  }
  // Watch handles are released outside every lock: destroying one waits for its callback.
  for (auto& ws : finished) ws->handle.reset();
}

}  // namespace k8c::apiserver
