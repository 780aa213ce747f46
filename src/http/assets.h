// Files shipped inside the firstcome binary, embedded at build time by
// cmake/embed_assets.py (src/http/CMakeLists.txt), so a server needs no file
// beside it: the OpenAPI description (docs/openapi.yaml, converted to JSON)
// and the dashboard's page, script and style (src/http/dashboard/).
#pragma once

#include <string_view>

namespace firstcome::http::assets {

std::string_view OpenApiJson();
std::string_view DashboardHtml();
std::string_view DashboardJs();
std::string_view DashboardCss();

}  // namespace firstcome::http::assets
