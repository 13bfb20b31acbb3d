// The gateway's audit records (audit/event.h): what each sign-in, decision and session change
// writes, and how a request waits for its record to be on disk.
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "audit/config.h"
#include "audit/errors.h"
#include "core/encoding.h"
#include "core/time.h"
#include "crypto/keys.h"
#include "gateway/gateway.h"
#include "gateway/internal/request.h"

namespace cg::gateway {

namespace bhttp = http::bhttp;
namespace asio = http::asio;
using http::awaitable;
using json = nlohmann::json;

std::string session_ref(std::string_view session_id) {
  // The session id opens a session in the store: records carry a reference to it instead.
  // (One SHA-256 of a short string per record: no cache.)
  std::string in = "claimgate-session-ref\n";
  in += session_id;
  auto h = crypto::sha256(in);
  return core::hex_encode(std::span<const uint8_t>(h.data(), 8));
}

Status Gateway::open_audit() {
  if (!cfg_.audit.enabled) {
    audit_certificates();  // the log lines, at least
    return {};
  }
  CG_TRY(auto sinks, audit::open_sinks(cfg_.audit));
  // Checkpoints are signed with the audit writer's own key, never the request path's keyring.
  CG_TRY(audit_, audit::AuditLog::open(cfg_.audit.log, clock_, std::move(sinks)));
  for (const auto& n : audit_->notes()) log_.warn("audit: ", n);
  const auto& ck = audit_->checkpoint_key();
  log_.info("audit checkpoints are signed with checkpoint key ", ck.id, " sha256:", ck.sha256, " (",
            audit_->checkpoint_key_path(),
            "); pin it: claimgate audit verify "
            "--checkpoint-key sha256:",
            ck.sha256);
  auto now = clock_.now();
  audit::Event started(audit::type::kGatewayStarted, now);
  std::vector<std::string> idps, routes;
  for (const auto& i : cfg_.saml.idps) idps.push_back(i.name + "=" + i.metadata.entity_id);
  for (const auto& r : cfg_.routes) routes.push_back(r.name + "=" + r.prefix);
  started.str("config", cfg_.config_path)
      .str("public_url", cfg_.public_url.origin())
      .list("idps", idps)
      .list("routes", routes)
      .str("store", cfg_.store_kind)
      .str("on_failure",
           cfg_.audit.on_failure == audit::FailureMode::kClosed ? "closed" : "open_reads");
  if (cfg_.policy) {
    started.num("policy_rules", static_cast<int64_t>(cfg_.policy->rules().size()))
        .num("policy_bindings", static_cast<int64_t>(cfg_.policy->bindings().size()));
  }
  audit(std::move(started), audit::Durability::kDurable);
  audit::Event keys(audit::type::kKeysInUse, now);
  std::vector<std::string> sealing, signing;
  for (const auto& k : keyring_.sealing_keys()) sealing.push_back(k.id);
  for (const auto& k : keyring_.signing_keys()) signing.push_back(k.id);
  keys.list("sealing_keys", sealing)
      .list("signing_keys", signing)
      .str("current_sealing", keyring_.current_sealing().id)
      .str("current_signing", keyring_.current_signing().id)
      .str("sp_signing_cert", cfg_.saml.sp.current.cert.sha256_fingerprint());
  if (cfg_.saml.sp.next)
    keys.str("sp_next_signing_cert", cfg_.saml.sp.next->cert.sha256_fingerprint());
  if (cfg_.saml.sp.previous)
    keys.str("sp_previous_signing_cert", cfg_.saml.sp.previous->cert.sha256_fingerprint());
  audit(std::move(keys), audit::Durability::kDurable);
  audit_certificates();
  registry_.gauge(
      "claimgate_audit_healthy",
      "1 while the audit log is written, 0 while writes fail (disk full, read-only)", {}, [this] {
        return std::vector<std::pair<core::Labels, double>>{{{}, audit_->healthy() ? 1.0 : 0.0}};
      });
  // The writer's figures, one family each (a unit per name; counters end in _total).
  using Stats = audit::LogStats;
  auto figure = [this](std::string name, std::string help, uint64_t Stats::*field, bool counter) {
    auto read = [this, field] {
      return std::vector<std::pair<core::Labels, double>>{
          {{}, static_cast<double>(audit_->stats().*field)}};
    };
    if (counter) {
      registry_.counter_reader(std::move(name), std::move(help), {}, std::move(read));
    } else {
      registry_.gauge(std::move(name), std::move(help), {}, std::move(read));
    }
  };
  figure("claimgate_audit_records_total", "Audit records written", &Stats::records, true);
  figure("claimgate_audit_written_bytes_total", "Bytes written to the audit log", &Stats::bytes,
         true);
  figure("claimgate_audit_syncs_total", "fsyncs of the audit log", &Stats::syncs, true);
  figure("claimgate_audit_write_errors_total", "Failed writes or syncs of the audit log",
         &Stats::write_errors, true);
  figure("claimgate_audit_dropped_records_total",
         "Audit records dropped (audit.max_pending exceeded while writes failed)", &Stats::dropped,
         true);
  figure("claimgate_audit_checkpoints_total", "Signed checkpoints written to the audit log",
         &Stats::checkpoints, true);
  figure("claimgate_audit_rotations_total", "Rotations of the audit log file", &Stats::rotations,
         true);
  figure("claimgate_audit_pending_bytes", "Audit record bytes queued and not yet written",
         &Stats::pending_bytes, false);
  figure("claimgate_audit_last_sequence", "The sequence number of the last audit record written",
         &Stats::last_seq, false);
  return {};
}

void Gateway::close_audit() {
  if (!audit_) return;
  audit::Event ev(audit::type::kGatewayStopped, clock_.now());
  ev.str("config", cfg_.config_path);
  audit(std::move(ev), audit::Durability::kDurable);
  audit_->close();
}

void Gateway::audit_certificates() {
  auto now = clock_.now();
  last_cert_audit_ = now;
  // The keyring's schedule (key_rotation; `claimgate keys schedule` run daily does each step).
  const auto& rot = cfg_.key_rotation;
  for (const auto& k : keyring_.signing_keys()) {
    auto made = crypto::key_id_time(k.id);
    if (!made) continue;
    auto age = now - *made;
    if (k.next && age > rot.overlap + std::chrono::hours(24)) {
      log_.warn("keyring: key ", k.id, " has been staged for ",
                std::chrono::duration_cast<std::chrono::hours>(age).count() / 24,
                " days, past key_rotation.overlap: is `claimgate keys schedule` running?");
    } else if (!k.next && k.id == keyring_.current_signing().id &&
               age > rot.every + std::chrono::hours(24)) {
      log_.warn("keyring: the current key ", k.id, " is ",
                std::chrono::duration_cast<std::chrono::hours>(age).count() / 24,
                " days old, past key_rotation.every: is `claimgate keys schedule` running?");
    }
  }
  auto check = [&](const std::string& use, const crypto::Certificate& c) {
    if (c.key_only()) return;  // an IdP key without a certificate has no dates
    auto left = c.not_after() - now;
    if (left > cfg_.cert_warning) return;
    auto days = std::chrono::duration_cast<std::chrono::hours>(left).count() / 24;
    const char* advice = "claimgate certs rollover";
    if (use.rfind("idp:", 0) == 0) advice = "the IdP must publish its next certificate";
    if (use == "tls") advice = "renew the TLS certificate";
    log_.warn(left.count() > 0 ? core::LogKey("certificate.expiring")
                               : core::LogKey("certificate.expired"),
              {{"use", use},
               {"subject", c.subject()},
               {"fingerprint", c.sha256_fingerprint().substr(0, 23)},
               {"days_left", left.count() > 0 ? core::LogValue(days) : core::LogValue()},
               {"not_after", core::format_datetime(c.not_after())},
               {"advice", advice}});
    if (!audit_) return;
    audit::Event ev(audit::type::kCertificateExpiring, now);
    ev.str("use", use)
        .str("subject", c.subject())
        .str("fingerprint", c.sha256_fingerprint())
        .time("not_after", c.not_after())
        .num("days_left", std::chrono::duration_cast<std::chrono::hours>(left).count() / 24);
    audit(std::move(ev), audit::Durability::kBatched);
  };
  auto keys = sp();
  check("sp-signing", keys->sp.current.cert);
  if (keys->sp.next) check("sp-signing-next", keys->sp.next->cert);
  for (const auto& idp : cfg_.saml.idps) {
    auto md = live(idp.name)->metadata;
    for (const auto& c : md->signing_certs) check("idp:" + idp.name, c);
    // The IdP's metadata document itself (validUntil), when it says when it ends.
    if (audit_ && md->valid_until && *md->valid_until - now <= cfg_.cert_warning) {
      audit::Event ev(audit::type::kMetadataExpiring, now);
      ev.str("idp", idp.name)
          .str("entity_id", md->entity_id)
          .time("valid_until", *md->valid_until)
          .num("days_left",
               std::chrono::duration_cast<std::chrono::hours>(*md->valid_until - now).count() / 24);
      audit(std::move(ev), audit::Durability::kBatched);
    }
  }
  if (!cfg_.server.tls_cert_file.empty()) {
    if (auto c = crypto::Certificate::load(cfg_.server.tls_cert_file)) check("tls", *c);
  }
}

audit::AuditLog::Ticket Gateway::audit(audit::Event ev, audit::Durability d) {
  if (!audit_) return 0;
  return audit_->append(std::move(ev), d);
}

awaitable<bool> Gateway::durable(audit::AuditLog::Ticket t) {
  if (!audit_) co_return true;
  if (t == 0) co_return false;
  auto ex = co_await asio::this_coro::executor;
  // (Named: GCC 12 destroys a lambda written inside a co_await expression twice; gateway.h.)
  auto initiate = [this, t, ex](auto handler) {
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    audit_->when_durable(
        t, [h, ex](bool done) { asio::post(ex, [h, done]() mutable { (*h)(done); }); });
  };
  bool ok = co_await asio::async_initiate<decltype(asio::use_awaitable), void(bool)>(
      std::move(initiate), asio::use_awaitable);
  co_return ok;
}

audit::Event Gateway::event(std::string_view type, const Request& r) const {
  audit::Event ev(type, clock_.now(), r.ex.request_id(), r.ex.trace().trace_id);
  return ev;
}

audit::AuditLog::Ticket Gateway::audit_decision(Request& r, const policy::Decision& d,
                                                audit::Durability dur) {
  if (!audit_) return 0;
  bool allow = d.allowed();
  if (allow && !cfg_.audit.record_allows) return 0;
  audit::Event ev = event(allow ? audit::type::kAuthzAllow : audit::type::kAuthzDeny, r);
  ev.str("subject", r.session ? r.session->session->subject : "");
  if (r.session) {
    if (!r.session_id.empty()) ev.str("session", session_ref(r.session_id));
    ev.str("roles", grants_of(r).roles_joined);
  }
  if (r.token) {
    ev.str("token_id", r.token->id);
    if (r.agent()) {
      ev.str("actor", "agent:" + r.token->agent)
          .str("on_behalf_of", r.token->subject)
          .str("scope", core::join(r.token->scope, ","));
    }
  }
  if (r.token_error) ev.str("token_error", r.token_error->message);
  std::string_view method = r.ex.method_string();
  if (!r.original_method.empty()) method = r.original_method;
  ev.str("method", method)
      .str("path", r.path)
      .str("route", r.route_name)
      .str("rule", d.rule)
      .str("reason", std::string(policy::reason_name(d.reason)))
      .str("project", d.project)
      .str("permission", d.permission);
  if (!d.condition.empty()) ev.str("condition", d.condition);
  if (!allow) ev.str("client", r.ex.client_address());
  return audit(std::move(ev), dur);
}

awaitable<void> Gateway::audit_signin_failure(Request& r, const std::string& idp, const Error& e,
                                              const saml::ValidationReport* report) {
  if (!audit_) co_return;
  audit::Event ev = event(audit::type::kLoginFailure, r);
  ev.str("idp", idp).str("code", e.name).num("code_number", e.code).str("message", e.message);
  if (report) {
    if (!report->checks.empty()) ev.str("check", report->checks.back().name);
    ev.str("issuer", report->claimed_issuer).str("assertion_id", report->claimed_assertion_id);
  }
  ev.str("client", r.ex.client_address())
      .str("user_agent", core::clip(r.ex.header(bhttp::field::user_agent), 200));
  auto t = audit(std::move(ev), audit::Durability::kDurable);
  co_await durable(t);  // the failure page leaves once the record is on disk (or the log fails)
}

bool Gateway::audit_admits(const Request& r, std::string* why) const {
  if (!audit_ || audit_->healthy(why)) return true;
  if (cfg_.audit.on_failure == audit::FailureMode::kOpenReads) {
    std::string_view m = r.ex.method_string();
    if (!r.original_method.empty()) m = r.original_method;
    return m == "GET" || m == "HEAD";
  }
  return false;
}

}  // namespace cg::gateway
