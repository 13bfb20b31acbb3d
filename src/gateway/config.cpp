#include "gateway/config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/encoding.h"
#include "core/time.h"
#include "crypto/keys.h"
#include "gateway/errors.h"
#include "saml/identity.h"

namespace cg::gateway {
namespace {

using std::chrono::seconds;

std::chrono::milliseconds ms(seconds s) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(s);
}

// "host:port" or "[v6]:port" (port 0-65535), or nullopt.
std::optional<std::pair<std::string, uint16_t>> split_host_port(const std::string& v) {
  std::string host;
  std::string port;
  if (v.starts_with("[")) {
    size_t close = v.find("]:");
    if (close != std::string::npos) {
      host = v.substr(1, close - 1);
      port = v.substr(close + 2);
    }
  } else if (size_t c = v.rfind(':'); c != std::string::npos) {
    host = v.substr(0, c);
    port = v.substr(c + 1);
  }
  unsigned n = 0;
  bool ok = !host.empty() && !port.empty() && port.size() <= 5;
  for (char ch : port) {
    ok = ok && ch >= '0' && ch <= '9';
    if (ok) n = n * 10 + static_cast<unsigned>(ch - '0');
  }
  if (!ok || n > 65535) return std::nullopt;
  return std::make_pair(host, static_cast<uint16_t>(n));
}

void parse_listen(const std::string& v, http::ServerOptions& s, core::Problems& p) {
  auto hp = split_host_port(v);
  if (!hp) {
    p.add("listen", v, "address:port, such as 127.0.0.1:8080, 0.0.0.0:443 or [::1]:8080");
    return;
  }
  s.host = hp->first;
  s.port = hp->second;
}

bool loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  http::error_code ec;
  auto a = http::asio::ip::make_address(host, ec);
  return !ec && a.is_loopback();
}

bool unspecified_host(const std::string& host) {
  http::error_code ec;
  auto a = http::asio::ip::make_address(host, ec);
  return !ec && a.is_unspecified();
}

void compile_diagnostics(const YAML::Node& root, GatewayConfig& c, core::Problems& p) {
  YAML::Node d = root["diagnostics"];
  if (!d || d.IsNull()) return;
  if (!d.IsMap()) {
    p.add("diagnostics", "not a mapping",
          "a mapping with listen (such as {listen: 127.0.0.1:9464})");
    return;
  }
  core::reject_unknown_keys(d, "diagnostics", {"listen"}, p);
  if (!d["listen"]) return;
  DiagnosticsConfig& diag = c.diagnostics;
  diag.is_default = false;
  std::string v = core::get_string(d, "listen", "diagnostics", p, false);
  if (v.empty() || v == "off" || v == "false") {
    diag.enabled = false;
    return;
  }
  auto hp = split_host_port(v);
  http::error_code ec;
  if (hp) http::asio::ip::make_address(hp->first, ec);
  if (!hp || ec) {
    p.add("diagnostics.listen", v,
          "an IP address and port such as 127.0.0.1:9464 or [::1]:9464, or off");
    return;
  }
  diag.host = hp->first;
  diag.port = hp->second;
  diag.loopback = loopback_host(diag.host);
  if (!diag.loopback) {
    c.warnings.push_back("diagnostics.listen " + v +
                         " is not a loopback address: anyone who can reach it reads /metrics "
                         "(routes, IdPs, certificate subjects) and /readyz; keep it on "
                         "127.0.0.1 or a private interface behind a firewall");
  }
}

// Where the diagnostics listener and the public port, or an upstream, would be one socket.
void check_diagnostics_apart(GatewayConfig& c, core::Problems& p) {
  const DiagnosticsConfig& d = c.diagnostics;
  if (!d.enabled || d.port == 0) return;
  auto same_socket = [&](const std::string& host, uint16_t port) {
    if (port != d.port) return false;
    if (host == d.host || unspecified_host(d.host) || unspecified_host(host)) return true;
    return loopback_host(host) && d.loopback;
  };
  if (same_socket(c.server.host, c.server.port)) {
    p.add("diagnostics.listen", d.address(),
          "an address:port other than listen's (" + c.server.host + ":" +
              std::to_string(c.server.port) + "): /metrics and /readyz stay off the public port");
  }
  for (size_t i = 0; i < c.routes.size(); ++i) {
    const auto& u = c.routes[i].upstream;
    if (u && same_socket(u->host, u->port)) {
      p.add("routes[" + std::to_string(i) + "].upstream", u->origin(),
            "an upstream other than the diagnostics listener (diagnostics.listen " + d.address() +
                "): a route to it would publish /metrics and /readyz on the public port");
    }
  }
}

void check_tls(const YAML::Node& tls, const std::string& base, core::WallTime now,
               http::ServerOptions& s, core::Problems& p) {
  core::reject_unknown_keys(tls, "tls", {"cert", "key"}, p);
  std::string cert = core::get_string(tls, "cert", "tls", p, true);
  std::string key = core::get_string(tls, "key", "tls", p, true);
  if (cert.empty() || key.empty()) return;
  s.tls_cert_file = core::get_path(tls, "cert", "tls", p, base, true);
  s.tls_key_file = core::get_path(tls, "key", "tls", p, base, true);
  auto certs = crypto::Certificate::load(s.tls_cert_file);
  auto k = crypto::PrivateKey::load(s.tls_key_file);
  if (!certs) p.add("tls.cert", cert, certs.error().message);
  if (!k) p.add("tls.key", key, k.error().message);
  if (certs && k && !certs->matches(*k)) {
    p.add("tls.key", key, "the private key of the certificate in tls.cert (" + cert + ")");
  }
  if (certs && certs->not_after() <= now) {
    p.add("tls.cert", cert + " (expired " + core::format_datetime(certs->not_after()) + ")",
          "a certificate valid now");
  }
}

