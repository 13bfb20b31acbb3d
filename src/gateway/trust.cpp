// Keeping IdP trust current (docs/configuration.md#idp-metadata-from-a-url): metadata fetched
// from each IdP's metadata_url, checked completely before it replaces the document in force,
// kept in a backing file so that the gateway starts when the IdP's endpoint is down, and
// refreshed on a schedule (metadata_refresh, shortened by the document's cacheDuration and
// validUntil). A refused document is logged, audited and counted; the one in force stays.
#include <nlohmann/json.hpp>

#include "core/encoding.h"
#include "core/time.h"
#include "gateway/errors.h"
#include "gateway/gateway.h"
#include "http/client.h"
#include "http/errors.h"
#include "saml/sp_metadata.h"

namespace cg::gateway {
namespace {

using Steady = std::chrono::steady_clock;

constexpr auto kFloor = std::chrono::seconds(5);  // the shortest interval an IdP can ask for

std::string fingerprints(const std::vector<crypto::Certificate>& certs) {
  std::string out;
  for (const auto& c : certs) out += (out.empty() ? "" : ",") + c.sha256_fingerprint();
  return out;
}

// The certificates of `a` not in `b`, as fingerprints.
std::vector<std::string> not_in(const std::vector<crypto::Certificate>& a,
                                const std::vector<crypto::Certificate>& b) {
  std::vector<std::string> out;
  for (const auto& c : a) {
    std::string f = c.sha256_fingerprint();
    bool found = false;
    for (const auto& d : b) found = found || d.sha256_fingerprint() == f;
    if (!found) out.push_back(f);
  }
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

Result<FetchedMetadata> fetch_idp_metadata(const saml::IdpConfig& idp, core::WallTime now,
                                           std::string_view entity_id) {
  http::FetchRequest req;
  req.url = idp.metadata_url;
  req.ca_file = idp.metadata_ca_file;
  req.timeout = std::chrono::seconds(10);
  req.max_body = 8u << 20;
  req.headers.push_back({"Accept", "application/samlmetadata+xml, application/xml, text/xml"});
  CG_TRY(auto res, http::fetch(req));
  if (res.status != 200) {
    return fail(Code::kMetadataRefused,
                idp.metadata_url + " answered " + std::to_string(res.status) + " instead of 200");
  }
  CG_TRY(auto md, saml::IdpMetadata::parse(res.body, now, idp.metadata_options));
  if (!entity_id.empty() && md.entity_id != entity_id) {
    return fail(Code::kMetadataRefused, "the document from " + idp.metadata_url + " describes " +
                                            md.entity_id + ", not " + std::string(entity_id) +
                                            " (the IdP this entry trusts)");
  }
  return FetchedMetadata{std::move(res.body), std::move(md)};
}

std::shared_ptr<const Gateway::LiveIdp> Gateway::live(std::string_view idp) const {
  std::lock_guard lock(live_mu_);
  auto it = live_.find(idp);
  return it == live_.end() ? nullptr : it->second;
}

void Gateway::install(const saml::IdpConfig& idp, saml::IdpMetadata md, std::string document) {
  auto next = std::make_shared<LiveIdp>();
  next->validator = std::make_shared<saml::ResponseValidator>(
      cfg_.saml.sp_settings(idp, sp()->sp), cfg_.saml.idp_settings(idp, md), &replay_, clock_);
  next->metadata = std::make_shared<const saml::IdpMetadata>(std::move(md));
  next->document = std::move(document);
  next->updated = clock_.now();
  std::lock_guard lock(live_mu_);
  live_[idp.name] = std::move(next);
}

std::shared_ptr<const Gateway::LiveSp> Gateway::sp() const {
  std::lock_guard lock(live_mu_);
  return live_sp_;
}

std::vector<std::string> Gateway::sp_key_files() const {
  const auto& f = cfg_.saml.sp.files;
  return {f.key, f.cert, f.next_key, f.next_cert, f.previous_key, f.previous_cert};
}

bool Gateway::reload_sp_keys(const std::string& why) {
  std::lock_guard reload(reload_mu_);
  auto now = clock_.now();
  auto in_use = sp();
  auto keys = saml::load_sp_keys(cfg_.saml.sp.files, now);
  if (!keys) {
    log_.error("SP keys (", why, "): ", core::log_quote(keys.error().message),
               "; the keys in use stay");
    audit::Event ev(audit::type::kSpKeysRefused, now);
    ev.str("reason", why).str("message", keys.error().message);
    audit(std::move(ev), audit::Durability::kBatched);
    return false;
  }
  auto fp = [](const std::optional<saml::SpKeyPair>& p) {
    return p ? p->cert.sha256_fingerprint() : std::string();
  };
  const auto& old = in_use->sp;
  if (keys->current.cert.sha256_fingerprint() == old.current.cert.sha256_fingerprint() &&
      fp(keys->next) == fp(old.next) && fp(keys->previous) == fp(old.previous)) {
    return false;
  }
  auto next = std::make_shared<LiveSp>(LiveSp{old, ""});
  next->sp.current = std::move(keys->current);
  next->sp.next = std::move(keys->next);
  next->sp.previous = std::move(keys->previous);
  next->metadata_xml = saml::sp_metadata_xml(next->sp);
  {
    // With the refresher kept out, so that no validator is built on the old SP keys after
    // this and none of its newer metadata is replaced by an older copy.
    std::lock_guard installing(install_mu_);
    {
      std::lock_guard lock(live_mu_);
      live_sp_ = next;
    }
    // Every IdP's validator decrypts with the new set.
    for (const auto& idp : cfg_.saml.idps) {
      auto l = live(idp.name);
      install(idp, *l->metadata, l->document);
    }
  }
  audit::Event ev(audit::type::kSpKeysChanged, now);
  ev.str("reason", why)
      .str("current", next->sp.current.cert.sha256_fingerprint())
      .str("next", fp(next->sp.next))
      .str("previous", fp(next->sp.previous))
      .str("current_before", old.current.cert.sha256_fingerprint());
  if (auto state = core::read_file(cfg_.saml.sp.files.rollover_state, 1 << 16)) {
    // Who staged and promoted, and when (claimgate certs rollover writes it).
    auto j = nlohmann::json::parse(*state, nullptr, false);
    if (j.is_object()) ev.json("rollover", j.dump());
  }
  audit(std::move(ev), audit::Durability::kDurable);
  core::LogField next_fp, previous_fp, previous_until;
  if (next->sp.next) next_fp = core::LogField(" next=", fp(next->sp.next).substr(0, 23));
  if (next->sp.previous) {
    previous_fp = core::LogField(" previous=", fp(next->sp.previous).substr(0, 23));
    previous_until = core::LogField(" previous_published_until=",
                                    core::format_datetime(next->sp.previous->cert.not_after()));
  }
  log_.info("SP keys changed (", why, "): signing with ",
            next->sp.current.cert.sha256_fingerprint().substr(0, 23), next_fp, previous_fp,
            previous_until);
  for (const auto& n : keys->notes) log_.warn("SP keys: ", n);
  return true;
}

std::chrono::seconds Gateway::refresh_interval(const saml::IdpConfig& idp,
                                               const saml::IdpMetadata& md) const {
  auto interval = idp.metadata_refresh;
  if (md.cache_duration && *md.cache_duration < interval) interval = *md.cache_duration;
  if (md.valid_until) {
    // Fetched again well before the document in force runs out.
    auto left = std::chrono::duration_cast<std::chrono::seconds>(*md.valid_until - clock_.now());
    if (left / 2 < interval) interval = left / 2;
  }
  return std::max<std::chrono::seconds>(interval, kFloor);
}

std::chrono::seconds Gateway::refresh_one(const saml::IdpConfig& idp) {
  auto in_force = live(idp.name);
  auto now = clock_.now();
  auto got = fetch_idp_metadata(idp, now, in_force->metadata->entity_id);
  if (!got) {
    const Error& e = got.error();
    // http.fetch: not reached (failed); anything else: reached, and the answer not taken.
    bool refused = e.code != static_cast<int>(http::Code::kFetch);
    metrics_.metadata_refreshes.inc({idp.name, refused ? "refused" : "failed"});
    // The document in force stays.
    log_.warn(
        refused ? core::LogKey("idp.metadata_refused") : core::LogKey("idp.metadata_unreachable"),
        {{"idp", idp.name},
         {"url", idp.metadata_url},
         {"code", e.code},
         {"message", e.message},
         {"in_force", in_force->metadata->entity_id}});
    audit::Event ev(refused ? audit::type::kMetadataRefused : audit::type::kMetadataUnreachable,
                    now);
    ev.str("idp", idp.name)
        .str("url", idp.metadata_url)
        .num("code", e.code)
        .str("error", e.name)
        .str("message", e.message);
    audit(std::move(ev), audit::Durability::kBatched);
    auto retry = refresh_interval(idp, *in_force->metadata) / 4;
    return std::clamp<std::chrono::seconds>(retry, kFloor, std::chrono::seconds(300));
  }
  auto interval = refresh_interval(idp, got->metadata);
  {
    std::lock_guard lock(refresh_mu_);
    refresh_[idp.name].last_success = now;
  }
  if (got->document == in_force->document) {
    metrics_.metadata_refreshes.inc({idp.name, "unchanged"});
    log_.debug("idp ", idp.name, ": metadata unchanged");
    return interval;
  }
  auto added = not_in(got->metadata.signing_certs, in_force->metadata->signing_certs);
  auto removed = not_in(in_force->metadata->signing_certs, got->metadata.signing_certs);
  if (auto st = core::replace_file(idp.metadata_file, got->document); !st) {
    log_.warn("idp ", idp.name, ": cannot keep the new metadata in ", idp.metadata_file, " (",
              core::log_quote(st.error().message),
              "); it is in force, but a restart while the IdP is down would use the old copy");
  }
  audit::Event ev(audit::type::kMetadataUpdated, now);
  ev.str("idp", idp.name)
      .str("url", idp.metadata_url)
      .str("entity_id", got->metadata.entity_id)
      .str("signing_certs", fingerprints(got->metadata.signing_certs))
      .str("certs_added", joined(added))
      .str("certs_removed", joined(removed))
      .flag("signed", got->metadata.signed_document);
  if (got->metadata.valid_until) ev.time("valid_until", *got->metadata.valid_until);
  size_t certs = got->metadata.signing_certs.size();
  auto warnings = got->metadata.warnings;
  {
    std::lock_guard installing(install_mu_);
    install(idp, std::move(got->metadata), std::move(got->document));
  }
  audit(std::move(ev), audit::Durability::kBatched);
  log_.info("idp ", idp.name, ": new metadata from ", idp.metadata_url, " in force: ", certs,
            " signing certificate(s)",
            added.empty() ? core::LogField() : core::LogField(" added=", joined(added)),
            removed.empty() ? core::LogField() : core::LogField(" removed=", joined(removed)),
            "; next fetch in ", interval.count(), "s");
  for (const auto& w : warnings)
    log_.warn("idp.metadata_warning", {{"idp", idp.name}, {"warning", w}});
  metrics_.metadata_refreshes.inc({idp.name, "updated"});
  return interval;
}

void Gateway::start_metadata_refresh() {
  auto now = Steady::now();
  bool any = false;
  for (const auto& idp : cfg_.saml.idps) {
    if (idp.metadata_url.empty()) continue;
    any = true;
    if (!idp.metadata_fetched.empty()) {
      // Fetched at start (there was no usable copy): kept for the next start.
      if (auto st = core::replace_file(idp.metadata_file, idp.metadata_fetched); !st) {
        log_.warn("idp ", idp.name, ": cannot keep the metadata in ", idp.metadata_file, ": ",
                  core::log_quote(st.error().message));
      }
    }
    auto md = live(idp.name)->metadata;
    std::lock_guard lock(refresh_mu_);
    // Read from the backing copy: fetched at once; fetched at start: on its schedule.
    refresh_[idp.name].due = idp.metadata_fetched.empty() ? now : now + refresh_interval(idp, *md);
    refresh_[idp.name].last_success =
        idp.metadata_fetched.empty() ? core::WallTime{} : clock_.now();
  }
  if (!any) return;
  refresher_ = std::thread([this] { refresh_loop(); });
}

void Gateway::stop_metadata_refresh() {
  {
    std::lock_guard lock(refresh_mu_);
    refresh_stop_ = true;
  }
  refresh_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
}

void Gateway::refresh_metadata_now() {
  {
    std::lock_guard lock(refresh_mu_);
    for (auto& [name, r] : refresh_) r.due = Steady::now();
  }
  refresh_cv_.notify_all();
}

void Gateway::refresh_loop() {
  std::unique_lock lock(refresh_mu_);
  while (!refresh_stop_) {
    auto now = Steady::now();
    auto next = now + std::chrono::hours(24);
    const saml::IdpConfig* due = nullptr;
    for (const auto& idp : cfg_.saml.idps) {
      auto it = refresh_.find(idp.name);
      if (it == refresh_.end()) continue;
      if (it->second.due <= now && !due) due = &idp;
      next = std::min(next, it->second.due);
    }
    if (!due) {
      refresh_cv_.wait_until(lock, next);
      continue;
    }
    auto running = now + std::chrono::hours(24);  // while it runs
    refresh_[due->name].due = running;
    lock.unlock();
    auto interval = refresh_one(*due);  // blocking fetch, off the request path
    lock.lock();
    // A SIGHUP during the fetch asked for another one: it stays due.
    if (refresh_[due->name].due == running) refresh_[due->name].due = Steady::now() + interval;
  }
}

core::WallTime Gateway::metadata_confirmed(const saml::IdpConfig& idp) const {
  core::WallTime at{};
  if (auto l = live(idp.name)) at = l->updated;
  std::lock_guard lock(refresh_mu_);
  if (auto it = refresh_.find(idp.name); it != refresh_.end()) {
    at = std::max(at, it->second.last_success);
  }
  return at;
}

}  // namespace cg::gateway
