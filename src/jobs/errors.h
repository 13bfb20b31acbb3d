// Error codes of src/jobs: the jobs service, job tokens and the node verifier (9000-9999).
// docs/error-codes.md lists them with what a person can do about each.
#pragma once

#include "core/result.h"

namespace cg::jobs {

enum class Code : int {
  kBadSpec = 9001,          // a job specification is refused (unknown field, bad value, limits)
  kNotFound = 9002,         // no such job in that project
  kStore = 9003,            // the jobs database cannot be read or written
  kExecutor = 9004,         // the executor cannot start, query or stop a job
  kState = 9005,            // the job is not in a state that allows this (cancel a finished job)
  kForbidden = 9006,        // the caller lacks the permission in the job's project
  kIdentity = 9007,         // `jobs serve`: the request carries no valid gateway identity
  kTokenInvalid = 9010,     // not a job token (malformed, another use, claims missing)
  kTokenSignature = 9011,   // the job token's signature does not verify
  kTokenUnknownKey = 9012,  // the job token names a key that is not in the JWKS
  kTokenExpired = 9013,     // the job token expired (and was not renewed)
  kTokenTime = 9014,        // the job token is not valid yet (nbf in the future)
  kTokenPool = 9015,        // the token is for another node pool
  kTokenCommand = 9016,     // the command or working directory is not the one bound
  kTokenJob = 9017,         // the token is for another job or project than expected
  kTokenRevoked = 9018,     // the job's token was revoked (cancelled, ended, admin)
  kUnreachable = 9019,      // the gateway cannot be reached to check revocation
  kRenewal = 9020,          // a renewal is refused (secret, deadline, job not running)
  kJwks = 9021,             // the JWKS cannot be read (file, URL, format)
  kWorkdir = 9022,          // the working directory cannot be resolved, or changed since submission
  kRunAs = 9023,            // no account to run the job as, or one that would see the gateway's files
};

const char* code_name(Code c);

}  // namespace cg::jobs
