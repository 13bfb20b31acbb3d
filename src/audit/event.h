// One audit event: a typed record built field by field into a JSON object's members. The
// writer (audit/log.h) adds the sequence number, the instance and the chain hash around it:
//
//   {"seq":42,"time":"2026-11-23T10:00:00.123456Z","type":"authz.deny","request_id":"...",
//    "trace_id":"<32 hex, W3C>",<fields in the order added>,"instance":"gw-1","prev":"<SHA-256 of line 41, hex>"}
//
// Never put a raw SAMLResponse, a cookie or a token in an event: ids and claims only.
// docs/audit.md lists every type with its fields.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"

namespace cg::audit {

// The event types (stable strings: reports and searches select on them).
namespace type {
inline constexpr std::string_view kLoginSuccess = "login.success";
inline constexpr std::string_view kLoginFailure = "login.failure";
inline constexpr std::string_view kSessionCreated = "session.created";
inline constexpr std::string_view kSessionExpired = "session.expired";
inline constexpr std::string_view kSessionLoggedOut = "session.logged_out";
inline constexpr std::string_view kSessionRevoked = "session.revoked";
inline constexpr std::string_view kAuthzAllow = "authz.allow";
inline constexpr std::string_view kAuthzDeny = "authz.deny";
inline constexpr std::string_view kPolicyReloaded = "policy.reloaded";
inline constexpr std::string_view kPolicyRefused = "policy.refused";
inline constexpr std::string_view kKeysInUse = "keys.in_use";
inline constexpr std::string_view kCertificateExpiring = "certificate.expiring";
inline constexpr std::string_view kMetadataExpiring = "metadata.expiring";
inline constexpr std::string_view kMetadataUpdated = "idp.metadata_updated";
inline constexpr std::string_view kMetadataRefused = "idp.metadata_refused";
inline constexpr std::string_view kMetadataUnreachable = "idp.metadata_unreachable";
inline constexpr std::string_view kSpKeysChanged = "sp.certificates_changed";
inline constexpr std::string_view kSpKeysRefused = "sp.certificates_refused";
inline constexpr std::string_view kGatewayStarted = "gateway.started";
inline constexpr std::string_view kGatewayStopped = "gateway.stopped";
inline constexpr std::string_view kTokenIssued = "token.issued";
inline constexpr std::string_view kTokenRenewed = "token.renewed";
inline constexpr std::string_view kTokenRevoked = "token.revoked";
// Written by the log itself.
inline constexpr std::string_view kCheckpoint = "audit.checkpoint";
inline constexpr std::string_view kFileStart = "audit.file_start";
inline constexpr std::string_view kRecovered = "audit.recovered";
}  // namespace type

// How soon an event must be on disk. Durable: before the caller answers (sign-ins, denials,
// revocations, jobs); batched: within the configured bound (allow decisions).
enum class Durability { kBatched, kDurable };

class Event {
 public:
  // request_id and trace_id (the request's W3C trace, core/trace_context.h) are left out when
  // empty: events of no request, and records written before trace ids were.
  Event(std::string_view type, core::WallTime time, std::string_view request_id = {},
        std::string_view trace_id = {});

  Event& str(std::string_view key, std::string_view value);
  Event& num(std::string_view key, int64_t value);
  Event& flag(std::string_view key, bool value);
  Event& time(std::string_view key, core::WallTime t);
  Event& list(std::string_view key, const std::vector<std::string>& values);
  // A value that is already JSON (an object or array built by the caller, e.g. claims).
  Event& json(std::string_view key, std::string_view json_text);

  std::string_view type() const { return type_; }
  // The members, without braces: `"time":"...","type":"...",...`.
  const std::string& body() const { return body_; }
  std::string take_body() { return std::move(body_); }

 private:
  void key(std::string_view k);
  std::string body_;
  std::string type_;
};

// Appends `s` as a JSON string (quoted, escaped). Bytes that are not UTF-8 become U+FFFD, so
// every line stays valid JSON whatever a client sent.
void append_json_string(std::string& out, std::string_view s);

}  // namespace cg::audit
