// Schema-driven processing of one object: defaulting, pruning and validation.
#pragma once

#include "control/api/kinds.h"

namespace k8c::api {

// Fills absent fields that have schema defaults, recursively (then Kind::defaults).
void apply_defaults(const Kind& kind, Json& obj);
void apply_schema_defaults(const Schema& schema, Json& value);

// Removes fields the schema does not declare (Type::any subtrees are kept whole). The dotted
// paths of what was removed are appended to `unknown` (for fieldValidation=Strict/Warn).
void prune(const Schema& schema, Json& value, std::vector<std::string>* unknown,
           const std::string& path = "");

// Checks types, required fields, formats, enums and bounds against the schema, then the
// kind's own rules. Also checks metadata.name/generateName (DNS-1123 subdomain unless the kind
// says otherwise), labels and annotations. `old` is the stored object on update, else null.
FieldErrors validate(const Kind& kind, const Json& obj, const Json* old);
void validate_schema(const Schema& schema, const Json& value, const std::string& path,
                     FieldErrors& errs);

// Name and label checks, shared with selectors and the apiserver.
bool is_dns1123_label(std::string_view s);
bool is_dns1123_subdomain(std::string_view s);
bool is_rfc1035_label(std::string_view s);
bool is_qualified_name(std::string_view s);  // label keys
bool is_label_value(std::string_view s);

}  // namespace k8c::api
