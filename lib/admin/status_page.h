// The status page: GET /ui on the admin listener, a read-only view for browsers.
//
// The page is static and holds no data, so serving it needs no credentials and reveals nothing.
// Its inline script asks for the admin API token (typed by the user, kept in the tab's
// sessionStorage only), then fetches /v1/status and /v1/events with it as a bearer token every
// 2 s and redraws. The token never appears in a URL, a cookie or a log line. Everything from the
// API is put into the page as text (textContent), never parsed as markup.
//
// Served with a Content-Security-Policy that allows only this page's own script and style (by
// their SHA-256), fetches to the same origin, and nothing else (no images, frames, forms, base);
// nosniff, no-store, no referrer, no framing.
#pragma once

#include <string_view>

#include "admin/http_server.h"

namespace failoverd::admin {

// The path the page is served at.
inline constexpr std::string_view kStatusPagePath = "/ui";

// The page's response (200, text/html, with the security headers above).
Response status_page();

}  // namespace failoverd::admin
