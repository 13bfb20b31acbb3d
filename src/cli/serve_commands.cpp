#include "cli/serve_commands.h"

#include <sys/stat.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <iostream>

#include "core/clock.h"
#include "core/encoding.h"
#include "core/log.h"
#include "core/random.h"
#include "core/service_notify.h"
#include "core/time.h"
#include "crypto/keyring.h"
#include "gateway/config.h"
#include "gateway/gateway.h"
#include "gateway/state_files.h"
#include "http/client.h"
#include "http/server.h"
#include "http/url.h"
#include "saml/sp_metadata.h"

namespace cg::cli {
namespace {

core::Logger g_log("serve");

// Prints every problem, one a line, as `check` and `serve` both do.
void print_problems(const std::string& path, const core::Problems& p) {
  std::cerr << path << ": " << p.list().size() << " problem(s)\n";
  for (const auto& x : p.list()) std::cerr << "  " << x.to_string() << "\n";
}

// Where an IdP's metadata comes from, and (metadata_url) whether the URL answers now.
void check_metadata_source(const saml::IdpConfig& idp, core::WallTime now) {
  if (idp.metadata_url.empty()) return;
  if (!idp.metadata_fetched.empty()) {
    std::cout << "idp " << idp.name << ": metadata fetched from " << idp.metadata_url
              << " (no copy in " << idp.metadata_file << " yet; serve keeps one there)\n";
    return;
  }
  auto got = gateway::fetch_idp_metadata(idp, now, idp.metadata.entity_id);
  auto copy = core::read_file(idp.metadata_file, 8u << 20);
  if (!got) {
    std::cout << "warning: idp " << idp.name << ": " << idp.metadata_url << ": "
              << got.error().message << " (serve starts from the copy in " << idp.metadata_file
              << ")\n";
  } else if (copy && *copy == got->document) {
    std::cout << "idp " << idp.name << ": metadata at " << idp.metadata_url << " is the copy in "
              << idp.metadata_file << "\n";
  } else {
    std::cout << "idp " << idp.name << ": " << idp.metadata_url
              << " has a newer document than the copy in " << idp.metadata_file
              << " (serve puts it in force)\n";
  }
}

// Keep audience URLs consistent: the entity id, the ACS URL and public_url with each other,
// with the IdPs' metadata, and with what the gateway answering at public_url publishes.
// Prints each finding; returns how many are errors (a sign-in cannot work).
int check_audience(const gateway::GatewayConfig& cfg) {
  const auto& sp = cfg.saml.sp;
  const auto& pub = cfg.public_url;
  int errors = 0;
  std::cout << "sp: entity id (the IdP's Audience) " << sp.entity_id << ", ACS " << sp.acs_url
            << ", SLO " << sp.slo_url << "\n";
  if (sp.entity_id.rfind("http://", 0) == 0 || sp.entity_id.rfind("https://", 0) == 0) {
    auto u = http::parse_url(sp.entity_id.substr(0, sp.entity_id.find('/', 8)));
    if (u && u->host != pub.host) {
      std::cout << "warning: saml.sp.entity_id " << sp.entity_id << " names host " << u->host
                << ", public_url is on " << pub.host
                << ": every IdP must have exactly this entity id as the application's "
                   "Audience/Identifier (right if it is what they have; otherwise align them)\n";
    }
  }
  for (const auto& idp : cfg.saml.idps) {
    const auto& md = idp.metadata;
    if (md.entity_id == sp.entity_id) {
      std::cout << "error: idp " << idp.name << ": its metadata names our own entity id "
                << sp.entity_id << ": " << idp.metadata_file
                << " is this gateway's SP metadata, not the IdP's\n";
      ++errors;
    }
    for (const auto& ep : md.sso) {
      auto u = http::parse_url(ep.location.substr(0, ep.location.find('/', 8)));
      if (u && u->host == pub.host && u->port == pub.port) {
        std::cout << "error: idp " << idp.name << ": its sign-in endpoint " << ep.location
                  << " is on this gateway's public_url\n";
        ++errors;
      }
    }
  }
  // The gateway that answers at public_url (this one, once started, or an older one).
  http::FetchRequest req;
  req.url = pub.origin() + "/saml/metadata";
  req.timeout = std::chrono::seconds(3);
  auto res = http::fetch(req);
  if (!res || res->status != 200) {
    std::cout << "note: "
              << (res ? req.url + " answered " + std::to_string(res->status) : res.error().message)
              << " (start the gateway and check again to compare what it publishes)\n";
    return errors;
  }
  auto published = saml::read_sp_metadata(res->body);
  if (!published) {
    std::cout << "error: " << req.url << " is not SAML metadata (" << published.error().message
              << "): public_url does not lead to a claimgate gateway\n";
    return errors + 1;
  }
  int mismatches = 0;
  if (published->entity_id != sp.entity_id) {
    std::cout << "error: the gateway at public_url publishes entity id " << published->entity_id
              << "; this config has " << sp.entity_id << "\n";
    ++mismatches;
  }
  if (std::find(published->acs_urls.begin(), published->acs_urls.end(), sp.acs_url) ==
      published->acs_urls.end()) {
    std::cout << "error: the gateway at public_url publishes ACS "
              << (published->acs_urls.empty() ? std::string("none") : published->acs_urls.front())
              << "; this config's is " << sp.acs_url << "\n";
    ++mismatches;
  }
  auto fp = sp.current.cert.sha256_fingerprint();
  if (std::find(published->signing_fingerprints.begin(), published->signing_fingerprints.end(),
                fp) == published->signing_fingerprints.end()) {
    std::cout << "warning: the gateway at public_url does not publish this config's signing "
                 "certificate ("
              << fp.substr(0, 23) << "...): restart it to use this config\n";
  }
  if (!mismatches) {
    std::cout << "public_url: the gateway there publishes this entity id and ACS URL\n";
  }
  return errors + mismatches;
}

// `claimgate keys schedule`: the step key_rotation says is due, if any. Gateways read the
// keyring at start: after a step, restart them one at a time (nobody is signed out: every key
// still opens and verifies until it retires). `changed_file`, when given, is created after a
// step (claimgate-keys.service restarts the gateway when it exists).
int run_key_schedule(const std::string& path, const std::string& now_text,
                     const std::string& changed_file) {
  core::Problems problems;
  auto now = core::SystemClock::instance().now();
  if (!now_text.empty()) {
    auto t = core::parse_datetime(now_text);
    if (!t) {
      std::cerr << "claimgate keys schedule: --now '" << now_text << "' is not RFC 3339\n";
      return 2;
    }
    now = *t;
  }
  auto cfg = gateway::load_gateway_config(path, core::SystemClock::instance().now(), problems);
  if (!cfg) {
    print_problems(path, problems);
    return 1;
  }
  const auto& k = cfg->key_rotation;
  const std::string& dir = cfg->keys_dir;
  auto ring = crypto::Keyring::load(dir);
  if (!ring) {
    std::cerr << "claimgate keys schedule: " << ring.error().message << "\n";
    return 1;
  }
  auto days = [](auto d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::hours>(d).count() / 24) + "d";
  };
  auto when = [](const std::string& id) {
    return crypto::key_id_time(id).value_or(core::WallTime{});
  };
  std::vector<std::string> ordinary, staged;
  for (const auto& key : ring->signing_keys()) (key.next ? staged : ordinary).push_back(key.id);
  std::string current = ring->current_signing().id;
  bool acted = false;
  if (!staged.empty()) {
    const std::string& next = staged.back();
    if (now - when(next) >= k.overlap) {
      auto ids = crypto::Keyring::promote(dir);
      if (!ids) {
        std::cerr << "claimgate keys schedule: " << ids.error().message << "\n";
        return 1;
      }
      std::cout << "promoted key " << next << " (staged " << days(now - when(next))
                << " ago): restart each gateway, one at a time; from then on it seals and signs, "
                   "and "
                << current << " still opens and verifies until it retires\n";
      acted = true;
    } else {
      std::cout << "key " << next << " is staged; it is promoted once it is " << days(k.overlap)
                << " old (in " << days(k.overlap - (now - when(next)))
                << "); every gateway must have restarted by then\n";
    }
  } else if (now - when(current) >= k.every - k.overlap) {
    auto id = crypto::Keyring::add_keys(dir, core::SystemClock::instance().now(),
                                        core::SystemRandom::instance(), /*next=*/true);
    if (!id) {
      std::cerr << "claimgate keys schedule: " << id.error().message << "\n";
      return 1;
    }
    std::cout << "staged key " << *id << " (the current key " << current << " is "
              << days(now - when(current))
              << " old): restart each gateway, one at a time, so that every one opens and "
                 "publishes it; a run after "
              << days(k.overlap) << " promotes it\n";
    acted = true;
  }
  // Retire: a pair stopped being current when its successor was promoted (at the latest the
  // successor's age plus the overlap); after retire_after nothing it sealed or signed is alive.
  for (size_t i = 0; i + 1 < ordinary.size(); ++i) {
    const std::string& id = ordinary[i];
    auto replaced = when(ordinary[i + 1]) + k.overlap;
    if (now < replaced + k.retire_after) continue;
    if (auto st = crypto::Keyring::retire(dir, id); !st) {
      std::cerr << "claimgate keys schedule: " << st.error().message << "\n";
      return 1;
    }
    std::cout << "retired key " << id << " (not current since about "
              << core::format_datetime(replaced) << "; retire_after " << days(k.retire_after)
              << ")\n";
    acted = true;
  }
  if (!acted && staged.empty()) {
    std::cout << "nothing due: the current key " << current << " is " << days(now - when(current))
              << " old; the next one is staged when it is " << days(k.every - k.overlap)
              << " old\n";
  }
  if (acted && !changed_file.empty()) {
    std::ofstream f(changed_file, std::ios::trunc);
    f << "keyring changed; restart the gateway\n";
    if (!f.flush()) {
      std::cerr << "claimgate keys schedule: could not write " << changed_file << "\n";
      return 1;
    }
  }
  return 0;
}

int run_check(const std::string& path) {
  core::Problems problems;
  auto now = core::SystemClock::instance().now();
  auto cfg = gateway::load_gateway_config(path, now, problems);
  if (!cfg) {
    print_problems(path, problems);
    return 1;
  }
  for (const auto& w : cfg->warnings) std::cout << "warning: " << w << "\n";
  // Certificates closer to their end than certificate_warning are worth a line even when valid.
  auto soon = [&](const std::string& what, const crypto::Certificate& c) {
    if (c.key_only()) {
      std::cout << "note: " << what << " key " << c.sha256_fingerprint().substr(0, 23) << "... ("
                << c.subject()
                << ", from the metadata's ds:KeyValue): key without certificate: "
                   "no validity dates\n";
      return;
    }
    auto left = c.not_after() - now;
    if (left > cfg->cert_warning) return;
    auto days = std::chrono::duration_cast<std::chrono::hours>(left).count() / 24;
    std::cout << "warning: " << what << " certificate (" << c.subject() << ") "
              << (left.count() > 0 ? "expires in " + std::to_string(days) + " day(s)"
                                   : std::string("has expired"))
              << " (" << core::format_datetime(c.not_after()) << ")\n";
  };
  soon("saml.sp.signing_cert", cfg->saml.sp.current.cert);
  if (cfg->saml.sp.next) soon("saml.sp.next_signing_cert", cfg->saml.sp.next->cert);
  if (!cfg->server.tls_cert_file.empty()) {
    if (auto c = crypto::Certificate::load(cfg->server.tls_cert_file)) soon("tls.cert", *c);
  }
  for (const auto& idp : cfg->saml.idps) {
    for (const auto& c : idp.metadata.signing_certs) {
      // Every trusted signing certificate with its real dates (9999 is RFC 5280's "no expiry").
      std::cout << "idp " << idp.name << ": signing certificate " << c.subject() << " (SHA-256 "
                << c.sha256_fingerprint() << ") valid from "
                << core::format_datetime(c.not_before()) << " to "
                << core::format_datetime(c.not_after())
                << (c.not_after() + std::chrono::seconds(1) > core::kMaxDate ? " (no expiry)" : "")
                << "\n";
      soon("IdP " + idp.name + " signing", c);
    }
    if (idp.metadata.valid_until && *idp.metadata.valid_until - now <= cfg->cert_warning) {
      std::cout << "warning: IdP " << idp.name << " metadata is valid until "
                << core::format_datetime(*idp.metadata.valid_until) << "\n";
    }
    check_metadata_source(idp, now);
  }
  int errors = check_audience(*cfg);
  // The gateway's private files, and who its jobs would run as (docs/jobs.md, "Isolation").
  for (const auto& f : gateway::state_file_problems(*cfg)) {
    std::cout << (f.fatal ? "error: " : "warning: ") << f.message << "\n";
    errors += f.fatal ? 1 : 0;
  }
  if (cfg->jobs.enabled) {
    std::vector<std::string> warnings;
    auto iso = gateway::job_isolation(*cfg, warnings);
    for (const auto& w : warnings) std::cout << "warning: " << w << "\n";
    if (!iso) {
      std::cout << "error: " << iso.error().message << "\n";
      ++errors;
    } else {
      bool weak =
          iso->find("WITHOUT") != std::string::npos || iso->find("INSECURE") != std::string::npos;
      std::cout << (weak ? "warning: jobs: " : "jobs: ") << *iso << "\n";
    }
  }
  std::vector<std::string> notes;
  if (auto ring = crypto::Keyring::load(cfg->keys_dir, &notes); !ring) {
    std::cout << "note: " << ring.error().message << " (serve creates a first key pair)\n";
  }
  for (const auto& n : notes) std::cout << "warning: " << n << "\n";
  if (cfg->store_kind == "redis") {
    // Whether Redis answers now (serve starts either way: sign-ins wait for it).
    auto stores = session::open_redis_stores(cfg->redis, core::SystemClock::instance());
    auto n = stores ? stores->sessions->count_active(now) : Result<size_t>(fail(stores.error()));
    if (n) {
      std::cout << "store: Redis at " << cfg->redis.redis.describe() << " answers (" << *n
                << " active session(s) under " << cfg->redis.prefix << ")\n";
    } else {
      std::cout << "warning: store: " << n.error().message
                << " (serve starts anyway; sign-ins are refused until Redis answers)\n";
    }
  }
  std::string pol = "no policy";
  if (cfg->policy) {
    pol = "policy: " + std::to_string(cfg->policy->rules().size()) + " rule(s), " +
          std::to_string(cfg->policy->bindings().size()) + " binding(s), " +
          std::to_string(cfg->policy->roles().size()) + " role(s)";
  }
  // Where each file and directory the config names is, relative ones taken against the config
  // file's directory whatever the working directory (docs/configuration.md, "Paths").
  std::cout << "paths (relative to " << cfg->base_dir << "):\n";
  for (const auto& r : cfg->paths) std::cout << "  " << r.path << ": " << r.resolved << "\n";
  if (errors) {
    std::cout << path << ": " << errors << " inconsistency(ies) above\n";
    return 1;
  }
  std::cout << path << ": OK (" << cfg->saml.idps.size() << " IdP(s), " << cfg->routes.size()
            << " route(s), store " << cfg->store_kind << ", " << pol << ", audit "
            << (cfg->audit.enabled ? cfg->audit.log.path : std::string("off")) << ")\n";
  return 0;
}

// Starts the diagnostics listener (diagnostics.listen: /metrics, /readyz) on a thread of its
// own. Null when it is off, or when the default address is taken (another gateway on this
// machine: a warning); `failed` when the address the config names cannot be had.
std::unique_ptr<http::Server> start_diagnostics(gateway::Gateway& gw, bool& failed) {
  const gateway::DiagnosticsConfig& d = gw.config().diagnostics;
  failed = false;
  if (!d.enabled) {
    g_log.info("diagnostics: off (diagnostics.listen); no /metrics or /readyz");
    return nullptr;
  }
  http::ServerOptions o;
  o.host = d.host;
  o.port = d.port;
  o.threads = 1;
  o.header_limit = 8 * 1024;
  o.header_timeout = std::chrono::seconds(5);
  o.body_timeout = std::chrono::seconds(10);
  o.idle_timeout = std::chrono::seconds(30);
  o.shutdown_grace = std::chrono::seconds(1);
  auto server = std::make_unique<http::Server>(
      o, [&gw](http::Exchange& ex) { return gw.handle_diagnostics(ex); });
  if (auto st = server->start(); !st) {
    if (d.is_default) {
      g_log.warn("diagnostics: ", st.error().message,
                 " (the default diagnostics.listen); serving without /metrics and /readyz: set "
                 "diagnostics.listen to a free address, or off");
      return nullptr;
    }
    g_log.error("diagnostics.listen: ", st.error().message);
    failed = true;
    return nullptr;
  }
  g_log.info("diagnostics on http://",
             d.host.find(':') != std::string::npos ? "[" + d.host + "]" : d.host, ":",
             server->port(), " (/metrics, /readyz)");
  return server;
}

int run_serve(const std::string& path) {
  core::Problems problems;
  auto& clock = core::SystemClock::instance();
  auto& random = core::SystemRandom::instance();
  auto cfg = gateway::load_gateway_config(path, clock.now(), problems);
  if (!cfg) {
    print_problems(path, problems);
    std::cerr << "claimgate serve: refusing to start with a bad config\n";
    return 1;
  }
  core::set_log_level(cfg->log_level);
  core::set_log_format(cfg->log_format);
  for (const auto& w : cfg->warnings) g_log.warn(w);
  // Everything the gateway creates (keys, state, audit, job files) is its own alone.
  ::umask(077);
  if (gateway::log_state_file_problems(*cfg, g_log)) {
    std::cerr << "claimgate serve: refusing to start while its keys, state or audit log are "
                 "open to other users (the chmod commands above fix it)\n";
    return 1;
  }
  std::vector<std::string> notes;
  auto ring = gateway::open_keyring(*cfg, clock.now(), random, notes);
  for (const auto& n : notes) g_log.warn(n);
  if (!ring) {
    g_log.error("keys: ", ring.error().message);
    return 1;
  }
  auto stores = gateway::open_stores(*cfg, clock);
  if (!stores) {
    g_log.error("store: ", stores.error().message);
    return 1;
  }
  http::ServerOptions server_options = cfg->server;
  auto gw = std::make_unique<gateway::Gateway>(std::move(*cfg), std::move(*ring),
                                               std::move(*stores), clock, random);
  if (auto st = gw->open_audit(); !st) {
    g_log.error("audit: code=", st.error().code, " ", st.error().name, " ",
                core::log_quote(st.error().message));
    std::cerr << "claimgate serve: refusing to start without its audit log (or set audit: "
                 "{enabled: false})\n";
    return 1;
  }
  if (auto st = gw->open_jobs(); !st) {
    g_log.error("jobs: code=", st.error().code, " ", st.error().name, " ",
                core::log_quote(st.error().message));
    gw->close_audit();
    return 1;
  }
  gw->start_metadata_refresh();
  http::Server server(
      server_options, [&gw](http::Exchange& ex) { return gw->handle(ex); },
      [&gw](unsigned status, const std::string& reason, const std::string& client) {
        gw->on_reject(status, reason, client);
      });
  gw->set_server(&server);
  bool diagnostics_failed = false;
  auto diagnostics = start_diagnostics(*gw, diagnostics_failed);
  if (diagnostics_failed) {
    gw->stop_metadata_refresh();
    gw->close_jobs();
    gw->close_audit();
    return 1;
  }
  if (auto st = server.start(); !st) {
    g_log.error(st.error().message);
    return 1;
  }
  const auto& c = gw->config();
  g_log.info("listening on ", c.server.tls_cert_file.empty() ? "http" : "https", "://",
             c.server.host, ":", server.port(), " public_url=", c.public_url.origin(),
             " idps=", c.saml.idps.size(), " routes=", c.routes.size(), " store=",
             c.store_kind == "redis" ? "redis " + c.redis.redis.describe() : c.store_kind,
             " audit=", c.audit.enabled ? c.audit.log.path : std::string("off"));
  // To the service manager (systemd Type=notify), if one started us.
  auto notify = [](std::string_view state) {
    if (auto st = core::notify_service_manager(state); !st) g_log.warn(st.error().message);
  };
  // Signals and the minute purge run on the first worker's context.
  auto& ctx = server.main_context();
  http::asio::signal_set signals(ctx, SIGTERM, SIGINT);
  signals.async_wait([&](const http::error_code& ec, int sig) {
    if (ec) return;
    g_log.info("signal ", sig, ": finishing in-flight requests (up to ",
               c.server.shutdown_grace.count(), " ms), then stopping");
    notify("STOPPING=1");
    server.stop();
    if (diagnostics) diagnostics->stop();
  });
  // Policy reloads: on SIGHUP, and when the config or policy file changes (polled every 2 s,
  // which also catches editors that replace the file and config managers that rename into it).
  http::asio::signal_set hup(ctx, SIGHUP);
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](const http::error_code& ec, int) {
      if (ec) return;
      notify(core::reloading_message(clock.monotonic()));
      gw->reload_policy("SIGHUP");
      gw->reload_sp_keys("SIGHUP");
      gw->refresh_metadata_now();
      notify("READY=1");
      wait_hup();
    });
  };
  wait_hup();
  auto files = gw->policy_files();
  auto key_files = gw->sp_key_files();
  auto stamp_of = [](const std::vector<std::string>& files) {
    std::string s;
    for (const auto& f : files) {
      struct stat st {};
      if (::stat(f.c_str(), &st) == 0) {
        s += std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
             std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ";";
      } else {
        s += "missing;";
      }
    }
    return s;
  };
  std::string last_stamp = stamp_of(files), last_keys = stamp_of(key_files), settling;
  http::asio::steady_timer watch(ctx);
  std::function<void()> schedule_watch = [&] {
    watch.expires_after(std::chrono::seconds(2));
    watch.async_wait([&](const http::error_code& ec) {
      if (ec) return;
      if (std::string now = stamp_of(files); now != last_stamp) {
        last_stamp = now;
        gw->reload_policy("file changed");
      }
      // The SP's key files: `claimgate certs rollover` staged or promoted a pair. Read once
      // they have stayed the same for a round, so that a promote half done (one file renamed,
      // its partner not yet) is never read.
      if (std::string now = stamp_of(key_files); now == last_keys) {
        settling.clear();
      } else if (now != settling) {
        settling = now;
      } else {
        last_keys = now;
        settling.clear();
        gw->reload_sp_keys("key files changed");
      }
      schedule_watch();
    });
  };
  schedule_watch();
  http::asio::steady_timer purge(ctx);
  std::function<void()> schedule = [&] {
    purge.expires_after(std::chrono::minutes(1));
    purge.async_wait([&](const http::error_code& ec) {
      if (ec) return;
      gw->purge_expired();
      schedule();
    });
  };
  http::asio::post(ctx, schedule);
  std::signal(SIGPIPE, SIG_IGN);
  // Every listener listens and every signal is handled (a SIGHUP sent before its handler was in
  // place would end the process): a service manager may now send traffic and reloads.
  notify("READY=1");
  server.wait();
  if (diagnostics) {
    diagnostics->stop();
    diagnostics->wait();
  }
  // Store calls still running (a stalled Redis) post their results to the server's event
  // loops: finish them while those loops exist (`server` is destroyed before `gw`).
  gw->finish_store_calls();
  purge.cancel();
  watch.cancel();
  hup.cancel();
  gw->stop_metadata_refresh();
  gw->close_jobs();
  gw->close_audit();
  g_log.info("stopped");
  return 0;
}

}  // namespace

