// Error codes of src/http: the server and the proxy (6000-6499).
#pragma once

#include "core/result.h"

namespace cg::http {

enum class Code : int {
  kListen = 6001,            // cannot listen on the configured address
  kTls = 6002,               // the TLS certificate or key cannot be used
  kBodyTooLarge = 6003,      // a request body is over its limit (413)
  kTimeout = 6004,           // a client was too slow (408)
  kClient = 6005,            // a client connection failed mid-request
  kUpstreamConnect = 6006,   // the upstream refused or did not accept the connection (502)
  kUpstreamTimeout = 6007,   // the upstream did not answer in time (504)
  kUpstreamProtocol = 6008,  // the upstream's answer was not valid HTTP (502)
  kBadUrl = 6009,            // a URL in the config cannot be used
  kWebSocket = 6010,         // a WebSocket upgrade failed (client or upstream side)
  kFetch = 6011,             // a request the gateway or the CLI made failed (http/client.h)
  kBadRequest = 6012,        // a request head or body framing is malformed or ambiguous (400)
  kNotImplemented = 6013,    // a transfer coding other than chunked (501)
  kVersion = 6014,           // an HTTP version other than 1.0 and 1.1 (505)
};

const char* code_name(Code c);

}  // namespace cg::http
