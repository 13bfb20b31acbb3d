// A small HTTP(S) client: `fetch_async` for the gateway's request coroutines (Microsoft Graph
// during a sign-in: awaited on the connection's own io_context, so other connections on that
// thread go on), `fetch` (blocking) for the CLI (`claimgate login`, `token`, `admin`) and for
// fetches made off the event loops. TLS verifies the peer against the system CA store (or a
// given CA file) and the host name; the whole exchange is bounded by one deadline.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "http/asio.h"

namespace cg::http {

struct FetchRequest {
  std::string method = "GET";
  std::string url;  // http://... or https://...; may carry a query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{15'000};  // the whole exchange
  std::string ca_file;                        // "" : the system CA store
  size_t max_body = 16u << 20;
};

struct FetchResponse {
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The first header with this name (case-insensitive), or "".
  std::string header(std::string_view name) const;
};

// One request on a fresh connection. Fails (6011 http.fetch) when the URL cannot be used, the
// host does not resolve or refuses, TLS does not verify, the deadline passes, or the answer is
// not HTTP; any HTTP status is a success here.
Result<FetchResponse> fetch(const FetchRequest& request);
// The same exchange on the awaiting coroutine's executor (name resolution included in the
// deadline).
awaitable<Result<FetchResponse>> fetch_async(FetchRequest request);

}  // namespace cg::http