void add_serve_commands(CLI::App& app, int& exit_code) {
  static std::string serve_config, check_config, keys_dir;
  auto* serve = app.add_subcommand("serve", "Run the gateway");
  serve->add_option("--config,-c", serve_config, "the YAML config file")->required();
  serve->callback([&exit_code] { exit_code = run_serve(serve_config); });

  auto* check = app.add_subcommand("check", "Check a config file and print every problem");
  check->add_option("--config,-c", check_config, "the YAML config file")->required();
  check->callback([&exit_code] { exit_code = run_check(check_config); });

  auto* keys = app.add_subcommand("keys", "The keyring: cookie sealing and JWT signing keys");
  keys->require_subcommand(1);
  auto* rotate = keys->add_subcommand("rotate",
                                      "Add a new key pair; it seals and signs from the next start, "
                                      "older keys still open and verify");
  rotate->add_option("--dir", keys_dir, "the keyring directory")->required();
  static bool next = false;
  rotate->add_flag("--next", next,
                   "stage the pair: it opens, verifies and is published in the JWKS, but does not "
                   "seal or sign until `claimgate keys promote` (several gateways: "
                   "docs/deployment.md)");
  rotate->callback([&exit_code] {
    auto kid = crypto::Keyring::add_keys(keys_dir, core::SystemClock::instance().now(),
                                         core::SystemRandom::instance(), next);
    if (!kid) {
      std::cerr << "claimgate keys rotate: " << kid.error().message << "\n";
      exit_code = 1;
      return;
    }
    std::cout << "added key " << *kid << (next ? " (staged: next)" : "") << " to " << keys_dir
              << "\n";
  });
  auto* promote = keys->add_subcommand(
      "promote",
      "Make the staged (next) keys ordinary: the newest seals and signs from the next start");
  promote->add_option("--dir", keys_dir, "the keyring directory")->required();
  promote->callback([&exit_code] {
    auto ids = crypto::Keyring::promote(keys_dir);
    if (!ids) {
      std::cerr << "claimgate keys promote: " << ids.error().message << "\n";
      exit_code = 1;
      return;
    }
    if (ids->empty()) {
      std::cerr << "claimgate keys promote: no staged key in " << keys_dir
                << " (stage one with `claimgate keys rotate --next`)\n";
      exit_code = 1;
      return;
    }
    for (const auto& id : *ids) std::cout << "promoted key " << id << "\n";
  });

  static std::string schedule_config, schedule_now, schedule_changed;
  auto* schedule = keys->add_subcommand(
      "schedule",
      "One step of the scheduled keyring rotation, when due (run it daily from a timer): stage "
      "a new pair, promote it after the overlap, retire pairs nothing can still need");
  schedule->add_option("--config,-c", schedule_config, "the gateway's YAML config")->required();
  schedule->add_option("--now", schedule_now, "evaluate as of this time (RFC 3339; tests)");
  schedule->add_option("--changed-file", schedule_changed,
                       "create this file when a key was staged, promoted or retired (the "
                       "gateway then needs a restart)");
  schedule->callback([&exit_code] {
    exit_code = run_key_schedule(schedule_config, schedule_now, schedule_changed);
  });
  auto* list = keys->add_subcommand("list", "List the keys, oldest first");
  list->add_option("--dir", keys_dir, "the keyring directory")->required();
  list->callback([&exit_code] {
    std::vector<std::string> notes;
    auto ring = crypto::Keyring::load(keys_dir, &notes);
    if (!ring) {
      std::cerr << "claimgate keys list: " << ring.error().message << "\n";
      exit_code = 1;
      return;
    }
    for (const auto& k : ring->sealing_keys()) {
      std::cout << "seal " << k.id
                << (&k == &ring->current_sealing() ? "  (current)"
                    : k.next                       ? "  (next)"
                                                   : "")
                << "\n";
    }
    for (const auto& k : ring->signing_keys()) {
      std::cout << "sign " << k.id
                << (&k == &ring->current_signing() ? "  (current)"
                    : k.next                       ? "  (next)"
                                                   : "")
                << "\n";
    }
    for (const auto& n : notes) std::cout << "warning: " << n << "\n";
  });
}

}  // namespace cg::cli
