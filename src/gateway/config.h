// The gateway's YAML config, compiled into immutable settings (hot paths never touch YAML).
// Every field, with its default (docs/configuration.md has the same with examples):
//
//   listen: 127.0.0.1:8080            # address:port to listen on (IPv6: [::1]:8080)
//   public_url: https://ml.example.org   # what browsers and the IdP see (required)
//   threads: 0                        # worker threads; 0: one per core
//   log:
//     level: info                     # debug | info | warn | error (older: log_level: info)
//     format: text                    # text (key=value lines) | json (one object a line)
//   diagnostics:                      # the operators' listener: /metrics and /readyz only
//     listen: 127.0.0.1:9464          # an IP address:port (0: any free port, logged); "" or
//                                     # off: no listener. A non-loopback address is warned
//                                     # about (anyone who reaches it reads the metrics)
//   insecure_http: false              # allow an http:// public_url (development only:
//                                     # cookies lose Secure; see docs/configuration.md)
//   tls: {cert: tls.crt, key: tls.key}   # optional: serve HTTPS (PEM chain and key)
//   saml: ...                         # see saml/config.h (sp, idps, clock_skew, ...)
//   keys: keyring/                    # the keyring directory (crypto/keyring.h); created
//                                     # with a first key pair when missing
//   session:
//     ttl: 8h                         # absolute lifetime (capped by SessionNotOnOrAfter)
//     idle: 1h                        # ends after this long unused
//     touch_interval: 60s             # how often use is written to the store
//     cookie: {name: cg_session, domain: "", path: /}
//   store: {kind: memory}             # memory | sqlite (then path: state.db)
//   identity:
//     header_prefix: X-Claimgate-     # identity headers to upstreams; client copies stripped
//     forwarded_user_headers: true    # also X-Forwarded-User/-Email/-Groups/-Preferred-Username
//     jwt_ttl: 5m                     # X-Claimgate-Assertion lifetime (at most 5m)
//     issuer: <public_url>            # the JWT's iss
//   limits:
//     header_bytes: 16KiB             # request line + headers; more: 431
//     body_bytes: 1MiB                # bodies the gateway reads itself (/saml/acs); more: 413
//     header_timeout: 10s             # a slow client's header; then 408
//     body_timeout: 60s               # no body bytes for this long: the request ends
//     idle_timeout: 60s               # keep-alive
//     shutdown_grace: 10s             # SIGTERM: in-flight requests get this long
//     # Abuse limits per client address (IPv6: per /64), 0 turns one off (gateway/rate_limit.h):
//     signins_per_minute: 60          # sign-ins /saml/login may start (each stores a pending
//     signin_burst: 30                # sign-in), sustained and at once; more: 429
//     pending_signins_per_client: 100 # started and not back at /saml/acs; more: 429
//     device_code_failures: 10        # wrong codes at /.claimgate/device, per session and per
//     device_code_window: 10m         # client, in this long; more: 429
//     max_clients: 100000             # addresses (sessions) each limit remembers
//   upstream:
//     connect_timeout: 5s
//     response_timeout: 60s           # request sent -> response header; then 504
//     idle_timeout: 300s              # no bytes either way mid-body
//     websocket_check: 5s             # how often a tunnel re-checks its session
//   forward_auth:                     # /auth: which front proxy asks (gateway/forward_auth.h)
//     from: nginx                     # nginx | traefik | envoy | headers; only the headers
//                                     # that proxy sets are read, a missing one is a 400
//     method_header: ""               # from: headers: the names of the three headers
//     uri_header: ""
//     host_header: ""
//     path_prefix: /auth              # from: envoy: ext_authz's path_prefix
//   pages:                            # how refusals speak to people (gateway/refusals.h)
//     show_details: false             # true: every refusal page shows the operator's detail
//                                     # (config keys, attributes that arrived); otherwise only
//                                     # administrators (audit:read in every project) see it
//     contact:                        # who a refused person should ask; one string is a
//                                     # url when it starts mailto: or https://, else the text
//       url: ""                       # mailto:ml-platform@example.org or https://help.example.org
//       text: ""                      # "the ML platform team (#ml-platform)"; default: "your
//                                     # IT help desk or the team that runs this service"
//   routes:                           # matched by host (when set), then longest prefix
//     - name: app                     # default: the prefix; the JWT's aud
//       host: ml.example.org          # optional: only requests for this Host
//       prefix: /                     # path prefix, matched by whole segments ("/app"
//                                     # serves /app and /app/..., never /appadmin)
//       upstream: http://127.0.0.1:9000   # base URL (a path is prepended); omit for a
//                                     # route used only by forward-auth (/auth)
//       strip_prefix: false           # remove the prefix before adding the upstream's path
//       websocket: false              # allow WebSocket upgrades
//       pass_authorization: false     # pass the client's Authorization header upstream
//       public: false                 # no sign-in needed
//       allow_groups: []              # non-empty: one of these groups is needed
//       group_claim: groups           # where the groups are (claim name or alias)
//   # The access policy (policy/policy.h, docs/policy.md): either these sections here ...
//   permissions: [...]                # added to the built-in permissions
//   roles: {...}                      # role templates, edited or added
//   aliases: {claims: {...}, values: {...}}
//   bindings: [...]                   # claims -> roles in projects
//   rules: [...]                      # method + path -> permission; present: deny by default
//   case_insensitive_paths: false
//   # ... or in a file of their own (reloaded on SIGHUP and when it changes):
//   policy_file: policy.yaml
//   audit: ...                        # see audit/config.h (path, on_failure, also, ...)
//   tokens:                           # the CLI, notebooks and agents (docs/tokens.md)
//     enabled: true                   # false: /.claimgate/cli/* and Bearer tokens refused
//     access_ttl: 15m                 # access tokens (JWT), 10s to 1h
//     refresh_lifetime: 30d           # a login's refresh tokens end this long after it
//     agent_max_ttl: 7d               # the longest agent token
//     device_code_ttl: 10m            # `claimgate login --device`: time to enter the code
//     device_poll_interval: 5s        # how often the CLI may ask whether it was entered
//   jobs:                             # the jobs service (docs/jobs.md); on when a route has
//                                     # upstream: builtin:jobs
//     executor: local                 # local (child processes) | slurm (sbatch + srun)
//     state_dir: jobs/                # job directories and jobs.db (default: beside the
//                                     # store's file, or the config)
//     token_ttl: 15m                  # job tokens; renewed by the nodes while the job runs
//     cancel_grace: 10s               # SIGTERM, then SIGKILL this much later
//     check_interval: 30s             # how often nodes ask whether the token was revoked
//     poll_interval: 500ms            # how often the service looks at running jobs
//     gateway_url: <public_url>       # where nodes reach the gateway
//     ca_file: ""                     # for the nodes: the CA of the gateway's certificate
//     when_unreachable: closed        # nodes that cannot check revocation: closed | open
//     claimgate_binary: <claimgate-exec beside this binary, else this binary>  # on the nodes
//     pass_env: [PATH, HOME, ...]     # the service's variables a local job inherits
//     run_as: claimgate-job           # the unprivileged Unix account jobs run as (required,
//                                     # unless run_as_map covers everyone or the switch below);
//                                     # never root or the gateway's own user. Switching needs
//                                     # root or CAP_SETUID, CAP_SETGID and CAP_CHOWN
//     run_as_map: {}                  # subject -> that person's own account, e.g.
//                                     # {alice@example.org: alice}; others run as run_as
//     insecure_same_user: false       # DEVELOPMENT ONLY: jobs run as the gateway's own user
//                                     # and can read its keyring, state and audit log; warned
//                                     # about at every start and by `claimgate check`
//     sandbox: auto                   # local jobs: auto (bubblewrap when it works, else said
//                                     # at start) | bwrap (required) | none
//     bwrap: /usr/bin/bwrap           # the bubblewrap binary
//     max_nodes: 16                   # what one job may ask for
//     max_procs_per_node: 64
//     max_gpus: 16                    # per node
//     max_runtime: 7d
//     default_runtime: 24h
//     pools: [default]                # node pools (a job token's audience)
//     default_pool: default
//     slurm: {partition: "", bin_dir: /usr/bin, extra_args: []}
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "audit/config.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "gateway/forward_auth.h"
#include "gateway/rate_limit.h"
#include "gateway/refusals.h"
#include "http/proxy.h"
#include "http/server.h"
#include "http/url.h"
#include "jobs/job.h"
#include "policy/policy.h"
#include "saml/config.h"
#include "session/redis_store.h"

