#include "cli/token_commands.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "cli/credentials.h"
#include "core/clock.h"
#include "core/encoding.h"
#include "core/random.h"
#include "core/time.h"
#include "crypto/keys.h"
#include "http/asio.h"
#include "http/client.h"
#include "http/url.h"

extern char** environ;

namespace cg::cli {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// ---- The loopback listener `claimgate login` receives the code on

struct Callback {
  std::string code;
  std::string error;
};

constexpr const char* kDonePage =
    "<!doctype html><meta charset=utf-8><title>claimgate</title><body style=\"font:16px "
    "system-ui;margin:40px\"><h1>Signed in</h1><p>claimgate login has your sign-in. You can "
    "close this tab and go back to the terminal.</p>";

Result<Callback> wait_for_callback(http::tcp::acceptor& acceptor, http::asio::io_context& ioc,
                                   const std::string& state, std::chrono::seconds timeout) {
  namespace asio = http::asio;
  namespace bhttp = http::bhttp;
  Callback out;
  bool done = false;
  auto serve = [&]() -> asio::awaitable<void> {
    while (!done) {
      http::error_code ec;
      auto socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      http::beast::tcp_stream stream(std::move(socket));
      stream.expires_after(10s);
      http::beast::flat_buffer buf;
      bhttp::request<bhttp::string_body> req;
      co_await bhttp::async_read(stream, buf, req, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) continue;
      std::string target(req.target());
      bhttp::response<bhttp::string_body> res{bhttp::status::not_found, 11};
      res.set(bhttp::field::content_type, "text/html; charset=utf-8");
      res.set(bhttp::field::cache_control, "no-store");
      res.body() = "<!doctype html><title>claimgate</title><p>Not found.</p>";
      if (http::target_path(target) == "/callback") {
        auto params = core::parse_query(http::target_query(target));
        std::string code, got_state, error;
        if (params) {
          for (const auto& p : *params) {
            if (p.name == "code") code = p.value;
            if (p.name == "state") got_state = p.value;
            if (p.name == "error") error = p.value;
          }
        }
        if (!crypto::constant_time_equals(got_state, state)) {
          // Not our sign-in (another tab, or something else on this machine): ignored.
          res.result(bhttp::status::bad_request);
          res.body() =
              "<!doctype html><title>claimgate</title><p>This sign-in does not "
              "belong to the waiting claimgate login.</p>";
        } else {
          out.code = code;
          out.error = error;
          done = true;
          res.result(bhttp::status::ok);
          res.body() = kDonePage;
        }
      }
      res.prepare_payload();
      co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      stream.socket().shutdown(http::tcp::socket::shutdown_both, ec);
    }
  };
  asio::co_spawn(ioc, serve(), asio::detached);
  ioc.run_for(timeout);
  if (!done) {
    return fail(Error{1, "cli.login_timeout",
                      "no sign-in arrived within " + std::to_string(timeout.count()) +
                          " seconds; run claimgate login again"});
  }
  if (!out.error.empty())
    return fail(Error{1, "cli.login_refused", "sign-in failed: " + out.error});
  return out;
}

void open_browser(const std::string& url) {
  // xdg-open when there is one (a desktop); quietly nothing otherwise: the URL is printed.
  pid_t pid;
  std::string u = url;
  char arg0[] = "xdg-open";
  char* argv[] = {arg0, u.data(), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  if (posix_spawnp(&pid, "xdg-open", &fa, nullptr, argv, environ) == 0) {
    int st;
    ::waitpid(pid, &st, WNOHANG);
  }
  posix_spawn_file_actions_destroy(&fa);
}

std::string hostname() {
  char h[256] = {};
  ::gethostname(h, sizeof h - 1);
  return h;
}

// ---- Commands

struct LoginOptions {
  bool device = false;
  bool no_browser = false;
  int timeout_s = 300;
};

int login_loopback(Common& c, const std::string& gateway, const LoginOptions& o) {
  namespace asio = http::asio;
  auto& random = core::SystemRandom::instance();
  std::string state = core::base64url_encode(random.bytes(24));
  std::string verifier = core::base64url_encode(random.bytes(48));
  auto h = crypto::sha256(verifier);
  std::string challenge = core::base64url_encode(std::span<const uint8_t>(h.data(), h.size()));
  asio::io_context ioc;
  http::tcp::acceptor acceptor(ioc);
  http::error_code ec;
  http::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(16, ec);
  if (ec) {
    std::cerr << "claimgate: cannot listen on 127.0.0.1 for the sign-in (" << ec.message()
              << "); use claimgate login --device\n";
    return 1;
  }
  std::string redirect =
      "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/callback";
  std::string url = gateway +
                    "/.claimgate/cli/authorize?redirect_uri=" + core::url_encode(redirect) +
                    "&state=" + core::url_encode(state) + "&code_challenge=" + challenge +
                    "&code_challenge_method=S256&client=" + core::url_encode(hostname());
  if (!o.no_browser) {
    std::cerr << "Opening the sign-in page in your browser. If it does not open, visit:\n";
    open_browser(url);
  } else {
    std::cerr << "To sign in, open this address in a browser on this machine:\n";
  }
  std::cerr << "  " << url << "\n" << std::flush;
  auto cb = wait_for_callback(acceptor, ioc, state, std::chrono::seconds(o.timeout_s));
  if (!cb) return fail_with(cb.error());
  std::string form = "grant_type=authorization_code&code=" + core::url_encode(cb->code) +
                     "&code_verifier=" + verifier + "&redirect_uri=" + core::url_encode(redirect);
  auto r =
      call(c, gateway, "POST", "/.claimgate/cli/token", form, "application/x-www-form-urlencoded");
  if (!r) return fail_with(r.error());
  if (r->status != 200) {
    std::cerr << "claimgate: sign-in refused: " << reply_error(*r) << "\n";
    return 1;
  }
  {
    CredentialsLock lock;
    if (auto st = store_tokens(gateway, r->body, c.ca_file); !st) return fail_with(st.error());
  }
  std::cerr << "Signed in to " << gateway << " as " << r->body.value("subject", "")
            << "; the login lasts until " << when(r->body.value("refresh_expires_at", int64_t{0}))
            << ".\n";
  return 0;
}

int login_device(Common& c, const std::string& gateway, const LoginOptions& o) {
  auto r = call(c, gateway, "POST", "/.claimgate/cli/device",
                "client=" + core::url_encode(hostname()), "application/x-www-form-urlencoded");
  if (!r) return fail_with(r.error());
  if (r->status != 200 || !r->body.is_object()) {
    std::cerr << "claimgate: the gateway refused a device sign-in: " << reply_error(*r) << "\n";
    return 1;
  }
  std::string device_code = r->body.value("device_code", "");
  int interval = r->body.value("interval", 5);
  int64_t end = now_unix() + std::min<int64_t>(r->body.value("expires_in", 600), o.timeout_s);
  std::cerr << "To sign in, open " << r->body.value("verification_uri", "")
            << " in a browser (any device) and enter the code:\n\n    "
            << r->body.value("user_code", "") << "\n\nor open "
            << r->body.value("verification_uri_complete", "") << "\n"
            << std::flush;
  while (now_unix() < end) {
    std::this_thread::sleep_for(std::chrono::seconds(interval));
    auto p = call(c, gateway, "POST", "/.claimgate/cli/token",
                  "grant_type=" + core::url_encode("urn:ietf:params:oauth:grant-type:device_code") +
                      "&device_code=" + core::url_encode(device_code),
                  "application/x-www-form-urlencoded");
    if (!p) return fail_with(p.error());
    if (p->status == 200) {
      CredentialsLock lock;
      if (auto st = store_tokens(gateway, p->body, c.ca_file); !st) return fail_with(st.error());
      std::cerr << "Signed in to " << gateway << " as " << p->body.value("subject", "")
                << "; the login lasts until "
                << when(p->body.value("refresh_expires_at", int64_t{0})) << ".\n";
      return 0;
    }
    std::string err = p->body.is_object() ? p->body.value("error", "") : "";
    if (err == "authorization_pending") continue;
    if (err == "slow_down") {
      interval += 5;
      continue;
    }
    std::cerr << "claimgate: device sign-in failed: " << reply_error(*p) << "\n";
    return 1;
  }
  std::cerr << "claimgate: the code was not entered in time; run claimgate login --device "
               "again\n";
  return 1;
}

// A signed-in call expecting `status` and a JSON object: the reply, or nullopt after saying
// why (exit_code 1; 2 for a usage error).
std::optional<Reply> expect_reply(Common& c, unsigned status, const std::string& method,
                                  const std::string& path, int& exit_code,
                                  const std::string& body = "",
                                  const std::string& content_type = "") {
  auto r = authed(c, method, path, body, content_type);
  if (!r) {
    exit_code = fail_with(r.error());
    return std::nullopt;
  }
  if (r->status != status || !r->body.is_object()) {
    std::cerr << "claimgate: " << reply_error(*r) << "\n";
    exit_code = 1;
    return std::nullopt;
  }
  exit_code = 0;
  return std::move(*r);
}

}  // namespace

void add_token_commands(CLI::App& app, int& exit_code) {
  auto common = std::make_shared<Common>();
  auto add_common = [common](CLI::App* cmd) {
    cmd->add_option("--gateway", common->gateway,
                    "The gateway's URL (default: $CLAIMGATE_GATEWAY, or the last signed in to)");
    cmd->add_option("--ca-file", common->ca_file, "CA certificates for the gateway's TLS (PEM)");
  };

  // login
  auto lo = std::make_shared<LoginOptions>();
  auto* login = app.add_subcommand(
      "login", "Sign this terminal in through the gateway's SAML sign-in (in a browser)");
  add_common(login);
  login->add_flag("--device", lo->device,
                  "No browser here: show a code to enter on the gateway's page from any device");
  login->add_flag("--no-browser", lo->no_browser, "Print the sign-in address; open nothing");
  login->add_option("--timeout", lo->timeout_s, "Seconds to wait for the sign-in (default 300)");
  login->callback([common, lo, &exit_code] {
    json creds = load_credentials();
    auto gw = gateway_url(common->gateway, creds);
    if (!gw) {
      exit_code = fail_with(gw.error());
      return;
    }
    exit_code = lo->device ? login_device(*common, *gw, *lo) : login_loopback(*common, *gw, *lo);
  });

  // logout
  auto* logout = app.add_subcommand("logout",
                                    "End this terminal's login (its refresh token "
                                    "is revoked) and forget its tokens");
  add_common(logout);
  logout->callback([common, &exit_code] {
    CredentialsLock lock;
    json creds = load_credentials();
    auto gw = gateway_url(common->gateway, creds);
    if (!gw) {
      exit_code = fail_with(gw.error());
      return;
    }
    if (!creds["gateways"].contains(*gw)) {
      std::cerr << "Not signed in to " << *gw << ".\n";
      exit_code = 0;
      return;
    }
    json entry = creds["gateways"][*gw];
    if (common->ca_file.empty()) common->ca_file = entry.value("ca_file", "");
    auto r = call(*common, *gw, "POST", "/.claimgate/cli/revoke",
                  "token=" + core::url_encode(entry.value("refresh_token", "")),
                  "application/x-www-form-urlencoded");
    creds["gateways"].erase(*gw);
    if (creds.value("default", "") == *gw) creds.erase("default");
    if (auto st = save_credentials(creds); !st) {
      exit_code = fail_with(st.error());
      return;
    }
    if (!r || r->status != 200) {
      std::cerr << "claimgate: tokens forgotten here, but the gateway did not confirm the "
                   "revocation ("
                << (r ? reply_error(*r) : r.error().message) << ")\n";
      exit_code = 1;
      return;
    }
    std::cerr << "Signed out of " << *gw << ".\n";
    exit_code = 0;
  });

  // token, token create | list | revoke
  auto* token = app.add_subcommand(
      "token",
      "Print a valid access token (refreshed when needed): curl -H \"Authorization: "
      "Bearer $(claimgate token)\"");
  add_common(token);
  token->callback([common, token, &exit_code] {
    if (!token->get_subcommands().empty()) return;
    json creds = load_credentials();
    auto gw = gateway_url(common->gateway, creds);
    if (!gw) {
      exit_code = fail_with(gw.error());
      return;
    }
    auto t = valid_access_token(*common, *gw);
    if (!t) {
      exit_code = fail_with(t.error());
      return;
    }
    std::cout << *t << "\n";
    exit_code = 0;
  });

  struct CreateOptions {
    std::string agent, scope, project, ttl = "1h";
  };
  auto co = std::make_shared<CreateOptions>();
  auto* create = token->add_subcommand(
      "create", "Issue an agent token: it acts for you with only the listed permissions");
  add_common(create);
  create->add_option("--agent", co->agent, "The agent's name (shown in the audit log)")->required();
  create->add_option("--scope", co->scope, "Permissions, comma-separated (jobs:read,logs:read)")
      ->required();
  create->add_option("--project", co->project, "The one project it may act in");
  create->add_option("--ttl", co->ttl, "Lifetime (default 1h; at most tokens.agent_max_ttl)");
  create->add_flag("--json", common->as_json, "The whole answer as JSON");
  create->callback([common, co, &exit_code] {
    json body = {{"agent", co->agent}, {"scope", co->scope}, {"ttl", co->ttl}};
    if (!co->project.empty()) body["project"] = co->project;
    auto r = expect_reply(*common, 201, "POST", "/.claimgate/tokens", exit_code, body.dump(),
                          "application/json");
    if (!r) return;
    if (common->as_json) {
      std::cout << r->body.dump(2) << "\n";
    } else {
      std::cerr << "Agent token " << r->body.value("id", "") << " for '" << co->agent << "' ("
                << co->scope << (co->project.empty() ? " in any project" : " in " + co->project)
                << "), valid until " << r->body.value("expires", "") << ":\n";
      std::cout << r->body.value("token", "") << "\n";
    }
    exit_code = 0;
  });

  auto* list = token->add_subcommand("list", "Your terminal logins and agent tokens");
  add_common(list);
  list->add_flag("--json", common->as_json, "As JSON");
  list->callback([common, &exit_code] {
    auto r = expect_reply(*common, 200, "GET", "/.claimgate/tokens", exit_code);
    if (!r) return;
    if (common->as_json) {
      std::cout << r->body.dump(2) << "\n";
    } else {
      std::printf("%-32s  %-7s  %-20s  %-34s  %s\n", "ID", "KIND", "AGENT", "SCOPE", "EXPIRES");
      for (const auto& t : r->body["tokens"]) {
        std::string scope = "-";
        if (t.value("kind", "") == "agent") {
          scope.clear();
          for (const auto& p : t["scope"])
            scope += (scope.empty() ? "" : ",") + p.get<std::string>();
          if (!t.value("project", "").empty()) scope += "@" + t.value("project", "");
        }
        std::printf("%-32s  %-7s  %-20s  %-34s  %s%s\n", t.value("id", "").c_str(),
                    t.value("kind", "").c_str(), t.value("agent", "-").c_str(), scope.c_str(),
                    t.value("expires", "").c_str(), t.value("current", false) ? "  (this)" : "");
      }
    }
    exit_code = 0;
  });

  auto revoke_id = std::make_shared<std::string>();
  auto* revoke = token->add_subcommand("revoke", "Revoke one of your tokens (its id)");
  add_common(revoke);
  revoke->add_option("id", *revoke_id, "The token's id (claimgate token list)")->required();
  revoke->callback([common, revoke_id, &exit_code] {
    auto r = expect_reply(*common, 200, "DELETE", "/.claimgate/tokens/" + *revoke_id, exit_code);
    if (!r) return;
    std::cerr << "Revoked " << *revoke_id << ".\n";
    exit_code = 0;
  });

  // whoami
  auto* whoami = app.add_subcommand("whoami", "Who the gateway says you are (JSON)");
  add_common(whoami);
  whoami->callback([common, &exit_code] {
    auto r = expect_reply(*common, 200, "GET", "/.claimgate/whoami", exit_code);
    if (!r) return;
    std::cout << r->body.dump(2) << "\n";
    exit_code = 0;
  });

  // admin revoke
  auto* admin = app.add_subcommand("admin", "Administration through the gateway");
  admin->require_subcommand(1);
  struct RevokeOptions {
    std::string subject, reason;
  };
  auto ro = std::make_shared<RevokeOptions>();
  auto* arevoke = admin->add_subcommand(
      "revoke", "End a person's sessions, terminal logins and agent tokens (sessions:revoke)");
  add_common(arevoke);
  arevoke->add_option("--subject", ro->subject, "The person (their NameID)")->required();
  arevoke->add_option("--reason", ro->reason, "Why (kept in the audit log)");
  arevoke->callback([common, ro, &exit_code] {
    json body = {{"subject", ro->subject}, {"reason", ro->reason}};
    auto r = expect_reply(*common, 200, "POST", "/.claimgate/admin/revoke", exit_code, body.dump(),
                          "application/json");
    if (!r) return;
    std::cout << "Revoked " << ro->subject << ": " << r->body.value("sessions_ended", 0)
              << " session(s) ended, " << r->body["tokens_revoked"].size()
              << " token(s) revoked.\n";
    exit_code = 0;
  });
}

}  // namespace cg::cli
