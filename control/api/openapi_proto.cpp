// The OpenAPI v2 document in gnostic's protobuf form (openapi.v2.Document), which is what
// kubectl asks /openapi/v2 for when it validates a kind the v3 documents do not describe.
// A hand-written encoder: the document is one fixed message tree, and pulling in a protobuf
// code generator for a single message family is more weight than these few field numbers.
#include "control/api/table.h"

#include <cstring>

namespace k8c::api {

namespace {

// Protobuf wire format: varint (0), 64-bit (1) and length-delimited (2) fields.
class Pb {
 public:
  void varint(uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>(v | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }
  void tag(int field, int wire) { varint(static_cast<uint64_t>(field) << 3 | wire); }
  void bytes(int field, std::string_view s) {
    tag(field, 2);
    varint(s.size());
    out_.append(s);
  }
  void str(int field, std::string_view s) {
    if (!s.empty()) bytes(field, s);
  }
  void boolean(int field, bool b) {
    if (!b) return;
    tag(field, 0);
    varint(1);
  }
  void integer(int field, int64_t v) {
    if (!v) return;
    tag(field, 0);
    varint(static_cast<uint64_t>(v));
  }
  void number(int field, double d) {
    tag(field, 1);
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    for (int i = 0; i < 8; ++i) out_ += static_cast<char>(bits >> (8 * i));
  }
  void message(int field, const Pb& sub) { bytes(field, sub.out_); }
  const std::string& data() const { return out_; }

 private:
  std::string out_;
};

// Any{yaml}: gnostic keeps free-form values as YAML text; JSON is valid YAML.
Pb any_value(const Json& v) {
  Pb a;
  a.bytes(2, v.dump());
  return a;
}

// NamedAny for every "x-" key of `obj`.
void vendor_extensions(Pb& pb, int field, const Json& obj) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (it.key().rfind("x-", 0) != 0) continue;
    Pb named;
    named.str(1, it.key());
    named.message(2, any_value(it.value()));
    pb.message(field, named);
  }
}

Pb schema(const Json& s) {
  Pb pb;
  if (!s.is_object()) return pb;
  pb.str(1, s.value("$ref", ""));
  pb.str(2, s.value("format", ""));
  pb.str(4, s.value("description", ""));
  if (s.contains("default")) pb.message(5, any_value(s["default"]));
  if (s.contains("maximum") && s["maximum"].is_number()) pb.number(7, s["maximum"].get<double>());
  if (s.contains("minimum") && s["minimum"].is_number()) pb.number(9, s["minimum"].get<double>());
  if (s.contains("maxLength") && s["maxLength"].is_number_integer())
    pb.integer(11, s["maxLength"].get<int64_t>());
  if (s.contains("required"))
    for (const auto& r : s["required"]) pb.str(19, r.get<std::string>());
  if (s.contains("enum"))
    for (const auto& e : s["enum"]) pb.message(20, any_value(e));
  if (s.contains("additionalProperties")) {
    Pb item;
    const Json& ap = s["additionalProperties"];
    if (ap.is_boolean()) {
      item.tag(2, 0);
      item.varint(ap.get<bool>() ? 1 : 0);
    } else {
      item.message(1, schema(ap));
    }
    pb.message(21, item);
  }
  if (s.contains("type")) {
    Pb type;
    if (s["type"].is_array())
      for (const auto& t : s["type"]) type.str(1, t.get<std::string>());
    else
      type.str(1, s["type"].get<std::string>());
    pb.message(22, type);
  }
  if (s.contains("items")) {
    Pb items;
    items.message(1, schema(s["items"]));
    pb.message(23, items);
  }
  if (s.contains("allOf"))
    for (const auto& a : s["allOf"]) pb.message(24, schema(a));
  if (s.contains("properties")) {
    Pb props;
    for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it) {
      Pb named;
      named.str(1, it.key());
      named.message(2, schema(it.value()));
      props.message(1, named);
    }
    pb.message(25, props);
  }
  pb.boolean(27, s.value("readOnly", false));
  vendor_extensions(pb, 31, s);
  return pb;
}