// `log:` the operator log's level and format (core/log.h); the older top-level `log_level`
// still sets the level when `log.level` is not given.
void compile_log(const YAML::Node& root, GatewayConfig& c, core::Problems& p) {
  std::string legacy = core::get_string(root, "log_level", "", p, false, "");
  YAML::Node s = root["log"];
  if (s && !s.IsMap()) {
    p.add("log", "not a mapping", "a mapping such as {format: json, level: info}");
    return;
  }
  std::string level = legacy.empty() ? "info" : legacy;
  std::string format = "text";
  if (s) {
    core::reject_unknown_keys(s, "log", {"level", "format"}, p);
    if (s["level"] && !legacy.empty()) {
      p.add("log_level", legacy, "either log.level or log_level, not both (log.level is newer)");
    }
    level = core::get_string(s, "level", "log", p, false, level);
    format = core::get_string(s, "format", "log", p, false, format);
  }
  std::string level_path = s && s["level"] ? "log.level" : "log_level";
  if (!core::parse_log_level(level, c.log_level))
    p.add(level_path, level, "debug, info, warn or error");
  if (!core::parse_log_format(format, c.log_format))
    p.add("log.format", format, "text (key=value lines) or json (one JSON object a line)");
}

// `forward_auth:` which front proxy asks /auth, and so which headers name the original request
// (gateway/forward_auth.h); only those are read.
void compile_forward_auth(const YAML::Node& root, GatewayConfig& c, core::Problems& p) {
  YAML::Node s = root["forward_auth"];
  if (!s) return;
  if (!s.IsMap()) {
    p.add("forward_auth", "not a mapping", "a mapping such as {from: nginx}");
    return;
  }
  core::reject_unknown_keys(
      s, "forward_auth", {"from", "method_header", "uri_header", "host_header", "path_prefix"}, p);
  std::string from = core::get_string(s, "from", "forward_auth", p, false, "nginx");
  ForwardAuthConfig& f = c.forward_auth;
  if (!ForwardAuthConfig::preset(from, f)) {
    p.add("forward_auth.from", from,
          "nginx, traefik, envoy, or headers (then method_header, uri_header and host_header)");
    return;
  }
  bool custom = from == "headers";
  for (auto [key, field] :
       {std::pair{"method_header", &f.method_header}, std::pair{"uri_header", &f.uri_header},
        std::pair{"host_header", &f.host_header}}) {
    if (!s[key]) {
      if (custom) p.add(std::string("forward_auth.") + key, "missing", "a header name");
      continue;
    }
    if (!custom) {
      p.add(std::string("forward_auth.") + key, "set with from: " + from,
            "from: headers to name the headers yourself (from: " + from +
                " reads the ones that proxy sends)");
      continue;
    }
    *field = core::get_string(s, key, "forward_auth", p, true);
    if (field->empty() || field->find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS"
                                                   "TUVWXYZ0123456789-") != std::string::npos) {
      p.add(std::string("forward_auth.") + key, *field, "a header name (letters, digits, '-')");
    }
  }
  f.path_prefix = core::get_string(s, "path_prefix", "forward_auth", p, false, "/auth");
  if (f.path_prefix.size() < 2 || f.path_prefix[0] != '/' || f.path_prefix.back() == '/') {
    p.add("forward_auth.path_prefix", f.path_prefix, "a path such as /auth (no trailing slash)");
  }
}

RouteConfig compile_route(const YAML::Node& n, const std::string& path, core::Problems& p) {
  RouteConfig r;
  core::reject_unknown_keys(n, path,
                            {"name", "host", "prefix", "upstream", "strip_prefix", "websocket",
                             "pass_authorization", "public", "allow_groups", "group_claim"},
                            p);
  r.prefix = core::get_string(n, "prefix", path, p, true, "/");
  if (r.prefix.empty() || r.prefix[0] != '/')
    p.add(path + ".prefix", r.prefix, "a path starting with /");
  r.name = core::get_string(n, "name", path, p, false, r.prefix);
  r.host = core::get_string(n, "host", path, p, false);
  std::string up = core::get_string(n, "upstream", path, p, false);
  if (up.starts_with("builtin:")) {
    if (up != "builtin:jobs") {
      p.add(path + ".upstream", up, "builtin:jobs (the only built-in service) or an http:// URL");
    }
    r.builtin = up.substr(8);
  } else if (!up.empty()) {
    auto u = http::parse_url(up);
    if (!u) {
      p.add(path + ".upstream", up,
            "an http:// URL such as http://127.0.0.1:9000 (" + u.error().message + ")");
    } else if (u->https()) {
      p.add(path + ".upstream", up,
            "an http:// URL (TLS to upstreams is not supported yet: put the upstream on a "
            "private network or loopback, or terminate its TLS in a sidecar)");
    } else {
      r.upstream = *u;
    }
  }
  r.strip_prefix = core::get_bool(n, "strip_prefix", path, p, false);
  r.websocket = core::get_bool(n, "websocket", path, p, false);
  r.pass_authorization = core::get_bool(n, "pass_authorization", path, p, false);
  r.public_route = core::get_bool(n, "public", path, p, false);
  r.allow_groups = core::get_string_list(n, "allow_groups", path, p);
  r.group_claim = core::get_string(n, "group_claim", path, p, false, "groups");
  if (r.public_route && !r.allow_groups.empty()) {
    p.add(path + ".allow_groups", "set on a public route", "either public: true or allow_groups");
  }
  return r;
}

