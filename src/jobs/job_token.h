// Job tokens: the credential a job carries to its nodes. An ES256 JWT signed with the
// gateway's keyring (so the gateway's JWKS verifies it), bound to one job:
//
//   {"iss": <gateway>, "aud": "claimgate-pool:<pool>", "sub": <submitter>, "cg_use": "job",
//    "job": <id>, "project": <project>, "cmd": <command_digest>, "nbf", "iat", "exp", "jti"}
//
// Short-lived (jobs.token_ttl); renewed while the job runs (service.h: renew), never past the
// job's deadline. verify_job_token is the check every node makes (exec.h) and the renewal
// endpoint makes: each refusal has its own code and one sentence.
#pragma once

#include <chrono>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "crypto/jwt.h"
#include "crypto/keyring.h"
#include "jobs/job.h"

namespace cg::jobs {

struct JobClaims {
  std::string issuer;
  std::string job_id;
  std::string project;
  std::string submitter;
  std::string digest;
  std::string pool;
  std::string token_id;  // jti
  core::WallTime not_before{}, expires{};
};

std::string pool_audience(std::string_view pool);

// Signs a token for `job`, valid from `now` until min(now + ttl, job.deadline).
Result<std::string> mint_job_token(const crypto::SigningKey& key, std::string_view issuer,
                                   const Job& job, core::WallTime now, std::chrono::seconds ttl,
                                   std::string_view token_id);

// What a verifier expects; empty fields are not checked.
struct JobExpectations {
  std::string pool;     // the node's pool: the token's audience
  std::string digest;   // command_digest of what the node is about to run
  std::string job_id;   // the job the node was launched for
  std::string project;  // the project the node was launched for
  std::chrono::seconds skew{60};
  bool allow_expired = false;  // the renewal endpoint: the secret, not exp, keeps a job going
};

// Verifies signature, use, times, then the bindings, in that order; the first failure is
// returned with its code (kTokenSignature, kTokenUnknownKey, kTokenExpired, kTokenPool, ...).
Result<JobClaims> verify_job_token(const crypto::JwtVerifier& verifier, std::string_view token,
                                   core::WallTime now, const JobExpectations& expect);

// The claims read without any check (for reporting a refused token: never trusted).
JobClaims peek_job_claims(std::string_view token);

}  // namespace cg::jobs
