#include "jobs/errors.h"

namespace cg::jobs {

const char* code_name(Code c) {
  switch (c) {
    case Code::kBadSpec:
      return "jobs.bad_spec";
    case Code::kNotFound:
      return "jobs.not_found";
    case Code::kStore:
      return "jobs.store";
    case Code::kExecutor:
      return "jobs.executor";
    case Code::kState:
      return "jobs.state";
    case Code::kForbidden:
      return "jobs.forbidden";
    case Code::kIdentity:
      return "jobs.identity";
    case Code::kTokenInvalid:
      return "jobs.token_invalid";
    case Code::kTokenSignature:
      return "jobs.token_signature";
    case Code::kTokenUnknownKey:
      return "jobs.token_unknown_key";
    case Code::kTokenExpired:
      return "jobs.token_expired";
    case Code::kTokenTime:
      return "jobs.token_time";
    case Code::kTokenPool:
      return "jobs.token_pool";
    case Code::kTokenCommand:
      return "jobs.token_command";
    case Code::kTokenJob:
      return "jobs.token_job";
    case Code::kTokenRevoked:
      return "jobs.token_revoked";
    case Code::kUnreachable:
      return "jobs.unreachable";
    case Code::kRenewal:
      return "jobs.renewal";
    case Code::kJwks:
      return "jobs.jwks";
    case Code::kWorkdir:
      return "jobs.workdir";
    case Code::kRunAs:
      return "jobs.run_as";
  }
  return "jobs.unknown";
}

}  // namespace cg::jobs