Pb parameter(const Json& p) {
  Pb item;  // ParametersItem
  if (p.contains("$ref")) {
    Pb ref;
    ref.str(1, p["$ref"].get<std::string>());
    item.message(2, ref);
    return item;
  }
  std::string in = p.value("in", "");
  Pb param;  // Parameter
  if (in == "body") {
    Pb body;
    body.str(1, p.value("description", ""));
    body.str(2, p.value("name", ""));
    body.str(3, in);
    body.boolean(4, p.value("required", false));
    if (p.contains("schema")) body.message(5, schema(p["schema"]));
    vendor_extensions(body, 6, p);
    param.message(1, body);
  } else {
    // Query, path and header sub-schemas share their first fields; `type` sits at 6 for query
    // (after allow_empty_value) and at 5 for path and header.
    Pb sub;
    sub.boolean(1, p.value("required", false));
    sub.str(2, in);
    sub.str(3, p.value("description", ""));
    sub.str(4, p.value("name", ""));
    int sub_field = in == "query" ? 3 : in == "path" ? 4 : 1;
    if (in == "query") {
      sub.boolean(5, p.value("allowEmptyValue", false));
      sub.str(6, p.value("type", ""));
    } else {
      sub.str(5, p.value("type", ""));
    }
    Pb non_body;
    non_body.message(sub_field, sub);
    param.message(2, non_body);
  }
  item.message(1, param);
  return item;
}

Pb operation(const Json& op) {
  Pb pb;
  if (op.contains("tags"))
    for (const auto& t : op["tags"]) pb.str(1, t.get<std::string>());
  pb.str(3, op.value("description", ""));
  pb.str(5, op.value("operationId", ""));
  if (op.contains("produces"))
    for (const auto& t : op["produces"]) pb.str(6, t.get<std::string>());
  if (op.contains("consumes"))
    for (const auto& t : op["consumes"]) pb.str(7, t.get<std::string>());
  if (op.contains("parameters"))
    for (const auto& p : op["parameters"]) pb.message(8, parameter(p));
  if (op.contains("responses")) {
    Pb responses;
    for (auto it = op["responses"].begin(); it != op["responses"].end(); ++it) {
      Pb response;
      response.str(1, it.value().value("description", ""));
      if (it.value().contains("schema")) {
        Pb item;
        item.message(1, schema(it.value()["schema"]));
        response.message(2, item);
      }
      Pb value;
      value.message(1, response);
      Pb named;
      named.str(1, it.key());
      named.message(2, value);
      responses.message(1, named);
    }
    pb.message(9, responses);
  }
  if (op.contains("schemes"))
    for (const auto& t : op["schemes"]) pb.str(10, t.get<std::string>());
  vendor_extensions(pb, 13, op);
  return pb;
}

std::string encode_document(const Json& doc) {
  Pb pb;
  pb.str(1, doc.value("swagger", "2.0"));
  if (doc.contains("info")) {
    Pb info;
    info.str(1, doc["info"].value("title", ""));
    info.str(2, doc["info"].value("version", ""));
    pb.message(2, info);
  }
  if (doc.contains("paths")) {
    Pb paths;
    static const std::pair<const char*, int> verbs[] = {{"get", 2},    {"put", 3},  {"post", 4},
                                                        {"delete", 5}, {"head", 7}, {"patch", 8}};
    for (auto it = doc["paths"].begin(); it != doc["paths"].end(); ++it) {
      const Json& item = it.value();
      Pb path_item;
      for (const auto& [verb, field] : verbs)
        if (item.contains(verb)) path_item.message(field, operation(item[verb]));
      if (item.contains("parameters"))
        for (const auto& p : item["parameters"]) path_item.message(9, parameter(p));
      vendor_extensions(path_item, 10, item);
      Pb named;
      named.str(1, it.key());
      named.message(2, path_item);
      paths.message(2, named);
    }
    pb.message(8, paths);
  }
  if (doc.contains("definitions")) {
    Pb defs;
    for (auto it = doc["definitions"].begin(); it != doc["definitions"].end(); ++it) {
      Pb named;
      named.str(1, it.key());
      named.message(2, schema(it.value()));
      defs.message(1, named);
    }
    pb.message(9, defs);
  }
  return pb.data();
}

}  // namespace

const std::string& openapi_v2_protobuf() {
  static const std::string bytes = encode_document(openapi_v2());
  return bytes;
}

}  // namespace k8c::api
