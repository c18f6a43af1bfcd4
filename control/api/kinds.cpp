// The kind registry: every kind k8c serves, built once from the per-group catalogues.
#include "control/api/kinds_internal.h"

namespace k8c::api {

const std::vector<Kind>& all_kinds() {
  static const std::vector<Kind> kinds = [] {
    std::vector<Kind> out;
    for (auto* group : {&detail::core_kinds, &detail::apps_kinds, &detail::batch_kinds,
                        &detail::networking_kinds})
      for (auto& k : group()) out.push_back(std::move(k));
    return out;
  }();
  return kinds;
}

const Kind* find_by_resource(std::string_view group, std::string_view version,
                             std::string_view plural) {
  for (const auto& k : all_kinds())
    if (k.group == group && k.version == version && k.plural == plural) return &k;
  return nullptr;
}

const Kind* find_by_kind(std::string_view group, std::string_view version, std::string_view kind) {
  for (const auto& k : all_kinds())
    if (k.group == group && k.version == version && k.kind == kind) return &k;
  return nullptr;
}

const Kind* find_by_api_version(std::string_view api_version, std::string_view kind) {
  auto slash = api_version.find('/');
  if (slash == std::string_view::npos) return find_by_kind("", api_version, kind);
  return find_by_kind(api_version.substr(0, slash), api_version.substr(slash + 1), kind);
}

}  // namespace k8c::api
