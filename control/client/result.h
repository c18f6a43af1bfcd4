// Results of API calls. API failures are ordinary outcomes for a controller (NotFound, Conflict,
// Gone), so they are values, not exceptions: C++20 has no std::expected, hence this small one.
#pragma once

#include "common/json.h"

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace k8c::client {

// A failed call: the server's meta/v1 Status, or a transport failure with code 0.
struct ApiError {
  int code = 0;         // HTTP status (Status.code); 0 for transport errors (retryable)
  std::string reason;   // Status.reason: "NotFound", "AlreadyExists", "Conflict", "Expired", ...
  std::string message;  // human-readable, one line
  Json status;          // the Status object as sent (details, causes), or null

  bool is_transport() const { return code == 0; }
  bool is_not_found() const { return code == 404 || reason == "NotFound"; }
  bool is_already_exists() const { return code == 409 && reason == "AlreadyExists"; }
  bool is_conflict() const { return code == 409 && reason != "AlreadyExists"; }
  // The requested resourceVersion is too old (compacted): the caller must relist.
  bool is_gone() const { return code == 410 || reason == "Expired" || reason == "Gone"; }
  bool is_invalid() const { return code == 422 || reason == "Invalid"; }
  bool is_forbidden() const { return code == 403 || reason == "Forbidden"; }
  bool is_unauthorized() const { return code == 401 || reason == "Unauthorized"; }
  // Worth retrying unchanged after a pause.
  bool is_retryable() const {
    return code == 0 || code == 429 || code == 500 || code == 503 || code == 504;
  }
  std::string to_string() const;
};

inline std::string ApiError::to_string() const {
  std::string s = code == 0 ? std::string("transport error") : std::to_string(code);
  if (!reason.empty()) s += " " + reason;
  if (!message.empty()) s += ": " + message;
  return s;
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(ApiError error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const ApiError& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, ApiError> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(ApiError error) : error_(std::move(error)), ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const ApiError& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  ApiError error_;
  bool ok_ = true;
};

}  // namespace k8c::client
