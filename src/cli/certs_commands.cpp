// `claimgate certs status | rollover`: the SP's signing and encryption certificate, rolled over
// without a failed sign-in (docs/configuration.md#sp-certificate-rollover).
//
//   claimgate certs rollover --config F             stage the next pair: published beside the
//                                                   current one (IdPs that read our metadata
//                                                   learn it); nothing signs with it yet
//   claimgate certs rollover --promote --config F   after saml.sp.rollover_window: the next
//                                                   pair signs; the old one stays published and
//                                                   decrypts until its certificate expires
//   claimgate certs status --config F               where each pair stands
//
// The files change on disk; each running gateway reads them within seconds (it watches them,
// and on SIGHUP) and records the change in its audit log (sp.certificates_changed, with who
// did which step and when, from sp-rollover.json).
#include "cli/certs_commands.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/encoding.h"
#include "core/errors.h"
#include "core/time.h"
#include "crypto/keys.h"
#include "http/client.h"
#include "saml/config.h"
#include "saml/sp_metadata.h"

namespace cg::cli {
namespace {

using json = nlohmann::json;

struct SpSection {
  saml::SpKeyFiles files;
  std::chrono::seconds window{7 * 86400};
  std::string public_url;
  std::vector<saml::IdpConfig> idps;  // for status (empty when the IdPs do not load)
};

std::optional<SpSection> read_section(const std::string& path, core::WallTime now) {
  core::Problems p;
  auto root = core::load_yaml(path, p);
  SpSection out;
  if (root) {
    YAML::Node sp = (*root)["saml"] ? (*root)["saml"]["sp"] : YAML::Node();
    if (!sp || !sp.IsMap()) {
      p.add("saml.sp", "", "a mapping with signing_key and signing_cert");
    } else {
      out.files = saml::sp_key_files(sp, core::config_dir(path), p);
      out.window = core::get_duration(sp, "rollover_window", "saml.sp", p, out.window);
    }
    out.public_url = core::get_string(*root, "public_url", "", p, false);
    core::Problems ignored;  // status shows the IdPs when they load; the SP is what matters
    if (auto cfg = saml::compile_saml_config(*root, core::config_dir(path), now, ignored)) {
      out.idps = std::move(cfg->idps);
    }
  }
  if (!p.list().empty()) {
    std::cerr << path << ": " << p.list().size() << " problem(s)\n";
    for (const auto& x : p.list()) std::cerr << "  " << x.to_string() << "\n";
    return std::nullopt;
  }
  return out;
}

std::string who() {
  for (const char* var : {"SUDO_USER", "USER", "LOGNAME"}) {
    if (const char* v = std::getenv(var); v && *v) return v;
  }
  if (const passwd* pw = ::getpwuid(::getuid())) return pw->pw_name;
  return "uid " + std::to_string(::getuid());
}

json read_state(const std::string& path) {
  auto text = core::read_file(path, 1 << 16);
  auto j = text ? json::parse(*text, nullptr, false) : json();
  return j.is_object() ? j : json::object();
}

std::string describe(const crypto::Certificate& c, core::WallTime now) {
  if (c.key_only())
    return c.sha256_fingerprint().substr(0, 23) + "...  " + c.subject() +
           "  (key without certificate: no validity dates)";
  auto days = std::chrono::duration_cast<std::chrono::hours>(c.not_after() - now).count() / 24;
  return c.sha256_fingerprint().substr(0, 23) + "...  " + c.subject() + "  valid until " +
         core::format_datetime(c.not_after()) + " (" + std::to_string(days) + " days)";
}

int run_status(const std::string& config) {
  auto now = core::SystemClock::instance().now();
  auto sec = read_section(config, now);
  if (!sec) return 1;
  auto keys = saml::load_sp_keys(sec->files, now);
  std::cout << "SP certificates (saml.sp; signing AuthnRequests and logout messages, and "
               "decrypting assertions):\n";
  if (!keys) {
    std::cout << "  current   cannot be used: " << keys.error().message << "\n";
  } else {
    std::cout << "  current   " << describe(keys->current.cert, now) << "\n            "
              << sec->files.cert << "\n";
    if (keys->next) {
      std::cout << "  next      " << describe(keys->next->cert, now) << "\n            "
                << sec->files.next_cert << "\n";
    } else {
      std::cout << "  next      none staged (claimgate certs rollover stages one)\n";
    }
    if (keys->previous) {
      std::cout << "  previous  " << describe(keys->previous->cert, now)
                << "\n            still published and decrypting until it expires\n";
    }
    for (const auto& n : keys->notes) std::cout << "  note: " << n << "\n";
  }
  json state = read_state(sec->files.rollover_state);
  if (keys && keys->next && state.contains("promote_after")) {
    auto after = core::parse_datetime(state.value("promote_after", ""));
    std::cout << "rollover: staged " << state.value("staged", "?") << " by "
              << state.value("staged_by", "?") << "; ";
    if (after && now < *after) {
      std::cout << "promote after " << core::format_datetime(*after)
                << " (saml.sp.rollover_window), with claimgate certs rollover --promote\n";
    } else {
      std::cout << "the window has passed: promote with claimgate certs rollover --promote\n";
    }
  } else if (state.contains("promoted")) {
    std::cout << "rollover: last promoted " << state.value("promoted", "?") << " by "
              << state.value("promoted_by", "?") << "\n";
  }
  if (!sec->idps.empty()) {
    std::cout << "IdP signing certificates (from their metadata):\n";
    for (const auto& idp : sec->idps) {
      for (const auto& c : idp.metadata.signing_certs) {
        std::cout << "  " << idp.name << "  " << describe(c, now) << "\n";
      }
    }
  }
  // What the gateway at public_url publishes now.
  if (!sec->public_url.empty() && keys) {
    http::FetchRequest req;
    req.url = sec->public_url + "/saml/metadata";
    req.timeout = std::chrono::seconds(3);
    auto res = http::fetch(req);
    auto published =
        res && res->status == 200
            ? saml::read_sp_metadata(res->body)
            : Result<saml::SpMetadataSummary>(
                  fail(core::Code::kIo, res ? req.url + " answered " + std::to_string(res->status)
                                            : res.error().message));
    if (!published) {
      std::cout << "published: not known (" << published.error().message << ")\n";
    } else {
      auto has = [&](const crypto::Certificate& c) {
        const auto& fps = published->signing_fingerprints;
        return std::find(fps.begin(), fps.end(), c.sha256_fingerprint()) != fps.end();
      };
      std::string list;
      auto add = [&](const char* name, bool yes) {
        if (yes) list += (list.empty() ? "" : ", ") + std::string(name);
      };
      add("current", has(keys->current.cert));
      add("next", keys->next && has(keys->next->cert));
      add("previous", keys->previous && has(keys->previous->cert));
      std::cout << "published at " << req.url << ": " << (list.empty() ? "none of these" : list)
                << "\n";
    }
  }
  return keys ? 0 : 1;
}

// A pair as on disk, its dates unchecked: a rollover is also how an expired certificate is
// replaced.
Result<saml::SpKeyPair> pair_on_disk(const std::string& key, const std::string& cert) {
  CG_TRY(auto k, crypto::PrivateKey::load(key));
  CG_TRY(auto c, crypto::Certificate::load(cert));
  if (!c.matches(k)) {
    return fail(core::Code::kIo, key + " is not the key of the certificate " + cert);
  }
  return saml::SpKeyPair{std::move(k), std::move(c)};
}

bool on_disk(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

int run_rollover(const std::string& config, bool promote, bool force, int days) {
  auto now = core::SystemClock::instance().now();
  auto sec = read_section(config, now);
  if (!sec) return 1;
  const auto& f = sec->files;
  json state = read_state(f.rollover_state);
  const char* cmd = promote ? "claimgate certs rollover --promote" : "claimgate certs rollover";
  auto current = pair_on_disk(f.key, f.cert);
  if (!current) {
    std::cerr << cmd << ": the current pair: " << current.error().message << "\n";
    return 1;
  }
  if (!promote) {
    if (on_disk(f.next_key) || on_disk(f.next_cert)) {
      std::cerr << cmd << ": a next pair is staged already (" << f.next_cert << ", staged "
                << state.value("staged", "?") << "); promote it with --promote\n";
      return 1;
    }
    // Like the current key (RSA unless it is EC), self-signed: SAML trusts the certificate
    // itself, as published in our metadata.
    bool ec = current->key.type() == crypto::KeyType::kEc;
    auto key = ec ? crypto::PrivateKey::generate_ec_p256() : crypto::PrivateKey::generate_rsa(3072);
    std::string cn = "claimgate SP " + core::format_datetime(now).substr(0, 10);
    auto cert =
        key ? crypto::Certificate::self_signed(*key, cn, now - std::chrono::minutes(5), days)
            : Result<crypto::Certificate>(fail(key.error()));
    if (!cert) {
      std::cerr << cmd << ": " << cert.error().message << "\n";
      return 1;
    }
    // The key first: a certificate never stands without its key.
    for (auto [path, data, mode] : {std::tuple{f.next_key, key->to_pem(), 0600u},
                                    std::tuple{f.next_cert, cert->to_pem(), 0644u}}) {
      if (auto st = core::replace_file(path, data, mode); !st) {
        std::cerr << cmd << ": " << st.error().message << "\n";
        return 1;
      }
    }
    auto after = now + sec->window;
    state = json{{"staged", core::format_datetime(now)},
                 {"staged_by", who()},
                 {"next", cert->sha256_fingerprint()},
                 {"promote_after", core::format_datetime(after)}};
    (void)core::replace_file(f.rollover_state, state.dump(1) + "\n", 0644);
    std::cout << "staged the next SP certificate " << cert->sha256_fingerprint().substr(0, 23)
              << "... (" << cn << ", valid " << days << " days):\n  " << f.next_cert << "\n  "
              << f.next_key << "\n"
              << "Running gateways publish it in /saml/metadata within seconds, beside the "
                 "current one; nothing signs with it yet.\n"
              << "IdPs that read our metadata learn it; give it to those that do not.\n"
              << "Then, after " << core::format_datetime(after)
              << ": claimgate certs rollover --promote --config " << config << "\n";
    return 0;
  }
  if (!on_disk(f.next_key) && !on_disk(f.next_cert)) {
    std::cerr << cmd << ": no next pair is staged (" << f.next_cert
              << "); stage one with claimgate certs rollover\n";
    return 1;
  }
  auto next = pair_on_disk(f.next_key, f.next_cert);
  if (!next) {
    std::cerr << cmd << ": the staged pair: " << next.error().message << "\n";
    return 1;
  }
  if (now >= next->cert.not_after()) {
    std::cerr << cmd << ": the staged certificate " << f.next_cert << " expired on "
              << core::format_datetime(next->cert.not_after())
              << "; remove the staged pair and stage a new one\n";
    return 1;
  }
  bool expired = now >= current->cert.not_after();
  auto after = core::parse_datetime(state.value("promote_after", ""));
  if (!force && !expired && after && now < *after) {
    std::cerr << cmd << ": the next certificate was staged " << state.value("staged", "?")
              << "; IdPs have until " << core::format_datetime(*after)
              << " (saml.sp.rollover_window) to learn it. Promote then, or now with --force "
                 "if every IdP has it\n";
    return 1;
  }
  // current -> previous (still published, still decrypting until it expires), next ->
  // current. An expired current certificate is not kept.
  std::string old_fp = current->cert.sha256_fingerprint();
  if (!expired) {
    for (auto [path, data, mode] : {std::tuple{f.previous_key, current->key.to_pem(), 0600u},
                                    std::tuple{f.previous_cert, current->cert.to_pem(), 0644u}}) {
      if (auto st = core::replace_file(path, data, mode); !st) {
        std::cerr << cmd << ": " << st.error().message << "\n";
        return 1;
      }
    }
  }
  for (auto [from, to] : {std::pair{f.next_key, f.key}, std::pair{f.next_cert, f.cert}}) {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      std::cerr << cmd << ": cannot rename " << from << " to " << to << ": " << std::strerror(errno)
                << "\n";
      return 1;
    }
  }
  state["promoted"] = core::format_datetime(now);
  state["promoted_by"] = who();
  state["previous"] = expired ? "" : old_fp;
  state["current"] = next->cert.sha256_fingerprint();
  if (force && after && now < *after) state["forced"] = true;
  (void)core::replace_file(f.rollover_state, state.dump(1) + "\n", 0644);
  std::cout << "promoted " << next->cert.sha256_fingerprint().substr(0, 23)
            << "...: running gateways sign with it within seconds.\n";
  if (expired) {
    std::cout << "The previous certificate " << old_fp.substr(0, 23) << "... had expired on "
              << core::format_datetime(current->cert.not_after()) << ": it is not kept.\n";
  } else {
    std::cout << "The previous certificate " << old_fp.substr(0, 23)
              << "... stays published and decrypting until "
              << core::format_datetime(current->cert.not_after()) << ".\n";
  }
  return 0;
}

}  // namespace

void add_certs_commands(CLI::App& app, int& exit_code) {
  static std::string config;
  static bool promote = false, force = false;
  static int days = 730;
  auto* certs = app.add_subcommand("certs", "The SP's certificate: status and rollover");
  certs->require_subcommand(1);
  auto* status = certs->add_subcommand("status", "Where the SP's certificates stand");
  status->add_option("--config,-c", config, "the gateway's YAML config")->required();
  status->callback([&exit_code] { exit_code = run_status(config); });
  auto* rollover = certs->add_subcommand(
      "rollover", "Stage the next SP key pair, or (--promote) make it the one that signs");
  rollover->add_option("--config,-c", config, "the gateway's YAML config")->required();
  rollover->add_flag("--promote", promote, "make the staged pair current");
  rollover->add_flag("--force", force, "promote before saml.sp.rollover_window has passed");
  rollover->add_option("--days", days, "validity of the new certificate (default 730)")
      ->check(CLI::Range(30, 3650));
  rollover->callback([&exit_code] { exit_code = run_rollover(config, promote, force, days); });
}

}  // namespace cg::cli