// `store:` with `kind: redis`: the address, credentials, TLS and the local view's timings.
// The password is a secret (core::get_secret): `password_file`, `password_env`, or
// $CLAIMGATE_REDIS_PASSWORD, never the config itself, which is often world-readable.
void compile_redis(const YAML::Node& s, GatewayConfig& c, core::Problems& p) {
  session::RedisStoreOptions& r = c.redis;
  std::string address = core::get_string(s, "address", "store", p, false, "127.0.0.1:6379");
  if (auto hp = split_host_port(address); hp && hp->second != 0) {
    r.redis.host = hp->first;
    r.redis.port = hp->second;
  } else {
    p.add("store.address", address, "host:port, such as 127.0.0.1:6379");
  }
  r.redis.username = core::get_string(s, "username", "store", p, false);
  r.redis.password =
      core::get_secret(s, "password", "store", p, c.base_dir, false, "CLAIMGATE_REDIS_PASSWORD");
  r.redis.db = static_cast<int>(core::get_uint(s, "db", "store", p, 0, 0, 15));
  if (YAML::Node t = s["tls"]; t) {
    if (t.IsScalar()) {
      r.redis.tls = core::get_bool(s, "tls", "store", p, false);
    } else if (t.IsMap()) {
      core::reject_unknown_keys(t, "store.tls", {"ca_file", "cert_file", "key_file", "server_name"},
                                p);
      r.redis.tls = true;
      auto file = [&](const char* key) {
        return core::get_path(t, key, "store.tls", p, c.base_dir, false);
      };
      r.redis.ca_file = file("ca_file");
      r.redis.cert_file = file("cert_file");
      r.redis.key_file = file("key_file");
      r.redis.server_name = core::get_string(t, "server_name", "store.tls", p, false);
      if (r.redis.cert_file.empty() != r.redis.key_file.empty()) {
        p.add("store.tls", "cert_file without key_file (or the reverse)", "both, or neither");
      }
    } else {
      p.add("store.tls", "not true/false or a mapping", "true, or {ca_file, cert_file, ...}");
    }
  }
  r.prefix = core::get_string(s, "prefix", "store", p, false, r.prefix);
  if (r.prefix.empty() || r.prefix.size() > 64 ||
      r.prefix.find_first_of(" \t\r\n") != std::string::npos) {
    p.add("store.prefix", r.prefix, "1 to 64 characters without spaces, such as claimgate:");
  }
  r.redis.pool_size = core::get_uint(s, "pool_size", "store", p, r.redis.pool_size, 1, 1024);
  auto ms_in = [&](const char* key, std::chrono::milliseconds fallback,
                   std::chrono::milliseconds lo, std::chrono::milliseconds hi, const char* range) {
    auto v = core::get_duration_ms(s, key, "store", p, fallback);
    if (v < lo || v > hi)
      p.add(std::string("store.") + key, std::to_string(v.count()) + "ms", range);
    return v;
  };
  using std::chrono::milliseconds;
  r.redis.connect_timeout = ms_in("connect_timeout", r.redis.connect_timeout, milliseconds(10),
                                  milliseconds(30'000), "from 10ms to 30s");
  r.redis.command_timeout = ms_in("command_timeout", r.redis.command_timeout, milliseconds(10),
                                  milliseconds(30'000), "from 10ms to 30s");
  r.cache_ttl = ms_in("cache_ttl", r.cache_ttl, milliseconds(0), milliseconds(600'000),
                      "from 0 (no local view) to 10m");
  r.outage_grace = ms_in("outage_grace", r.outage_grace, milliseconds(0), milliseconds(3'600'000),
                         "from 0 (fail at once) to 1h");
}

// `key_rotation:` (after sessions, tokens and jobs: a retired key must outlive everything it
// sealed or signed).
void compile_key_rotation(const YAML::Node& root, GatewayConfig& c, core::Problems& p) {
  KeyRotation& k = c.key_rotation;
  auto longest = std::max({c.session_ttl, c.tokens.refresh_lifetime, c.tokens.agent_max_ttl,
                           c.jobs.token_ttl, c.jwt_ttl, c.tokens.access_ttl});
  k.min_retire_after = longest + std::chrono::hours(24);
  k.retire_after = k.min_retire_after;
  YAML::Node s = root["key_rotation"];
  if (!s) return;
  if (!s.IsMap()) {
    p.add("key_rotation", "not a mapping", "a mapping (every, overlap, retire_after)");
    return;
  }
  core::reject_unknown_keys(s, "key_rotation", {"every", "overlap", "retire_after"}, p);
  k.every = core::get_duration(s, "every", "key_rotation", p, k.every);
  k.overlap = core::get_duration(s, "overlap", "key_rotation", p, k.overlap);
  k.retire_after = core::get_duration(s, "retire_after", "key_rotation", p, k.retire_after);
  if (k.every < std::chrono::hours(24)) {
    p.add("key_rotation.every", std::to_string(k.every.count()) + "s", "at least 1d");
  }
  if (k.overlap < std::chrono::hours(1) || k.overlap >= k.every) {
    p.add("key_rotation.overlap", std::to_string(k.overlap.count()) + "s",
          "from 1h to less than key_rotation.every (gateways must all restart in between)");
  }
  if (k.retire_after < k.min_retire_after) {
    p.add("key_rotation.retire_after", std::to_string(k.retire_after.count()) + "s",
          "at least " + std::to_string(k.min_retire_after.count() / 86400) +
              "d: the longest lifetime of what a key sealed or signed (sessions, refresh tokens, "
              "agent tokens, job tokens) and a day, or people would be signed out");
  }
}

// The `jobs:` section (after the routes: a builtin:jobs route turns the service on).
void compile_jobs(const YAML::Node& root, GatewayConfig& c, core::Problems& p) {
  JobsConfig& j = c.jobs;
  j.enabled = std::any_of(c.routes.begin(), c.routes.end(),
                          [](const RouteConfig& r) { return r.builtin == "jobs"; });
  // By default beside the sqlite store, else in the config's directory (both absolute: a
  // relative config path once put this at /jobs).
  j.state_dir = core::resolve_path(c.store_kind == "sqlite" && !c.store_path.empty()
                                       ? std::filesystem::path(c.store_path).parent_path().string()
                                       : c.base_dir,
                                   "jobs");
  j.gateway_url = c.public_url.origin();
  YAML::Node s = root["jobs"];
  if (!s) {
    if (j.enabled) p.note_path("jobs.state_dir", j.state_dir);
    return;
  }
  if (!s.IsMap()) {
    p.add("jobs", "not a mapping", "a mapping (executor, state_dir, token_ttl, ...)");
    return;
  }
  core::reject_unknown_keys(s, "jobs", {"enabled",          "executor",
                                        "state_dir",        "token_ttl",
                                        "cancel_grace",     "check_interval",
                                        "poll_interval",    "gateway_url",
                                        "ca_file",          "when_unreachable",
                                        "claimgate_binary", "pass_env",
                                        "max_nodes",        "max_procs_per_node",
                                        "max_gpus",         "max_runtime",
                                        "default_runtime",  "pools",
                                        "default_pool",     "slurm",
                                        "instance",         "run_as",
                                        "run_as_map",       "insecure_same_user",
                                        "sandbox",          "bwrap"},
                            p);
  j.enabled = core::get_bool(s, "enabled", "jobs", p, j.enabled);
  j.executor = core::get_string(s, "executor", "jobs", p, false, "local");
  if (j.executor != "local" && j.executor != "slurm") {
    p.add("jobs.executor", j.executor, "local or slurm");
  }
  j.state_dir = core::get_path(s, "state_dir", "jobs", p, c.base_dir, false, j.state_dir);
  j.token_ttl = core::get_duration(s, "token_ttl", "jobs", p, j.token_ttl);
  if (j.token_ttl < std::chrono::seconds(5) || j.token_ttl > std::chrono::seconds(86400)) {
    p.add("jobs.token_ttl", std::to_string(j.token_ttl.count()) + "s", "from 5s to 24h");
  }
  j.cancel_grace = core::get_duration(s, "cancel_grace", "jobs", p, j.cancel_grace);
  j.check_interval = core::get_duration(s, "check_interval", "jobs", p, j.check_interval);
  if (j.check_interval < std::chrono::seconds(1)) {
    p.add("jobs.check_interval", std::to_string(j.check_interval.count()) + "s", "at least 1s");
  }
  j.poll_interval = core::get_duration_ms(s, "poll_interval", "jobs", p, j.poll_interval);
  if (s["gateway_url"]) j.gateway_url = core::get_string(s, "gateway_url", "jobs", p, true);
  if (s["ca_file"]) j.ca_file = core::get_path(s, "ca_file", "jobs", p, c.base_dir, true);
  j.when_unreachable = core::get_string(s, "when_unreachable", "jobs", p, false, "closed");
  if (j.when_unreachable != "closed" && j.when_unreachable != "open") {
    p.add("jobs.when_unreachable", j.when_unreachable, "closed (refuse to start) or open");
  }
  j.claimgate_binary = core::get_path(s, "claimgate_binary", "jobs", p, c.base_dir, false);
  j.run_as = core::get_string(s, "run_as", "jobs", p, false);
  if (YAML::Node m = s["run_as_map"]) {
    if (!m.IsMap()) {
      p.add("jobs.run_as_map", "not a mapping", "a mapping of subject: Unix account");
    } else {
      for (const auto& kv : m) {
        auto subject = kv.first.as<std::string>("");
        if (!kv.second.IsScalar() || subject.empty() || kv.second.as<std::string>("").empty()) {
          p.add("jobs.run_as_map." + subject, "not an account name", "subject: Unix account");
          continue;
        }
        j.run_as_map[subject] = kv.second.as<std::string>();
      }
    }
  }
  j.insecure_same_user = core::get_bool(s, "insecure_same_user", "jobs", p, false);
  j.sandbox = core::get_string(s, "sandbox", "jobs", p, false, "auto");
  if (j.sandbox != "auto" && j.sandbox != "bwrap" && j.sandbox != "none") {
    p.add("jobs.sandbox", j.sandbox, "auto, bwrap or none");
  }
  j.bwrap = core::get_path(s, "bwrap", "jobs", p, c.base_dir, false, "/usr/bin/bwrap");
  j.instance = core::get_string(s, "instance", "jobs", p, false);
  if (j.instance.size() > 128 ||
      std::any_of(j.instance.begin(), j.instance.end(),
                  [](unsigned char ch) { return ch <= ' ' || ch == 0x7f; })) {
    p.add("jobs.instance", core::clip(j.instance, 40),
          "a name of at most 128 characters without spaces");
  }
  if (s["pass_env"]) j.pass_env = core::get_string_list(s, "pass_env", "jobs", p);
  auto& L = j.limits;
  L.max_nodes = static_cast<int>(core::get_uint(s, "max_nodes", "jobs", p, L.max_nodes, 1, 4096));
  L.max_procs_per_node = static_cast<int>(
      core::get_uint(s, "max_procs_per_node", "jobs", p, L.max_procs_per_node, 1, 1024));
  L.max_gpus = static_cast<int>(core::get_uint(s, "max_gpus", "jobs", p, L.max_gpus, 0, 64));
  L.max_runtime = core::get_duration(s, "max_runtime", "jobs", p, L.max_runtime);
  L.default_runtime = core::get_duration(s, "default_runtime", "jobs", p, L.default_runtime);
  if (L.default_runtime > L.max_runtime) {
    p.add("jobs.default_runtime", std::to_string(L.default_runtime.count()) + "s",
          "at most jobs.max_runtime");
  }
  if (s["pools"]) L.pools = core::get_string_list(s, "pools", "jobs", p);
  if (L.pools.empty()) p.add("jobs.pools", "[]", "at least one node pool name");
  L.default_pool = core::get_string(s, "default_pool", "jobs", p, false,
                                    L.pools.empty() ? "default" : L.pools.front());
  if (std::find(L.pools.begin(), L.pools.end(), L.default_pool) == L.pools.end()) {
    p.add("jobs.default_pool", L.default_pool, "one of jobs.pools");
  }
  if (YAML::Node sl = s["slurm"]; sl && sl.IsMap()) {
    core::reject_unknown_keys(sl, "jobs.slurm", {"partition", "bin_dir", "extra_args"}, p);
    j.slurm.partition = core::get_string(sl, "partition", "jobs.slurm", p, false);
    j.slurm.bin_dir = core::get_path(sl, "bin_dir", "jobs.slurm", p, c.base_dir, false, "/usr/bin");
    j.slurm.extra_args = core::get_string_list(sl, "extra_args", "jobs.slurm", p);
  }
}

// pages: show_details, and contact as a mapping {url, text} or one string (a URL when it
// starts mailto: or https://, else the text).
void compile_pages(const YAML::Node& root, GatewayConfig& c, core::Problems& p) {
  YAML::Node s = root["pages"];
  if (!s || s.IsNull()) return;
  if (!s.IsMap()) {
    p.add("pages", "not a mapping", "a mapping with show_details and contact");
    return;
  }
  core::reject_unknown_keys(s, "pages", {"show_details", "contact"}, p);
  c.pages.show_details = core::get_bool(s, "show_details", "pages", p, false);
  YAML::Node ct = s["contact"];
  std::string url, text;
  if (!ct || ct.IsNull()) return;
  if (ct.IsScalar()) {
    std::string v = ct.as<std::string>();
    bool is_url = v.starts_with("mailto:") || v.starts_with("https://") || v.starts_with("http://");
    (is_url ? url : text) = std::move(v);
  } else if (ct.IsMap()) {
    core::reject_unknown_keys(ct, "pages.contact", {"url", "text"}, p);
    url = core::get_string(ct, "url", "pages.contact", p, false);
    text = core::get_string(ct, "text", "pages.contact", p, false);
  } else {
    p.add("pages.contact", "a list", "a mapping with url and/or text, or one string");
    return;
  }
  if (!url.empty()) {
    if (std::string why = contact_url_problem(url); !why.empty()) {
      p.add("pages.contact.url", core::clip(url, 80), why);
    } else {
      c.pages.contact_url = std::move(url);
    }
  }
  if (std::string why = contact_text_problem(text); !why.empty()) {
    p.add("pages.contact.text", core::clip(text, 80), why);
  } else {
    c.pages.contact_text = std::move(text);
  }
}

}  // namespace

std::optional<GatewayConfig> load_gateway_config(const std::string& path, core::WallTime now,
                                                 core::Problems& p) {
  auto root_opt = core::load_yaml(path, p);
  if (!root_opt) return std::nullopt;
  const YAML::Node& root = *root_opt;
  GatewayConfig c;
  c.config_path = path;
  c.base_dir = core::config_dir(path);
  core::reject_unknown_keys(root, "",
                            {"listen",
                             "public_url",
                             "threads",
                             "log_level",
                             "log",
                             "insecure_http",
                             "tls",
                             "saml",
                             "keys",
                             "session",
                             "store",
                             "identity",
                             "limits",
                             "upstream",
                             "routes",
                             "permissions",
                             "roles",
                             "aliases",
                             "bindings",
                             "rules",
                             "case_insensitive_paths",
                             "policy_file",
                             "audit",
                             "tokens",
                             "jobs",
                             "certificate_warning",
                             "key_rotation",
                             "forward_auth",
                             "pages",
                             "diagnostics"},
                            p);
  parse_listen(core::get_string(root, "listen", "", p, false, "127.0.0.1:8080"), c.server, p);
  c.server.threads = static_cast<unsigned>(core::get_uint(root, "threads", "", p, 0, 0, 256));
  compile_diagnostics(root, c, p);
  compile_log(root, c, p);
  c.insecure_http = core::get_bool(root, "insecure_http", "", p, false);
  c.cert_warning = core::get_duration(root, "certificate_warning", "", p, c.cert_warning);
  if (c.cert_warning < std::chrono::hours(24) || c.cert_warning > std::chrono::hours(24 * 365)) {
    p.add("certificate_warning", std::to_string(c.cert_warning.count()) + "s", "from 1d to 365d");
  }

  std::string public_url =
      core::get_string(root, "public_url", "", p, false);  // required: saml reports it
  while (public_url.size() > 1 && public_url.back() == '/') public_url.pop_back();
  if (!public_url.empty()) {
    auto u = http::parse_url(public_url);
    if (!u) {
      p.add("public_url", public_url, "an absolute URL such as https://ml.example.org");
    } else {
      c.public_url = *u;
      if (!u->path.empty()) {
        p.add("public_url", public_url, "a URL with no path (the gateway owns the whole origin)");
      }
      if (!u->https() && !c.insecure_http) {
        p.add("public_url", public_url,
              "an https:// URL; for local development set insecure_http: true (cookies then "
              "travel without Secure)");
      }
    }
  }
  if (YAML::Node tls = root["tls"]; tls && !tls.IsNull()) {
    if (!tls.IsMap()) {
      p.add("tls", "not a mapping", "a mapping with cert and key");
    } else {
      check_tls(tls, c.base_dir, now, c.server, p);
    }
  }

  if (auto saml = saml::compile_saml_config(root, c.base_dir, now, p)) c.saml = std::move(*saml);
  for (auto& idp : c.saml.idps) {
    if (!idp.metadata_pending) continue;
    // No usable copy in the backing file: the start needs the IdP's endpoint this once.
    auto got = fetch_idp_metadata(idp, now, "");
    if (!got) {
      p.add("saml.idps[" + idp.name + "].metadata_url", idp.metadata_url,
            "a document that can be fetched and used, since " + idp.metadata_file +
                " holds no usable copy yet: " + got.error().message);
      continue;
    }
    idp.metadata = std::move(got->metadata);
    idp.metadata_fetched = std::move(got->document);
  }
  for (const auto& idp : c.saml.idps) {
    for (const auto& w : idp.metadata.warnings)
      c.warnings.push_back("saml.idps[" + idp.name + "]: " + w);
    if (idp.allow_tripledes)
      c.warnings.push_back("saml.idps[" + idp.name +
                           "].allow_tripledes is on: this IdP may encrypt assertions and NameIDs "
                           "with 3DES-CBC (64-bit blocks, deprecated); have it encrypt with "
                           "AES-GCM or AES-CBC and remove the switch");
    // A transient NameID is never the user id: with no attribute to take it from, every
    // sign-in through this IdP would be refused (4039 claims.no_user_id).
    bool attribute_source = std::any_of(idp.user_id.begin(), idp.user_id.end(),
                                        [](const std::string& s) { return s != "nameid"; });
    const auto& formats = idp.metadata.name_id_formats;
    bool only_transient = (!formats.empty() && std::all_of(formats.begin(), formats.end(),
                                                           [](const auto& f) {
                                                             return f == saml::kNameIdTransient;
                                                           })) ||
                          c.saml.sp.name_id_format == saml::kNameIdTransient;
    if (only_transient && !attribute_source) {
      c.warnings.push_back(
          "saml.idps[" + idp.name + "]: " +
          (c.saml.sp.name_id_format == saml::kNameIdTransient
               ? std::string("saml.sp.name_id_format asks for")
               : std::string("the IdP's metadata advertises only")) +
          " transient NameIDs (a new value at every sign-in), which are never the user id, "
          "and user_id names no attribute: every sign-in would be refused (4039). Set "
          "saml.idps[" +
          idp.name +
          "].user_id to the attribute that names the person (uid, "
          "eduPersonPrincipalName, subject-id, email), or have the IdP send a persistent NameID");
    }
  }

  c.keys_dir = core::get_path(root, "keys", "", p, c.base_dir, true);

  if (YAML::Node s = root["session"]; s && s.IsMap()) {
    core::reject_unknown_keys(s, "session", {"ttl", "idle", "touch_interval", "cookie"}, p);
    c.session_ttl = core::get_duration(s, "ttl", "session", p, c.session_ttl);
    c.session_idle = core::get_duration(s, "idle", "session", p, c.session_idle);
    c.touch_interval = core::get_duration(s, "touch_interval", "session", p, c.touch_interval);
    if (YAML::Node ck = s["cookie"]; ck && ck.IsMap()) {
      core::reject_unknown_keys(ck, "session.cookie", {"name", "domain", "path"}, p);
      c.cookie.name = core::get_string(ck, "name", "session.cookie", p, false, c.cookie.name);
      c.cookie.domain = core::get_string(ck, "domain", "session.cookie", p, false);
      c.cookie.path = core::get_string(ck, "path", "session.cookie", p, false, "/");
      bool token = !c.cookie.name.empty();
      for (char ch : c.cookie.name) {
        token = token && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-');
      }
      if (!token) p.add("session.cookie.name", c.cookie.name, "letters, digits, '_' and '-'");
    }
    if (c.session_idle > c.session_ttl) {
      p.add("session.idle", std::to_string(c.session_idle.count()) + "s",
            "no longer than session.ttl");
    }
  }

  if (YAML::Node s = root["store"]; s && s.IsMap()) {
    core::reject_unknown_keys(s, "store",
                              {"kind", "path", "address", "username", "password", "password_file",
                               "password_env", "db", "tls", "prefix", "pool_size",
                               "connect_timeout", "command_timeout", "cache_ttl", "outage_grace"},
                              p);
    c.store_kind = core::get_string(s, "kind", "store", p, false, "memory");
    if (c.store_kind == "sqlite") {
      c.store_path = core::get_path(s, "path", "store", p, c.base_dir, true);
    } else if (c.store_kind == "redis") {
      compile_redis(s, c, p);
    } else if (c.store_kind != "memory") {
      p.add("store.kind", c.store_kind, "memory, sqlite or redis");
    }
    if (c.store_kind != "redis") {
      for (const char* k : {"address", "username", "password", "password_file", "password_env",
                            "db", "tls", "prefix", "pool_size", "connect_timeout",
                            "command_timeout", "cache_ttl", "outage_grace"}) {
        if (s[k]) p.add(std::string("store.") + k, "set", "only with store.kind: redis");
      }
    }
  }

  if (YAML::Node s = root["identity"]; s && s.IsMap()) {
    core::reject_unknown_keys(s, "identity",
                              {"header_prefix", "forwarded_user_headers", "jwt_ttl", "issuer"}, p);
    c.header_prefix = core::get_string(s, "header_prefix", "identity", p, false, c.header_prefix);
    if (c.header_prefix.size() < 3 || !c.header_prefix.starts_with("X-")) {
      p.add("identity.header_prefix", c.header_prefix, "a prefix such as X-Claimgate-");
    }
    c.forwarded_user_headers = core::get_bool(s, "forwarded_user_headers", "identity", p, true);
    c.jwt_ttl = core::get_duration(s, "jwt_ttl", "identity", p, c.jwt_ttl);
    if (c.jwt_ttl > seconds(300) || c.jwt_ttl < seconds(30)) {
      p.add("identity.jwt_ttl", std::to_string(c.jwt_ttl.count()) + "s", "from 30s to 5m");
    }
    c.jwt_issuer = core::get_string(s, "issuer", "identity", p, false);
  }
  if (c.jwt_issuer.empty()) c.jwt_issuer = c.public_url.origin();

  compile_forward_auth(root, c, p);
  if (YAML::Node s = root["tokens"]; s && s.IsMap()) {
    core::reject_unknown_keys(s, "tokens",
                              {"enabled", "access_ttl", "refresh_lifetime", "agent_max_ttl",
                               "device_code_ttl", "device_poll_interval"},
                              p);
    TokensConfig& t = c.tokens;
    t.enabled = core::get_bool(s, "enabled", "tokens", p, true);
    t.access_ttl = core::get_duration(s, "access_ttl", "tokens", p, t.access_ttl);
    t.refresh_lifetime = core::get_duration(s, "refresh_lifetime", "tokens", p, t.refresh_lifetime);
    t.agent_max_ttl = core::get_duration(s, "agent_max_ttl", "tokens", p, t.agent_max_ttl);
    t.device_code_ttl = core::get_duration(s, "device_code_ttl", "tokens", p, t.device_code_ttl);
    t.device_poll_interval =
        core::get_duration(s, "device_poll_interval", "tokens", p, t.device_poll_interval);
    if (t.access_ttl < seconds(10) || t.access_ttl > seconds(3600)) {
      p.add("tokens.access_ttl", std::to_string(t.access_ttl.count()) + "s", "from 10s to 1h");
    }
    if (t.refresh_lifetime < t.access_ttl || t.refresh_lifetime > seconds(90 * 86400)) {
      p.add("tokens.refresh_lifetime", std::to_string(t.refresh_lifetime.count()) + "s",
            "at least tokens.access_ttl and at most 90d");
    }
    if (t.agent_max_ttl < seconds(60) || t.agent_max_ttl > seconds(90 * 86400)) {
      p.add("tokens.agent_max_ttl", std::to_string(t.agent_max_ttl.count()) + "s",
            "from 1m to 90d");
    }
    if (t.device_code_ttl < seconds(60) || t.device_code_ttl > seconds(3600)) {
      p.add("tokens.device_code_ttl", std::to_string(t.device_code_ttl.count()) + "s",
            "from 1m to 1h");
    }
    if (t.device_poll_interval < seconds(1) || t.device_poll_interval > seconds(60)) {
      p.add("tokens.device_poll_interval", std::to_string(t.device_poll_interval.count()) + "s",
            "from 1s to 60s");
    }
  }

  if (YAML::Node s = root["limits"]; s && s.IsMap()) {
    core::reject_unknown_keys(
        s, "limits",
        {"header_bytes", "body_bytes", "header_timeout", "body_timeout", "idle_timeout",
         "shutdown_grace", "signins_per_minute", "signin_burst", "pending_signins_per_client",
         "device_code_failures", "device_code_window", "max_clients"},
        p);
    c.server.header_limit = core::get_size(s, "header_bytes", "limits", p, c.server.header_limit);
    if (c.server.header_limit < 1024 || c.server.header_limit > (1 << 20)) {
      p.add("limits.header_bytes", std::to_string(c.server.header_limit), "from 1KiB to 1MiB");
    }
    c.body_limit = core::get_size(s, "body_bytes", "limits", p, c.body_limit);
    c.server.header_timeout = ms(core::get_duration(s, "header_timeout", "limits", p, seconds(10)));
    c.server.body_timeout = ms(core::get_duration(s, "body_timeout", "limits", p, seconds(60)));
    c.server.idle_timeout = ms(core::get_duration(s, "idle_timeout", "limits", p, seconds(60)));
    c.server.shutdown_grace = ms(core::get_duration(s, "shutdown_grace", "limits", p, seconds(10)));
    // Abuse limits (gateway/rate_limit.h).
    auto& A = c.abuse_limits;
    A.signins_per_minute =
        core::get_uint(s, "signins_per_minute", "limits", p, A.signins_per_minute, 0, 1'000'000);
    A.signin_burst = core::get_uint(s, "signin_burst", "limits", p, A.signin_burst, 1, 1'000'000);
    A.pending_signins_per_client = core::get_uint(s, "pending_signins_per_client", "limits", p,
                                                  A.pending_signins_per_client, 0, 1'000'000);
    A.device_code_failures = core::get_uint(s, "device_code_failures", "limits", p,
                                            A.device_code_failures, 0, 1'000'000);
    A.device_code_window =
        core::get_duration(s, "device_code_window", "limits", p, A.device_code_window);
    if (A.device_code_window < seconds(1) || A.device_code_window > seconds(86400)) {
      p.add("limits.device_code_window", std::to_string(A.device_code_window.count()) + "s",
            "from 1s to 24h");
    }
    A.max_clients = core::get_uint(s, "max_clients", "limits", p, A.max_clients, 100, 10'000'000);
  }
  if (YAML::Node s = root["upstream"]; s && s.IsMap()) {
    core::reject_unknown_keys(
        s, "upstream", {"connect_timeout", "response_timeout", "idle_timeout", "websocket_check"},
        p);
    c.upstream_timeouts.connect =
        ms(core::get_duration(s, "connect_timeout", "upstream", p, seconds(5)));
    c.upstream_timeouts.response_header =
        ms(core::get_duration(s, "response_timeout", "upstream", p, seconds(60)));
    c.upstream_timeouts.idle =
        ms(core::get_duration(s, "idle_timeout", "upstream", p, seconds(300)));
    c.websocket_check = ms(core::get_duration(s, "websocket_check", "upstream", p, seconds(5)));
  }

  YAML::Node routes = root["routes"];
  if (routes && !routes.IsSequence()) {
    p.add("routes", "not a list", "a list of routes (prefix, upstream, ...)");
  } else if (routes) {
    for (size_t i = 0; i < routes.size(); ++i) {
      std::string rp = "routes[" + std::to_string(i) + "]";
      if (!routes[i].IsMap()) {
        p.add(rp, "not a mapping", "a mapping with prefix and upstream");
        continue;
      }
      RouteConfig r = compile_route(routes[i], rp, p);
      for (const auto& other : c.routes) {
        if (other.name == r.name) p.add(rp + ".name", r.name, "a name no other route has");
        if (other.host == r.host && other.prefix == r.prefix) {
          p.add(rp + ".prefix", r.prefix, "a prefix no other route on the same host has");
        }
      }
      c.routes.push_back(std::move(r));
    }
  }
  if (c.routes.empty())
    c.warnings.push_back("routes: none configured; only sign-in and /auth work");
  check_diagnostics_apart(c, p);

  compile_jobs(root, c, p);
  compile_key_rotation(root, c, p);
  compile_pages(root, c, p);

  c.audit = audit::compile_audit_config(root, c.base_dir, p);
  if (!c.audit.enabled) {
    c.warnings.push_back(
        "audit: disabled; sign-ins and decisions leave no tamper-evident record (a SOC 2 or "
        "ISO 27001 review will ask for one)");
  }
  c.policy_file = path;
  c.policy = policy::load_policy(root, c.base_dir, p, c.warnings, &c.policy_file);
  for (const auto& r : c.routes) {
    if (r.public_route && !r.builtin.empty()) {
      p.add("routes[" + r.name + "].public", "true",
            "false: builtin:" + r.builtin + " acts for a signed-in person and cannot be public (" +
                code_name(Code::kIdentityRequired) + ")");
    }
  }
  if (c.policy) {
    for (auto& problem : public_rules_on_identity_routes(*c.policy, c.routes)) {
      p.add(problem.first, problem.second,
            std::string("a rule that needs a signed-in person (permission: or signed_in:) on "
                        "routes with builtin: upstreams (") +
                code_name(Code::kIdentityRequired) + ")");
    }
    for (auto& w : unreachable_rules(*c.policy, c.routes)) c.warnings.push_back(std::move(w));
    if (!c.policy->has_rules()) {
      c.warnings.push_back(
          "rules: none; roles are computed and passed upstream, but every signed-in person may "
          "reach every route (add rules to decide by permission; deny by default)");
    }
  }
  if (!p.empty()) return std::nullopt;
  c.paths = p.paths();
  return c;
}

std::string DiagnosticsConfig::address() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::vector<std::pair<std::string, std::string>> public_rules_on_identity_routes(
    const policy::Policy& pol, const std::vector<RouteConfig>& routes) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& rule : pol.rules()) {
    if (rule.kind != policy::RuleKind::kPublic) continue;
    std::string lit = policy::Policy::literal_prefix(rule.path);
    for (const auto& r : routes) {
      if (r.builtin.empty()) continue;
      std::string_view pre = r.prefix;
      if (pre.size() > 1 && pre.back() == '/') pre.remove_suffix(1);
      // Case folded both ways: a case-insensitive policy matches more than it spells.
      auto starts = [](std::string_view a, std::string_view b) {
        return a.size() >= b.size() && http::beast::iequals(a.substr(0, b.size()), b);
      };
      if (starts(lit, pre) || starts(r.prefix, lit)) {
        out.emplace_back(rule.where, "public: true on " + rule.path + ", under route '" + r.name +
                                         "' (" + r.prefix + " -> builtin:" + r.builtin + ")");
      }
    }
  }
  return out;
}

std::vector<std::string> unreachable_rules(const policy::Policy& pol,
                                           const std::vector<RouteConfig>& routes) {
  std::vector<std::string> out;
  for (const auto& rule : pol.rules()) {
    std::string lit = policy::Policy::literal_prefix(rule.path);
    auto starts = [&](std::string_view a, std::string_view b) {
      return pol.case_insensitive()
                 ? a.size() >= b.size() && http::beast::iequals(a.substr(0, b.size()), b)
                 : a.starts_with(b);
    };
    for (const char* own : {"/saml/", "/.claimgate/", "/.well-known/"}) {
      if (starts(lit, own)) {
        out.push_back(rule.where + " (" + rule.path + ") can never match: " + own +
                      " is the gateway's own (not proxied, not decided by rules)");
      }
    }
    bool reached = false;
    for (const auto& r : routes) {
      if ((!r.upstream && r.builtin.empty()) || r.public_route) continue;
      std::string_view pre = r.prefix;
      if (pre.size() > 1 && pre.back() == '/') pre.remove_suffix(1);
      if (starts(lit, pre) || starts(r.prefix, lit)) reached = true;
    }
    if (!reached && !routes.empty()) {
      out.push_back(rule.where + " (" + rule.path +
                    ") can never match: no route with an upstream (and not public) serves that "
                    "path");
    }
  }
  return out;
}

}  // namespace cg::gateway
