#include "control/store/store.h"

#include "control/store/sqlite_store.h"

#include <future>
#include <stdexcept>

namespace k8c::store {

const char* to_string(Errc e) {
  switch (e) {
    case Errc::ok:
      return "ok";
    case Errc::not_found:
      return "not found";
    case Errc::already_exists:
      return "already exists";
    case Errc::conflict:
      return "conflict";
    case Errc::compacted:
      return "revision compacted";
    case Errc::future_revision:
      return "future revision";
    case Errc::unavailable:
      return "store unavailable";
  }
  return "unknown";
}

WriteResult Store::write_sync(Write w) {
  std::promise<WriteResult> p;
  auto f = p.get_future();
  write(std::move(w), [&p](WriteResult r) { p.set_value(std::move(r)); });
  return f.get();
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& c = end.back();
    if (static_cast<unsigned char>(c) < 0xff) {
      ++c;
      return end;
    }
    end.pop_back();
  }
  // Every key: etcd's convention for "no end". A one-byte string, not an empty one (a literal
  // "\0" would convert to ""), because an empty end means "just the start key".
  return std::string(1, '\0');
}

std::unique_ptr<Store> open(const std::string& url) {
  constexpr std::string_view scheme = "sqlite://";
  if (url.starts_with(scheme)) {
    // "sqlite:///abs/path" keeps its leading slash; "sqlite://rel/path" is relative.
    std::string path = url.substr(scheme.size());
    if (path.empty()) throw std::runtime_error("store URL " + url + " names no database file");
    return std::make_unique<SqliteStore>(path);
  }
  throw std::runtime_error("store URL " + url +
                           ": unsupported backend (this build knows sqlite://PATH)");
}

}  // namespace k8c::store
