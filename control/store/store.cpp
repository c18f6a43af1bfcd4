#include "control/store/store.h"

#include <future>

namespace k8c::store {

const char* to_string(Errc e) {
  switch (e) {
    case Errc::ok: return "ok";
    case Errc::not_found: return "not found";
    case Errc::already_exists: return "already exists";
    case Errc::conflict: return "conflict";
    case Errc::compacted: return "revision compacted";
    case Errc::future_revision: return "future revision";
    case Errc::unavailable: return "store unavailable";
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
  return "\0";  // every key: etcd's convention for "no end"
}

}  // namespace k8c::store
