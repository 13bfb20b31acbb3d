#include "crypto/jwt.h"

#include <limits>

#include "core/encoding.h"
#include "core/time.h"
#include "crypto/errors.h"

namespace cg::crypto {
namespace {

std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// An integer claim as int64, an unsigned one past INT64_MAX saturated (not wrapped negative).
int64_t numeric_date(const nlohmann::json& v) {
  if (v.is_number_unsigned() &&
      v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return std::numeric_limits<int64_t>::max();
  return v.get<int64_t>();
}

std::string when(int64_t unix) { return core::format_datetime(core::from_unix_seconds(unix)); }

}  // namespace

Result<std::string> jwt_sign_es256(const SigningKey& key, const nlohmann::json& claims) {
  nlohmann::json header = {{"alg", "ES256"}, {"typ", "JWT"}, {"kid", key.id}};
  std::string input =
      core::base64url_encode(header.dump()) + "." + core::base64url_encode(claims.dump());
  CG_TRY(auto sig, key.key.sign(HashAlg::kSha256, as_bytes(input), /*raw_ecdsa=*/true));
  return input + "." + core::base64url_encode(sig);
}

nlohmann::json jwks_of(const Keyring& ring) {
  nlohmann::json keys = nlohmann::json::array();
  // Newest first: verifiers that try keys in order find the current one at once.
  for (auto it = ring.signing_keys().rbegin(); it != ring.signing_keys().rend(); ++it) {
    auto xy = it->public_key.ec_p256_xy();
    if (!xy) continue;  // Keyring::load admits P-256 keys only
    keys.push_back({{"kty", "EC"},
                    {"crv", "P-256"},
                    {"use", "sig"},
                    {"alg", "ES256"},
                    {"kid", it->id},
                    {"x", core::base64url_encode(xy->first)},
                    {"y", core::base64url_encode(xy->second)}});
  }
  return {{"keys", keys}};
}

JwtVerifier::JwtVerifier(const Keyring& ring) {
  for (const auto& k : ring.signing_keys()) add(k.id, k.public_key);
}

Result<JwtVerifier> JwtVerifier::from_jwks(std::string_view jwks_json) {
  auto doc = nlohmann::json::parse(jwks_json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    return fail(Code::kBadToken, "JWKS is not a JSON object with a \"keys\" array");
  }
  JwtVerifier v;
  for (const auto& k : doc["keys"]) {
    if (!k.is_object() || k.value("kty", "") != "EC" || k.value("crv", "") != "P-256") continue;
    auto x = core::base64url_decode(k.value("x", ""));
    auto y = core::base64url_decode(k.value("y", ""));
    if (!x || !y) return fail(Code::kBadToken, "JWKS key has bad x or y");
    auto key = PublicKey::from_ec_p256_xy(as_bytes(*x), as_bytes(*y));
    if (!key) return fail(key.take_error());
    v.add(k.value("kid", ""), *key);
  }
  if (v.size() == 0) return fail(Code::kBadToken, "JWKS holds no EC P-256 key");
  return v;
}

Result<nlohmann::json> JwtVerifier::verify(std::string_view token, core::WallTime now,
                                           const JwtExpectations& expect) const {
  size_t d1 = token.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return fail(Code::kBadToken, "token is not three base64url parts joined by '.'");
  }
  auto header_raw = core::base64url_decode(token.substr(0, d1));
  auto claims_raw = core::base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  auto sig = core::base64url_decode(token.substr(d2 + 1));
  if (!header_raw || !claims_raw || !sig)
    return fail(Code::kBadToken, "token part is not base64url");
  auto header = nlohmann::json::parse(*header_raw, nullptr, false);
  auto claims = nlohmann::json::parse(*claims_raw, nullptr, false);
  if (header.is_discarded() || !header.is_object() || claims.is_discarded() ||
      !claims.is_object()) {
    return fail(Code::kBadToken, "token header or claims are not JSON objects");
  }
  if (header.value("alg", "") != "ES256") {
    return fail(Code::kBadToken, "token algorithm is '" + core::clip(header.value("alg", ""), 20) +
                                     "'; only ES256 is accepted");
  }
  std::string kid = header.value("kid", "");
  auto key = keys_.find(kid);
  if (key == keys_.end()) {
    return fail(Code::kUnknownKey, "token signed with key id '" + core::clip(kid, 40) +
                                       "', which is not among the trusted keys");
  }
  if (!key->second.verify(HashAlg::kSha256, as_bytes(token.substr(0, d2)), as_bytes(*sig),
                          /*raw_ecdsa=*/true)) {
    return fail(Code::kTokenSignature, "token signature does not verify (altered, or forged)");
  }
  // NumericDates compared as clamped dates: an exp of 2^63-1 is "far future", never an overflow.
  auto leeway = core::clamp_duration(expect.leeway);
  if (!claims.contains("exp") || !claims["exp"].is_number_integer()) {
    return fail(Code::kTokenClaims, "token has no integer \"exp\"");
  }
  if (core::from_unix_seconds(numeric_date(claims["exp"])) + leeway <= now) {
    return fail(Code::kTokenExpired, "token expired at " + when(numeric_date(claims["exp"])) +
                                         "; it is now " + core::format_datetime(now));
  }
  for (const char* c : {"nbf", "iat"}) {
    if (claims.contains(c) && claims[c].is_number_integer() &&
        core::from_unix_seconds(numeric_date(claims[c])) - leeway > now) {
      return fail(Code::kTokenClaims, std::string("token \"") + c + "\" is " +
                                          when(numeric_date(claims[c])) + ", in the future");
    }
  }
  if (!expect.issuer.empty() && claims.value("iss", "") != expect.issuer) {
    return fail(Code::kTokenClaims, "token issuer is '" + core::clip(claims.value("iss", ""), 80) +
                                        "', expected '" + expect.issuer + "'");
  }
  if (!expect.audience.empty()) {
    bool ok = false;
    const auto& aud = claims.contains("aud") ? claims["aud"] : nlohmann::json();
    if (aud.is_string()) ok = aud.get<std::string>() == expect.audience;
    if (aud.is_array()) {
      for (const auto& a : aud)
        ok = ok || (a.is_string() && a.get<std::string>() == expect.audience);
    }
    if (!ok) {
      return fail(Code::kTokenClaims, "token audience " + core::clip(aud.dump(), 80) +
                                          " does not include '" + expect.audience + "'");
    }
  }
  return claims;
}

}  // namespace cg::crypto
