#include "control/api/table.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace k8c::api {
namespace {

// A minimal protobuf wire reader: enough to walk gnostic's Document and check its structure.
struct Field {
  int number;
  int wire;
  uint64_t varint = 0;
  std::string_view bytes;
};

std::vector<Field> fields(std::string_view data) {
  std::vector<Field> out;
  size_t i = 0;
  auto read_varint = [&](uint64_t& v) {
    v = 0;
    for (int shift = 0; i < data.size(); shift += 7) {
      uint8_t b = static_cast<uint8_t>(data[i++]);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  };
  while (i < data.size()) {
    uint64_t key = 0;
    EXPECT_TRUE(read_varint(key));
    Field f{static_cast<int>(key >> 3), static_cast<int>(key & 7), 0, {}};
    if (f.wire == 0) {
      EXPECT_TRUE(read_varint(f.varint));
    } else if (f.wire == 2) {
      uint64_t len = 0;
      EXPECT_TRUE(read_varint(len));
      EXPECT_LE(i + len, data.size());
      f.bytes = data.substr(i, len);
      i += len;
    } else if (f.wire == 1) {
      f.bytes = data.substr(i, 8);
      i += 8;
    } else {
      ADD_FAILURE() << "unexpected wire type " << f.wire;
      break;
    }
    out.push_back(f);
  }
  return out;
}

std::string_view first(std::string_view msg, int number) {
  for (const auto& f : fields(msg))
    if (f.number == number) return f.bytes;
  return {};
}

TEST(OpenApiProto, DocumentCarriesVersionDefinitionsAndGroupVersionKinds) {
  const std::string& doc = openapi_v2_protobuf();
  ASSERT_FALSE(doc.empty());
  EXPECT_EQ(first(doc, 1), "2.0");  // Document.swagger

  // Document.definitions (9) -> Definitions.additional_properties (1) -> NamedSchema{name, value}
  std::string_view defs = first(doc, 9);
  size_t count = 0;
  bool found_pod = false;
  for (const auto& named : fields(defs)) {
    ASSERT_EQ(named.number, 1);
    ++count;
    if (first(named.bytes, 1) != "io.k8s.api.core.v1.Pod") continue;
    found_pod = true;
    std::string_view schema = first(named.bytes, 2);
    // Schema.type (22) -> TypeItem.value (1)
    EXPECT_EQ(first(first(schema, 22), 1), "object");
    // Schema.properties (25) lists spec among its NamedSchemas.
    bool has_spec = false;
    for (const auto& p : fields(first(schema, 25))) has_spec |= first(p.bytes, 1) == "spec";
    EXPECT_TRUE(has_spec);
    // Schema.vendor_extension (31): x-kubernetes-group-version-kind with a YAML (JSON) value.
    bool has_gvk = false;
    for (const auto& ext : fields(schema)) {
      if (ext.number != 31) continue;
      if (first(ext.bytes, 1) != "x-kubernetes-group-version-kind") continue;
      std::string yaml(first(first(ext.bytes, 2), 2));
      has_gvk = yaml.find("\"kind\":\"Pod\"") != std::string::npos;
    }
    EXPECT_TRUE(has_gvk);
  }
  EXPECT_TRUE(found_pod);
  EXPECT_EQ(count, openapi_v2()["definitions"].size());

  // Document.paths (8) -> Paths.path (2): one NamedPathItem per JSON path.
  size_t paths = 0;
  for (const auto& f : fields(first(doc, 8))) paths += f.number == 2;
  EXPECT_EQ(paths, openapi_v2()["paths"].size());
}

}  // namespace
}  // namespace k8c::api
