#include "http/errors.h"

namespace cg::http {

const char* code_name(Code c) {
  switch (c) {
    case Code::kListen:
      return "http.listen";
    case Code::kTls:
      return "http.tls";
    case Code::kBodyTooLarge:
      return "http.body_too_large";
    case Code::kTimeout:
      return "http.timeout";
    case Code::kClient:
      return "http.client";
    case Code::kUpstreamConnect:
      return "http.upstream_connect";
    case Code::kUpstreamTimeout:
      return "http.upstream_timeout";
    case Code::kUpstreamProtocol:
      return "http.upstream_protocol";
    case Code::kBadUrl:
      return "http.bad_url";
    case Code::kWebSocket:
      return "http.websocket";
    case Code::kFetch:
      return "http.fetch";
    case Code::kBadRequest:
      return "http.bad_request";
    case Code::kNotImplemented:
      return "http.not_implemented";
    case Code::kVersion:
      return "http.version";
  }
  return "http.unknown";
}

}  // namespace cg::http
