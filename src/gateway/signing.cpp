#include "gateway/signing.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/encoding.h"
#include "core/time.h"
#include "crypto/jwt.h"
#include "crypto/keys.h"
#include "gateway/errors.h"

namespace cg::gateway {

using json = nlohmann::json;

JwtSigner keyring_signer(const crypto::Keyring& keyring) {
  return [&keyring](const json& claims) {
    return crypto::jwt_sign_es256(keyring.current_signing(), claims);
  };
}

// ---------------------------------------------------------------------------------------------
// IdentityJwts

IdentityJwts::IdentityJwts(Settings settings, const core::Clock& clock, std::string key_id,
                           JwtSigner sign)
    : settings_(std::move(settings)),
      clock_(clock),
      key_id_(std::move(key_id)),
      sign_(std::move(sign)),
      cache_(settings_.cache_entries) {}

Result<std::string> IdentityJwts::issue(const Subject& in) {
  const session::Session& s = in.session;
  auto now = clock_.now();
  std::string key = s.id;
  key += '\0';
  key += in.audience;
  key += '\0';
  key += key_id_;
  key += '\0';
  key += std::to_string(in.policy_generation);  // roles change with a policy reload
  if (in.agent) {
    key += '\0';
    key += in.agent->id;
  }
  if (auto hit = cache_.get(key, now)) return std::move(*hit);
  auto exp = std::min(now + settings_.ttl, s.expires);
  json claims = {{"iss", settings_.issuer},
                 {"aud", in.audience},
                 {"sub", s.subject},
                 {"email", s.first("email")},
                 {"groups", s.values("groups")},
                 {"roles", in.roles},
                 {"idp", s.idp_entity_id},
                 {"iat", core::unix_seconds(now)},
                 {"exp", core::unix_seconds(exp)}};
  if (in.agent) {
    // RFC 8693 "act": the agent acts; "sub" stays the person it acts for.
    claims["act"] = {{"sub", "agent:" + in.agent->agent}, {"token_id", in.agent->id}};
    claims["scope"] = core::join(in.agent->scope, " ");
  }
  auto token =
      sign_ ? sign_(claims) : Result<std::string>(fail(Code::kIdentityUnsigned, "no signer"));
  if (!token || token->empty()) {
    std::string why = token ? "the signer returned nothing" : token.error().message;
    return fail(Code::kIdentityUnsigned, "the identity assertion for '" + std::string(in.audience) +
                                             "' could not be signed (" + why +
                                             "); the request was not passed on");
  }
  cache_.put(std::move(key), *token, now + (exp - now) / 2, now);
  return std::move(*token);
}

// ---------------------------------------------------------------------------------------------
// TokenMinter

TokenMinter::TokenMinter(Settings settings, const crypto::Keyring& keyring, core::Random& random,
                         JwtSigner sign)
    : settings_(std::move(settings)), keyring_(keyring), random_(random), sign_(std::move(sign)) {}

Result<std::string> TokenMinter::access_token(const session::TokenGrant& g,
                                              core::WallTime now) const {
  json claims = {{"iss", settings_.issuer},
                 {"aud", settings_.issuer},
                 {"sub", g.subject},
                 {"sid", g.id},
                 {"jti", core::base64url_encode(random_.bytes(12))},
                 {"iat", core::unix_seconds(now)}};
  if (g.kind == "agent") {
    claims["cg_use"] = "agent";
    claims["act"] = {{"sub", g.agent}};
    claims["scope"] = core::join(g.scope, " ");
    if (!g.project.empty()) claims["project"] = g.project;
    claims["exp"] = core::unix_seconds(g.expires);
  } else {
    claims["cg_use"] = "access";
    claims["exp"] = core::unix_seconds(std::min(now + settings_.access_ttl, g.expires));
  }
  auto t = sign_ ? sign_(claims) : Result<std::string>(fail(Code::kTokenUnminted, "no signer"));
  if (!t || t->empty()) {
    std::string why = t ? "the signer returned nothing" : t.error().message;
    return fail(Code::kTokenUnminted,
                "the access token of " + g.id + " could not be signed (" + why + ")");
  }
  return std::move(*t);
}

Result<std::string> TokenMinter::refresh_token(const session::TokenGrant& g,
                                               uint64_t generation) const {
  // cgr1.<grant>.<generation>.<HMAC(family secret, grant and generation)>.
  auto secret = keyring_.open(g.secret, "token-family:" + g.id);
  if (!secret || secret->empty()) {
    std::string why = secret ? "it is empty" : secret.error().message;
    return fail(Code::kTokenUnminted, "the refresh secret of " + g.id +
                                          " does not open under this gateway's keys (" + why + ")");
  }
  std::string n = std::to_string(generation);
  auto mac = crypto::hmac_sha256(*secret, "claimgate-refresh\n" + g.id + "\n" + n);
  return "cgr1." + g.id + "." + n + "." +
         core::base64url_encode(std::span<const uint8_t>(mac.data(), mac.size()));
}

Result<std::string> TokenMinter::token_json(const session::TokenGrant& g, core::WallTime now,
                                            uint64_t generation) const {
  CG_TRY(std::string at, access_token(g, now));
  CG_TRY(std::string rt, refresh_token(g, generation));
  auto exp = std::min(now + settings_.access_ttl, g.expires);
  json j = {{"access_token", at},
            {"token_type", "Bearer"},
            {"expires_in", std::chrono::duration_cast<std::chrono::seconds>(exp - now).count()},
            {"expires_at", core::unix_seconds(exp)},
            {"refresh_token", rt},
            {"refresh_expires_at", core::unix_seconds(g.expires)},
            {"token_id", g.id},
            {"subject", g.subject}};
  return j.dump() + "\n";
}

}  // namespace cg::gateway