namespace cg::gateway {

struct RouteConfig {
  std::string name;
  std::string host;
  std::string prefix = "/";
  std::optional<http::Url> upstream;
  std::string builtin;  // "jobs": the jobs service inside the gateway (upstream: builtin:jobs)
  bool strip_prefix = false;
  bool websocket = false;
  bool pass_authorization = false;
  bool public_route = false;
  std::vector<std::string> allow_groups;
  std::string group_claim = "groups";
};

struct CookieConfig {
  std::string name = "cg_session";
  std::string domain;
  std::string path = "/";
};

struct TokensConfig {
  bool enabled = true;
  std::chrono::seconds access_ttl{900};
  std::chrono::seconds refresh_lifetime{30 * 86400};
  std::chrono::seconds agent_max_ttl{7 * 86400};
  std::chrono::seconds device_code_ttl{600};
  std::chrono::seconds device_poll_interval{5};
};

struct SlurmConfig {
  std::string partition;
  std::string bin_dir = "/usr/bin";     // sbatch, squeue, sacct, scancel
  std::vector<std::string> extra_args;  // passed to sbatch
};

struct JobsConfig {
  bool enabled = false;  // default: a route has upstream builtin:jobs
  std::string executor = "local";
  std::string state_dir;  // default: beside the store's file (or the config), "jobs/"
  std::chrono::seconds token_ttl{900};
  std::chrono::seconds cancel_grace{10};
  std::chrono::seconds check_interval{30};
  std::chrono::milliseconds poll_interval{500};
  std::string gateway_url;  // default: public_url
  std::string ca_file;
  std::string when_unreachable = "closed";
  std::string claimgate_binary;  // default: this binary
  // This jobs service's name in the records of the jobs it starts (their owner), which must
  // stay the same across restarts and differ between services sharing a Redis store.
  // Default: "<host name>:<state_dir>".
  std::string instance;
  std::vector<std::string> pass_env{"PATH",
                                    "HOME",
                                    "USER",
                                    "LOGNAME",
                                    "LANG",
                                    "LC_ALL",
                                    "TZ",
                                    "TMPDIR",
                                    "PYTHONPATH",
                                    "ASAN_OPTIONS",
                                    "UBSAN_OPTIONS",
                                    "LSAN_OPTIONS",
                                    "CUDA_VISIBLE_DEVICES"};
  jobs::SpecLimits limits;
  SlurmConfig slurm;
  // Who jobs run as (docs/jobs.md, "Isolation"): checked at start (jobs/run_as.h).
  std::string run_as;
  std::map<std::string, std::string> run_as_map;  // subject -> Unix account
  bool insecure_same_user = false;                // development only: the gateway's own user
  std::string sandbox = "auto";                   // auto | bwrap | none
  std::string bwrap = "/usr/bin/bwrap";
};

// Scheduled keyring rotation (`claimgate keys schedule`, run daily): a new pair is staged
// when the current one is `every - overlap` old, promoted `overlap` later, and an old pair is
// removed `retire_after` after it stopped being current.
struct KeyRotation {
  std::chrono::seconds every{90 * 86400};
  std::chrono::seconds overlap{7 * 86400};
  std::chrono::seconds retire_after{0};      // default: min_retire_after
  std::chrono::seconds min_retire_after{0};  // what the lifetimes in the config need
};

// The diagnostics listener (/metrics, /readyz), apart from the public port: what monitoring
// reads stays off the port browsers and front proxies reach.
struct DiagnosticsConfig {
  bool enabled = true;
  std::string host = "127.0.0.1";
  uint16_t port = 9464;
  // diagnostics.listen was not set: the default port being taken (another gateway on this
  // machine) is a warning at start, not a refusal to serve.
  bool is_default = true;
  bool loopback = true;
  std::string address() const;  // "127.0.0.1:9464", "[::1]:9464"
};

struct GatewayConfig {
  std::string config_path;
  std::string base_dir;  // absolute: the config file's directory (core::config_dir)
  // Every path setting as resolved against base_dir, in the order read (`check` prints them).
  std::vector<core::Problems::ResolvedPath> paths;
  http::ServerOptions server;
  DiagnosticsConfig diagnostics;
  http::Url public_url;
  bool insecure_http = false;
  core::LogLevel log_level = core::LogLevel::kInfo;
  core::LogFormat log_format = core::LogFormat::kText;
  saml::SamlConfig saml;
  std::string keys_dir;
  std::chrono::seconds session_ttl{8 * 3600};
  std::chrono::seconds session_idle{3600};
  std::chrono::seconds touch_interval{60};
  // Certificates (SP, IdP, TLS) closer than this to their end are warned about: log, audit,
  // `claimgate check` (metrics show every certificate's days left).
  std::chrono::seconds cert_warning{30 * 86400};
  KeyRotation key_rotation;
  CookieConfig cookie;
  std::string store_kind = "memory";  // memory, sqlite or redis
  std::string store_path;             // sqlite
  session::RedisStoreOptions redis;   // redis (password read from password_file or the env)
  std::string header_prefix = "X-Claimgate-";
  bool forwarded_user_headers = true;
  std::chrono::seconds jwt_ttl{300};
  std::string jwt_issuer;
  size_t body_limit = 1 << 20;
  http::ProxyTimeouts upstream_timeouts;
  std::chrono::milliseconds websocket_check{5000};
  std::vector<RouteConfig> routes;
  std::shared_ptr<const policy::Policy> policy;  // null: no policy sections
  std::string policy_file;  // the file holding the policy (this config, or its policy_file)
  audit::AuditConfig audit;
  TokensConfig tokens;
  JobsConfig jobs;
  ForwardAuthConfig forward_auth;
  AbuseLimitsConfig abuse_limits;     // limits: signins_per_minute, ... (rate_limit.h)
  PagesConfig pages;                  // pages: show_details, contact (refusals.h)
  std::vector<std::string> warnings;  // not problems, but worth an operator's attention

