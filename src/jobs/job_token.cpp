#include "jobs/job_token.h"

#include <nlohmann/json.hpp>

#include "core/encoding.h"
#include "core/time.h"
#include "crypto/errors.h"
#include "jobs/errors.h"

namespace cg::jobs {
namespace {

using nlohmann::json;

int64_t unix_s(core::WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
core::WallTime from_unix_s(int64_t s) { return core::from_unix_seconds(s); }

std::string str(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

JobClaims claims_of(const json& c) {
  JobClaims out;
  out.issuer = str(c, "iss");
  out.job_id = str(c, "job");
  out.project = str(c, "project");
  out.submitter = str(c, "sub");
  out.digest = str(c, "cmd");
  std::string aud = str(c, "aud");
  if (aud.starts_with("claimgate-pool:")) out.pool = aud.substr(15);
  out.token_id = str(c, "jti");
  if (c.contains("nbf") && c["nbf"].is_number_integer())
    out.not_before = from_unix_s(c["nbf"].get<int64_t>());
  if (c.contains("exp") && c["exp"].is_number_integer())
    out.expires = from_unix_s(c["exp"].get<int64_t>());
  return out;
}

}  // namespace

std::string pool_audience(std::string_view pool) { return "claimgate-pool:" + std::string(pool); }

Result<std::string> mint_job_token(const crypto::SigningKey& key, std::string_view issuer,
                                   const Job& job, core::WallTime now, std::chrono::seconds ttl,
                                   std::string_view token_id) {
  auto exp = std::min(now + ttl, job.deadline);
  json claims = {{"iss", issuer},        {"aud", pool_audience(job.spec.pool)},
                 {"sub", job.submitter}, {"cg_use", "job"},
                 {"job", job.id},        {"project", job.project},
                 {"cmd", job.digest()},  {"nbf", unix_s(now)},
                 {"iat", unix_s(now)},   {"exp", unix_s(exp)},
                 {"jti", token_id}};
  return crypto::jwt_sign_es256(key, claims);
}

JobClaims peek_job_claims(std::string_view token) {
  size_t d1 = token.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return {};
  auto raw = core::base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  if (!raw) return {};
  auto c = json::parse(*raw, nullptr, false);
  if (c.is_discarded() || !c.is_object()) return {};
  JobClaims out = claims_of(c);
  for (std::string* s : {&out.job_id, &out.project, &out.submitter, &out.pool, &out.digest})
    *s = core::clip(*s, 128);
  return out;
}

Result<JobClaims> verify_job_token(const crypto::JwtVerifier& verifier, std::string_view token,
                                   core::WallTime now, const JobExpectations& expect) {
  crypto::JwtExpectations je;
  je.leeway = expect.skew;
  // An expired token is still checked for everything else when the caller allows it: its
  // signature is what ties a renewal to the job.
  auto checked_at = now;
  if (expect.allow_expired) {
    auto peek = peek_job_claims(token);
    if (peek.expires != core::WallTime{} && peek.expires <= now)
      checked_at = peek.expires - std::chrono::seconds(1);
  }
  auto c = verifier.verify(token, checked_at, je);
  if (!c) {
    const Error& e = c.error();
    switch (static_cast<crypto::Code>(e.code)) {
      case crypto::Code::kUnknownKey:
        return fail(Code::kTokenUnknownKey,
                    "the job token is signed by a key this node does not "
                    "trust: " +
                        e.message);
      case crypto::Code::kTokenSignature:
        return fail(Code::kTokenSignature,
                    "the job token's signature does not verify: it was altered or forged");
      case crypto::Code::kTokenExpired:
        return fail(Code::kTokenExpired,
                    "the job token has expired (" + e.message +
                        "); it was not renewed in time, so the job is not allowed to start");
      case crypto::Code::kTokenClaims:
        return fail(Code::kTokenTime, "the job token is not valid yet: " + e.message);
      default:
        return fail(Code::kTokenInvalid, "the job token is not a token: " + e.message);
    }
  }
  const json& claims = *c;
  if (str(claims, "cg_use") != "job") {
    return fail(Code::kTokenInvalid, "this token was not issued for a job (its use is '" +
                                         core::clip(str(claims, "cg_use"), 20) + "')");
  }
  JobClaims out = claims_of(claims);
  if (out.job_id.empty() || out.project.empty() || out.submitter.empty() || out.digest.empty() ||
      out.pool.empty()) {
    return fail(Code::kTokenInvalid,
                "the job token lacks one of its bindings (job, project, sub, cmd, aud)");
  }
  if (!expect.pool.empty() && out.pool != expect.pool) {
    return fail(Code::kTokenPool, "the job token is for node pool '" + out.pool +
                                      "', and this node is in pool '" + expect.pool + "'");
  }
  if (!expect.job_id.empty() && out.job_id != expect.job_id) {
    return fail(Code::kTokenJob, "the job token is for job " + out.job_id +
                                     ", and this node was started for job " + expect.job_id);
  }
  if (!expect.project.empty() && out.project != expect.project) {
    return fail(Code::kTokenJob, "the job token is for project '" + out.project +
                                     "', and this node was started for project '" + expect.project +
                                     "'");
  }
  if (!expect.digest.empty() && out.digest != expect.digest) {
    return fail(Code::kTokenCommand, "the command or working directory is not the one job " +
                                         out.job_id + " was submitted with (digest " +
                                         expect.digest.substr(0, 12) + "..., the token binds " +
                                         out.digest.substr(0, 12) + "...)");
  }
  return out;
}

}  // namespace cg::jobs
