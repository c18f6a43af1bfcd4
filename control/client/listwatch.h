// The seam between an Informer and the API: list a collection, watch it from a revision. The
// real implementation is ResourceListWatcher (client.h); tests supply fakes.
#pragma once

#include "control/client/rest.h"

#include <functional>

namespace k8c::client {

using WatchCallback = std::function<bool(WatchEvent& event)>;  // false: stop watching

class ListWatcher {
 public:
  virtual ~ListWatcher() = default;

  // One page of the collection: a List object {metadata: {resourceVersion, continue}, items}.
  // The implementation applies its own namespace and selectors; `opts` carries paging and
  // resourceVersion.
  virtual Result<Json> list(const ListOptions& opts) = 0;

  // Watches from opts.resource_version, delivering events in order until the stream ends (ok),
  // `on_event` returns false (ok), cancel() is called (ok or error, either is fine), or the
  // stream fails (error; a 410 when the revision is too old). ERROR events are delivered to
  // `on_event` like any other.
  virtual Result<void> watch(const ListOptions& opts, const WatchCallback& on_event) = 0;

  // Callable from any thread: makes a blocked list()/watch() return promptly. Sticky: calls
  // made after cancel() return at once, which closes the race with a caller about to block.
  virtual void cancel() = 0;
};

}  // namespace k8c::client