  bool secure_cookies() const { return public_url.https(); }
};

// Loads and checks the whole file; every problem goes to `problems` (all at once).
std::optional<GatewayConfig> load_gateway_config(const std::string& path, core::WallTime now,
                                                 core::Problems& problems);

// Policy rules no route of this config sends requests to (warnings for `claimgate check`).
std::vector<std::string> unreachable_rules(const policy::Policy& policy,
                                           const std::vector<RouteConfig>& routes);

// Public rules under a route whose service acts for a signed-in person (builtin:jobs): each
// is a config problem (its YAML path, what was found). A handler of such a route cannot run
// without an identity; this keeps a config from promising otherwise (`check`, start, reload).
std::vector<std::pair<std::string, std::string>> public_rules_on_identity_routes(
    const policy::Policy& policy, const std::vector<RouteConfig>& routes);

// A metadata document fetched from an IdP's metadata_url, checked as at start (shape,
// signature against metadata_signing_cert, validUntil, certificate dates) and, when
// `entity_id` is given, describing that entity (a document for another IdP is refused).
struct FetchedMetadata {
  std::string document;
  saml::IdpMetadata metadata;
};
Result<FetchedMetadata> fetch_idp_metadata(const saml::IdpConfig& idp, core::WallTime now,
                                           std::string_view entity_id);

}  // namespace cg::gateway
