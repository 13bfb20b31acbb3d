#include "gateway/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/encoding.h"
#include "support/saml_fixture.h"

namespace cg::gateway {
namespace {

using cg::testing::test_now;

class GatewayConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("cg-gwcfg-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    const auto& sp = cg::testing::sp_keys();
    ASSERT_TRUE(core::write_file((dir_ / "sp.key").string(), sp.key.to_pem(), 0600).has_value());
    ASSERT_TRUE(core::write_file((dir_ / "sp.crt").string(), sp.cert.to_pem()).has_value());
    ASSERT_TRUE(
        core::write_file((dir_ / "idp.xml").string(), cg::testing::idp_metadata_xml()).has_value());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::optional<GatewayConfig> load(const std::string& yaml, core::Problems& p) {
    std::string path = (dir_ / "c.yaml").string();
    EXPECT_TRUE(core::write_file(path, yaml).has_value());
    return load_gateway_config(path, test_now(), p);
  }

  static constexpr const char* kBase =
      "public_url: https://ml.example.org\n"
      "saml:\n  sp: {signing_key: sp.key, signing_cert: sp.crt}\n"
      "  idps: [{name: corp, metadata_file: idp.xml}]\n"
      "keys: keyring\n";
  std::filesystem::path dir_;
};

// A full config compiles with its defaults and its routes.
TEST_F(GatewayConfigTest, CompilesAFullConfig) {
  core::Problems p;
  auto c = load(std::string(kBase) +
                    "listen: 0.0.0.0:8443\n"
                    "session: {ttl: 4h, idle: 30m, cookie: {name: ml_sess}}\n"
                    "store: {kind: sqlite, path: state.db}\n"
                    "identity: {jwt_ttl: 2m}\n"
                    "tokens: {access_ttl: 5m, refresh_lifetime: 7d, device_poll_interval: 2s}\n"
                    "routes:\n"
                    "  - {name: mlflow, prefix: /mlflow/, upstream: 'http://127.0.0.1:5000/base', "
                    "strip_prefix: true, websocket: true, allow_groups: [ml]}\n",
                p);
  ASSERT_TRUE(c.has_value()) << p.to_string();
  EXPECT_EQ(c->server.port, 8443);
  EXPECT_EQ(c->server.host, "0.0.0.0");
  EXPECT_EQ(c->session_ttl, std::chrono::hours(4));
  EXPECT_EQ(c->session_idle, std::chrono::minutes(30));
  EXPECT_EQ(c->cookie.name, "ml_sess");
  EXPECT_EQ(c->store_kind, "sqlite");
  EXPECT_EQ(c->store_path, (dir_ / "state.db").string());
  EXPECT_EQ(c->jwt_ttl, std::chrono::minutes(2));
  EXPECT_EQ(c->jwt_issuer, "https://ml.example.org");
  EXPECT_TRUE(c->tokens.enabled);
  EXPECT_EQ(c->tokens.access_ttl, std::chrono::minutes(5));
  EXPECT_EQ(c->tokens.refresh_lifetime, std::chrono::hours(24 * 7));
  EXPECT_EQ(c->tokens.agent_max_ttl, std::chrono::hours(24 * 7));  // the default
  EXPECT_EQ(c->tokens.device_poll_interval, std::chrono::seconds(2));
  ASSERT_EQ(c->routes.size(), 1u);
  EXPECT_EQ(c->routes[0].upstream->path, "/base");
  EXPECT_TRUE(c->routes[0].strip_prefix);
  EXPECT_EQ(c->routes[0].allow_groups, std::vector<std::string>{"ml"});
  EXPECT_TRUE(c->secure_cookies());
}

// Every problem at once, each with its path: nothing stops at the first.
TEST_F(GatewayConfigTest, ReportsEveryProblem) {
  core::Problems p;
  auto c = load(std::string(kBase) +
                    "listen: nowhere\n"
                    "store: {kind: postgres}\n"
                    "identity: {jwt_ttl: 1h, header_prefix: Claim}\n"
                    "limits: {header_bytes: 12}\n"
                    "session: {ttl: 1h, idle: 2h, cookie: {name: 'bad name'}}\n"
                    "tokens: {access_ttl: 2h, refresh_lifetime: 1y, device_poll_interval: 0s, "
                    "agent_max_ttl: 1s, colour: blue}\n"
                    "routes:\n  - {prefix: app, upstream: 'https://secure:443'}\n"
                    "  - {prefix: app}\n",
                p);
  EXPECT_FALSE(c.has_value());
  std::string all = p.to_string();
  for (const char* path :
       {"listen:", "store.kind:", "identity.jwt_ttl:", "identity.header_prefix:",
        "limits.header_bytes:", "session.idle:", "session.cookie.name:", "routes[0].prefix:",
        "routes[0].upstream:", "routes[1].name:", "tokens.access_ttl:", "tokens.refresh_lifetime:",
        "tokens.device_poll_interval:", "tokens.agent_max_ttl:", "tokens.colour"}) {
    EXPECT_NE(all.find(path), std::string::npos) << path << "\n" << all;
  }
}

// log: level and format; the older top-level log_level still sets the level, both at once is a
// problem, and an unknown format or key names its path and what is allowed.
TEST_F(GatewayConfigTest, CompilesTheLogSection) {
  core::Problems p;
  auto c = load(std::string(kBase) + "log: {level: warn, format: json}\n", p);
  ASSERT_TRUE(c.has_value()) << p.to_string();
  EXPECT_EQ(c->log_level, core::LogLevel::kWarn);
  EXPECT_EQ(c->log_format, core::LogFormat::kJson);
  core::Problems p2;
  c = load(std::string(kBase) + "log_level: debug\n", p2);
  ASSERT_TRUE(c.has_value()) << p2.to_string();
  EXPECT_EQ(c->log_level, core::LogLevel::kDebug);
  EXPECT_EQ(c->log_format, core::LogFormat::kText);
  core::Problems p3;
  c = load(std::string(kBase) + "log_level: debug\nlog: {level: info, format: logfmt, colour: 1}\n",
           p3);
  EXPECT_FALSE(c.has_value());
  std::string all = p3.to_string();
  for (const char* want : {"log_level:", "either log.level or log_level", "log.format:", "logfmt",
                           "text (key=value lines) or json", "log.colour"}) {
    EXPECT_NE(all.find(want), std::string::npos) << want << "\n" << all;
  }
}

// The Redis store: address, password from a file (never from the config), TLS files and
// timings; bad values, and Redis fields with another kind, are problems.
TEST_F(GatewayConfigTest, CompilesTheRedisStore) {
  ASSERT_TRUE(core::write_file((dir_ / "redis.pass").string(), "s3cret\n", 0600).has_value());
  core::Problems p;
  auto c = load(std::string(kBase) +
                    "store: {kind: redis, address: 'redis.internal:6380', password_file: "
                    "redis.pass, db: 2, tls: {ca_file: ca.pem}, prefix: 'ml-prod:', "
                    "outage_grace: 2m, cache_ttl: 5s, command_timeout: 250ms}\n",
                p);
  ASSERT_TRUE(c.has_value()) << p.to_string();
  EXPECT_EQ(c->store_kind, "redis");
  EXPECT_EQ(c->redis.redis.host, "redis.internal");
  EXPECT_EQ(c->redis.redis.port, 6380);
  EXPECT_EQ(c->redis.redis.password, "s3cret");
  EXPECT_EQ(c->redis.redis.db, 2);
  EXPECT_TRUE(c->redis.redis.tls);
  EXPECT_EQ(c->redis.redis.ca_file, (dir_ / "ca.pem").string());
  EXPECT_EQ(c->redis.prefix, "ml-prod:");
  EXPECT_EQ(c->redis.outage_grace, std::chrono::minutes(2));
  EXPECT_EQ(c->redis.cache_ttl, std::chrono::seconds(5));
  EXPECT_EQ(c->redis.redis.command_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(c->redis.redis.describe(), "rediss://redis.internal:6380/2");

  core::Problems bad;
  EXPECT_FALSE(load(std::string(kBase) +
                        "store: {kind: redis, address: no-port, password_file: missing.pass, "
                        "db: 99, prefix: 'has space', command_timeout: 1h, "
                        "tls: {cert_file: c.pem}}\n",
                    bad)
                   .has_value());
  std::string all = bad.to_string();
  for (const char* path : {"store.address:", "store.password_file:", "store.db:", "store.prefix:",
                           "store.command_timeout:", "store.tls:"}) {
    EXPECT_NE(all.find(path), std::string::npos) << path << "\n" << all;
  }
  core::Problems other;
  EXPECT_FALSE(
      load(std::string(kBase) + "store: {kind: sqlite, path: s.db, address: '127.0.0.1:6379'}\n",
           other)
          .has_value());
  EXPECT_NE(other.to_string().find("store.address"), std::string::npos) << other.to_string();
}

// Plain http needs the explicit development switch; then cookies are not Secure.
TEST_F(GatewayConfigTest, PlainHttpNeedsTheDevelopmentSwitch) {
  std::string http_base = kBase;
  http_base.replace(http_base.find("https://"), 8, "http://");
  core::Problems p;
  EXPECT_FALSE(load(http_base, p).has_value());
  EXPECT_NE(p.to_string().find("insecure_http"), std::string::npos);
  core::Problems p2;
  auto c = load(http_base + "insecure_http: true\n", p2);
  ASSERT_TRUE(c.has_value()) << p2.to_string();
  EXPECT_FALSE(c->secure_cookies());
}

// The policy: inline sections, or a policy_file (not both); its problems name the file; rules
// that no route reaches are warnings.
TEST_F(GatewayConfigTest, LoadsThePolicyInlineOrFromItsFile) {
  const std::string routes =
      "routes: [{name: api, prefix: /api/, upstream: 'http://127.0.0.1:9'}]\n";
  const std::string policy =
      "bindings: [{claim: groups, equals: g, role: viewer, project: a}]\n"
      "rules:\n"
      "  - {methods: [GET], path: '/api/projects/{project}/jobs', permission: jobs:read}\n"
      "  - {methods: [GET], path: '/mlflow/{rest*}', permission: models:read}\n";
  core::Problems p;
  auto c = load(std::string(kBase) + routes + policy, p);
  ASSERT_TRUE(c.has_value()) << p.to_string();
  ASSERT_TRUE(c->policy);
  EXPECT_EQ(c->policy->rules().size(), 2u);
  EXPECT_EQ(c->policy_file, c->config_path);
  bool warned = false;
  for (const auto& w : c->warnings) warned = warned || w.find("rules[1] (/mlflow/{rest*})") == 0;
  EXPECT_TRUE(warned);

  ASSERT_TRUE(core::write_file((dir_ / "policy.yaml").string(), policy).has_value());
  p = core::Problems{};
  c = load(std::string(kBase) + routes + "policy_file: policy.yaml\n", p);
  ASSERT_TRUE(c.has_value()) << p.to_string();
  EXPECT_EQ(c->policy_file, (dir_ / "policy.yaml").string());
  EXPECT_EQ(c->policy->bindings().size(), 1u);

  p = core::Problems{};
  EXPECT_FALSE(load(std::string(kBase) + routes + "policy_file: policy.yaml\n" + policy, p));
  EXPECT_NE(p.to_string().find("policy_file"), std::string::npos) << p.to_string();

  ASSERT_TRUE(core::write_file((dir_ / "policy.yaml").string(),
                               "rules: [{path: /a, permission: jobs:fly}]\nlisten: x\n")
                  .has_value());
  p = core::Problems{};
  EXPECT_FALSE(load(std::string(kBase) + routes + "policy_file: policy.yaml\n", p));
  std::string all = p.to_string();
  EXPECT_NE(all.find("policy.yaml: rules[0].permission"), std::string::npos) << all;
  EXPECT_NE(all.find("policy.yaml: listen"), std::string::npos) << all;  // not a policy key

  p = core::Problems{};
  c = load(std::string(kBase) + routes, p);
  ASSERT_TRUE(c.has_value()) << p.to_string();
  EXPECT_FALSE(c->policy);
}

// A route whose service acts for a person cannot be made public, neither by the route nor by
// a public rule under it (an anonymous GET crashed the gateway once).
TEST_F(GatewayConfigTest, IdentityRoutesCannotBePublic) {
  core::Problems p;
  EXPECT_FALSE(load(
      std::string(kBase) + "routes: [{prefix: /api/, upstream: 'builtin:jobs', public: true}]\n",
      p));
  EXPECT_NE(p.to_string().find("gateway.identity_required"), std::string::npos) << p.to_string();
  for (const char* rule :
       {"{path: \"/api/projects/{project}/jobs\", public: true}",
        "{path: \"/{rest*}\", public: true}", "{path: \"/API/{rest*}\", public: true}"}) {
    core::Problems q;
    EXPECT_FALSE(load(std::string(kBase) +
                          "routes: [{prefix: /api/, upstream: 'builtin:jobs'}, "
                          "{prefix: /static/, upstream: 'http://127.0.0.1:9000'}]\n"
                          "rules:\n  - " +
                          rule + "\n",
                      q))
        << rule;
    EXPECT_NE(q.to_string().find("gateway.identity_required"), std::string::npos) << q.to_string();
  }
  core::Problems ok;
  EXPECT_TRUE(load(std::string(kBase) +
                       "routes: [{prefix: /api/, upstream: 'builtin:jobs'}, "
                       "{prefix: /static/, upstream: 'http://127.0.0.1:9000'}]\n"
                       "rules:\n  - {path: \"/static/{rest*}\", public: true}\n"
                       "  - {path: \"/api/projects/{project}/jobs\", permission: jobs:read}\n",
                   ok))
      << ok.to_string();
}

// forward_auth names the front proxy; `headers` names the headers, and nothing else does.
TEST_F(GatewayConfigTest, ForwardAuthNamesTheFrontProxy) {
  core::Problems p;
  auto c = load(std::string(kBase) + "forward_auth: {from: traefik}\n", p);
  ASSERT_TRUE(c) << p.to_string();
  EXPECT_EQ(c->forward_auth.uri_header, "X-Forwarded-Uri");
  auto d = load(std::string(kBase), p);
  ASSERT_TRUE(d) << p.to_string();
  EXPECT_EQ(d->forward_auth.from, "nginx");
  EXPECT_EQ(d->forward_auth.uri_header, "X-Original-URI");
  core::Problems q;
  auto e = load(std::string(kBase) +
                    "forward_auth: {from: headers, method_header: X-M, uri_header: X-U, "
                    "host_header: X-H}\n",
                q);
  ASSERT_TRUE(e) << q.to_string();
  EXPECT_EQ(e->forward_auth.host_header, "X-H");
  for (const char* bad : {"forward_auth: {from: haproxy}\n", "forward_auth: {from: headers}\n",
                          "forward_auth: {from: nginx, uri_header: X-U}\n",
                          "forward_auth: {from: headers, method_header: 'X M', uri_header: X-U, "
                          "host_header: X-H}\n"}) {
    core::Problems r;
    EXPECT_FALSE(load(std::string(kBase) + bad, r)) << bad;
  }
}

// The abuse limits: defaults that let a team behind one NAT sign in, each settable (0 turns it
// off), bad values reported with their path.
TEST_F(GatewayConfigTest, CompilesTheAbuseLimits) {
  core::Problems p;
  auto c = load(kBase, p);
  ASSERT_TRUE(c.has_value()) << p.to_string();
  EXPECT_EQ(c->abuse_limits.signins_per_minute, 60u);
  EXPECT_EQ(c->abuse_limits.signin_burst, 30u);
  EXPECT_EQ(c->abuse_limits.pending_signins_per_client, 100u);
  EXPECT_EQ(c->abuse_limits.device_code_failures, 10u);
  EXPECT_EQ(c->abuse_limits.device_code_window, std::chrono::minutes(10));
  c = load(std::string(kBase) +
               "limits: {signins_per_minute: 0, signin_burst: 5, pending_signins_per_client: 7, "
               "device_code_failures: 3, device_code_window: 5m, max_clients: 1000}\n",
           p);
  ASSERT_TRUE(c.has_value()) << p.to_string();
  EXPECT_EQ(c->abuse_limits.signins_per_minute, 0u);
  EXPECT_EQ(c->abuse_limits.signin_burst, 5u);
  EXPECT_EQ(c->abuse_limits.pending_signins_per_client, 7u);
  EXPECT_EQ(c->abuse_limits.device_code_failures, 3u);
  EXPECT_EQ(c->abuse_limits.device_code_window, std::chrono::minutes(5));
  EXPECT_EQ(c->abuse_limits.max_clients, 1000u);
  core::Problems bad;
  c = load(std::string(kBase) +
               "limits: {signin_burst: 0, device_code_window: 0s, max_clients: 5, "
               "signins_per_mintue: 10}\n",
           bad);
  EXPECT_FALSE(c.has_value());
  std::string all = bad.to_string();
  for (const char* path : {"limits.signin_burst", "limits.device_code_window", "limits.max_clients",
                           "limits.signins_per_mintue"}) {
    EXPECT_NE(all.find(path), std::string::npos) << path << ": " << all;
  }
}

// pages: show_details off and the default contact unless set; contact as a mapping or one
// string; a contact URL that is neither mailto: nor https:// is a problem at load.
TEST_F(GatewayConfigTest, CompilesThePagesSection) {
  core::Problems p;
  auto c = load(kBase, p);
  ASSERT_TRUE(c.has_value()) << p.to_string();
  EXPECT_FALSE(c->pages.show_details);
  EXPECT_EQ(c->pages.contact_url, "");
  EXPECT_EQ(c->pages.contact_text, "");
  c = load(std::string(kBase) +
               "pages: {show_details: true, contact: {url: 'mailto:ml@example.org', text: the "
               "ML platform team}}\n",
           p);
  ASSERT_TRUE(c.has_value()) << p.to_string();
  EXPECT_TRUE(c->pages.show_details);
  EXPECT_EQ(c->pages.contact_url, "mailto:ml@example.org");
  EXPECT_EQ(c->pages.contact_text, "the ML platform team");
  c = load(std::string(kBase) + "pages: {contact: 'https://help.example.org/ml'}\n", p);
  ASSERT_TRUE(c.has_value()) << p.to_string();
  EXPECT_EQ(c->pages.contact_url, "https://help.example.org/ml");
  c = load(std::string(kBase) + "pages: {contact: '#ml-platform on Slack'}\n", p);
  ASSERT_TRUE(c.has_value()) << p.to_string();
  EXPECT_EQ(c->pages.contact_text, "#ml-platform on Slack");
  core::Problems bad;
  c = load(std::string(kBase) +
               "pages: {show_detail: true, contact: {url: 'http://help.example.org'}}\n",
           bad);
  EXPECT_FALSE(c.has_value());
  std::string all = bad.to_string();
  for (const char* path : {"pages.show_detail", "pages.contact.url"}) {
    EXPECT_NE(all.find(path), std::string::npos) << path << ": " << all;
  }
  core::Problems bad2;
  c = load(std::string(kBase) + "pages: {contact: {url: 'javascript:alert(1)'}}\n", bad2);
  EXPECT_FALSE(c.has_value());
  EXPECT_NE(bad2.to_string().find("pages.contact.url"), std::string::npos) << bad2.to_string();
}

// A config named by a relative path (`serve --config c.yaml`): every path, the jobs state
// directory's default included, is under the config's directory (it once went to /jobs).
TEST_F(GatewayConfigTest, RelativeConfigPathResolvesBesideTheConfig) {
  auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_);
  std::string yaml = std::string(kBase) + "insecure_http: true\n" +
                     "routes: [{prefix: /api/, upstream: 'builtin:jobs'}]\n" +
                     "jobs: {insecure_same_user: true}\n";
  ASSERT_TRUE(core::write_file((dir_ / "c.yaml").string(), yaml).has_value());
  core::Problems p;
  auto memory = load_gateway_config("c.yaml", test_now(), p);
  ASSERT_TRUE(core::write_file((dir_ / "d.yaml").string(),
                               yaml + "store: {kind: sqlite, path: state/s.db}\n")
                  .has_value());
  core::Problems p2;
  auto sqlite = load_gateway_config("./d.yaml", test_now(), p2);
  std::filesystem::current_path(cwd);
  ASSERT_TRUE(memory.has_value()) << p.to_string();
  ASSERT_TRUE(sqlite.has_value()) << p2.to_string();
  std::string dir = std::filesystem::canonical(dir_).string();
  EXPECT_EQ(memory->base_dir, dir);
  EXPECT_EQ(memory->jobs.state_dir, dir + "/jobs");
  EXPECT_EQ(memory->keys_dir, dir + "/keyring");
  EXPECT_EQ(memory->audit.log.path, dir + "/audit/audit.jsonl");
  EXPECT_EQ(sqlite->store_path, dir + "/state/s.db");
  EXPECT_EQ(sqlite->jobs.state_dir, dir + "/state/jobs");
  bool noted = false;
  for (const auto& r : memory->paths)
    noted = noted || (r.path == "jobs.state_dir" && r.resolved == dir + "/jobs");
  EXPECT_TRUE(noted);
}

// Every duration field refuses a bare number, naming the field and suggesting units.
TEST_F(GatewayConfigTest, BareDurationsAreRefused) {
  core::Problems p;
  auto c = load(std::string(kBase) +
                    "insecure_http: true\nsession: {idle: 5}\n"
                    "limits: {header_timeout: 10}\n",
                p);
  EXPECT_FALSE(c.has_value());
  std::string all = p.to_string();
  EXPECT_NE(
      all.find("session.idle: found '5'; a duration needs a unit; write 5s, 5m or 5h (e.g. 5m)"),
      std::string::npos)
      << all;
  EXPECT_NE(all.find("limits.header_timeout: found '10'"), std::string::npos) << all;
}

}  // namespace
// The diagnostics listener: loopback 9464 by default, any IP address:port, or off; a
// non-loopback address is a warning, and one the public port or a route also reaches is a
// problem (it would publish /metrics and /readyz on the public side).
TEST_F(GatewayConfigTest, DiagnosticsListenerIsLoopbackApartAndOptional) {
  core::Problems p;
  auto c = load(kBase, p);
  ASSERT_TRUE(c.has_value()) << p.to_string();
  EXPECT_TRUE(c->diagnostics.enabled);
  EXPECT_TRUE(c->diagnostics.is_default);
  EXPECT_EQ(c->diagnostics.address(), "127.0.0.1:9464");

  for (const char* off : {"''", "off", "\"\""}) {
    core::Problems q;
    auto d = load(std::string(kBase) + "diagnostics: {listen: " + off + "}\n", q);
    ASSERT_TRUE(d.has_value()) << off << q.to_string();
    EXPECT_FALSE(d->diagnostics.enabled) << off;
  }

  core::Problems q;
  auto v6 = load(std::string(kBase) + "diagnostics: {listen: '[::1]:9100'}\n", q);
  ASSERT_TRUE(v6.has_value()) << q.to_string();
  EXPECT_EQ(v6->diagnostics.address(), "[::1]:9100");
  EXPECT_FALSE(v6->diagnostics.is_default);
  EXPECT_TRUE(v6->diagnostics.loopback);
  for (const auto& w : v6->warnings) EXPECT_EQ(w.find("diagnostics"), std::string::npos) << w;

  core::Problems r;
  auto open = load(std::string(kBase) + "diagnostics: {listen: 0.0.0.0:9464}\n", r);
  ASSERT_TRUE(open.has_value()) << r.to_string();
  EXPECT_FALSE(open->diagnostics.loopback);
  bool warned = false;
  for (const auto& w : open->warnings) {
    warned = warned || w.find("diagnostics.listen 0.0.0.0:9464 is not a loopback") == 0;
  }
  EXPECT_TRUE(warned);

  core::Problems bad;
  EXPECT_FALSE(load(std::string(kBase) + "listen: 127.0.0.1:8080\n"
                                         "diagnostics: {listen: localhost:9464, port: 1}\n",
                    bad)
                   .has_value());
  EXPECT_NE(bad.to_string().find("diagnostics.listen: "), std::string::npos) << bad.to_string();
  EXPECT_NE(bad.to_string().find("diagnostics.port"), std::string::npos) << bad.to_string();

  core::Problems same;
  EXPECT_FALSE(load(std::string(kBase) +
                        "listen: 0.0.0.0:9464\n"
                        "routes:\n  - {prefix: /, upstream: 'http://localhost:9464'}\n",
                    same)
                   .has_value());
  std::string all = same.to_string();
  EXPECT_NE(all.find("diagnostics.listen: "), std::string::npos) << all;
  EXPECT_NE(all.find("other than listen's"), std::string::npos) << all;
  EXPECT_NE(all.find("routes[0].upstream: "), std::string::npos) << all;
  EXPECT_NE(all.find("other than the diagnostics listener"), std::string::npos) << all;
}

}  // namespace cg::gateway
