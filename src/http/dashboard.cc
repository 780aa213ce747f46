#include "http/dashboard.h"

#include <string>

#include "http/assets.h"

namespace firstcome::http {

namespace {

constexpr const char* kHtmlType = "text/html; charset=utf-8";
constexpr const char* kJsType = "text/javascript; charset=utf-8";
constexpr const char* kCssType = "text/css; charset=utf-8";

// Each line "\r\nName: value" (Reply::headers).
constexpr const char* kPageHeaders =
    "\r\nContent-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
    "\r\nX-Content-Type-Options: nosniff"
    "\r\nX-Frame-Options: DENY"
    "\r\nReferrer-Policy: no-referrer"
    "\r\nCache-Control: no-store";

// The page, with the marker the script reads to know whether to ask for the
// admin token filled in (built once per variant).
const std::string& Page(bool token_required) {
  static const auto make = [](const char* value) {
    std::string page(assets::DashboardHtml());
    const std::string marker = "{{ADMIN_TOKEN}}";
    if (auto at = page.find(marker); at != std::string::npos)
      page.replace(at, marker.size(), value);
    return page;
  };
  static const std::string with_token = make("required");
  static const std::string without_token = make("none");
  return token_required ? with_token : without_token;
}

}  // namespace

void AnswerDashboard(std::string_view target, bool token_required, Reply& reply) {
  reply.status = 200;
  reply.headers = kPageHeaders;
  if (target == "/dashboard/dashboard.js") {
    reply.content_type = kJsType;
    reply.body.assign(assets::DashboardJs());
  } else if (target == "/dashboard/dashboard.css") {
    reply.content_type = kCssType;
    reply.body.assign(assets::DashboardCss());
  } else {
    reply.content_type = kHtmlType;
    reply.body.assign(Page(token_required));
  }
}

}  // namespace firstcome::http
