// GET /dashboard: the live operator page, its script and its style, shipped
// inside the binary (http/assets.h; the sources are src/http/dashboard/).
//
// Who may load it: without an admin token configured, loopback clients only,
// as every admin call. With one, the page is served to anyone: a browser
// cannot send a Bearer token when it navigates, and the page holds no data.
// It then asks for the token, keeps it in sessionStorage and sends it on
// every call it makes; its actions are admin calls the server checks.
//
// The answers forbid inline script and style, eval, framing and any other
// origin (Content-Security-Policy), so the page can only talk to this server.
#pragma once

#include <string_view>

#include "http/reply.h"

namespace firstcome::http {

// `target`: /dashboard, /dashboard/dashboard.js or /dashboard/dashboard.css.
// `token_required`: an admin token is configured (the page asks for it).
void AnswerDashboard(std::string_view target, bool token_required, Reply& reply);

}  // namespace firstcome::http
