// Request bodies in Kubernetes' protobuf encoding (application/vnd.kubernetes.protobuf), as
// client-go's typed clients send them (kubectl create deployment|configmap|secret|...).
//
// The body is the magic "k8s\0" and a runtime.Unknown {1: typeMeta {1: apiVersion, 2: kind},
// 2: raw, 3: contentEncoding, 4: contentType}; raw is the object's own message. The decoder
// turns raw into the JSON a client would have sent for the same object, so admission (pruning,
// defaults, validation) runs unchanged. It is driven by a table generated from the k8s.io/api
// descriptors (scripts/gen-proto-fields.py -> protobuf_fields.cpp).
#pragma once

#include "common/json.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace k8c::api::proto {

inline constexpr std::string_view kMediaType = "application/vnd.kubernetes.protobuf";

// A field's value type. The last five are messages with their own JSON form.
enum class PKind : uint8_t {
  string,
  bytes,    // base64 in JSON
  int32,
  int64,
  boolean,
  message,  // a nested object (see PField::message)
  time,            // metav1.Time {1: seconds, 2: nanos} -> RFC 3339, seconds precision
  micro_time,      // metav1.MicroTime -> RFC 3339 with microseconds
  int_or_string,   // intstr.IntOrString {1: type, 2: intVal, 3: strVal}
  quantity,        // resource.Quantity {1: string}
  raw_json,        // runtime.RawExtension / metav1.FieldsV1 {1: raw JSON bytes}
};

inline constexpr uint8_t kRepeated = 1;
inline constexpr uint8_t kMap = 2;      // repeated {1: key, 2: value}; `kind` is the value's
inline constexpr uint8_t kPointer = 4;  // a Go pointer: written only when set, so zero counts
inline constexpr uint8_t kInline = 8;   // embedded struct (json:",inline"): fields join the parent

struct PField {
  uint32_t number;
  const char* json;
  PKind kind;
  uint8_t flags;
  int16_t message;  // index into messages() for PKind::message, else -1
};

struct PMessage {
  const char* name;  // e.g. "k8s.io.api.core.v1.Container"
  const PField* fields;  // sorted by number
  size_t count;
};

struct PRoot {
  const char* api_version;
  const char* kind;
  int16_t message;
};

std::span<const PMessage> messages();
std::span<const PRoot> roots();

struct Decoded {
  Json object;
  // Fields the table does not know, as "field N of <message> at <path>"; the caller applies
  // fieldValidation to them as to unknown JSON fields.
  std::vector<std::string> unknown;
};

// Decodes a whole request body. On malformed input returns nullopt with `error` set to a
// message naming what is wrong and where.
std::optional<Decoded> decode(std::string_view body, std::string* error);

}  // namespace k8c::api::proto
