#include "cli/credentials.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "core/clock.h"
#include "core/encoding.h"
#include "core/time.h"
#include "http/client.h"
#include "http/url.h"

namespace cg::cli {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

fs::path config_dir() {
  if (const char* d = std::getenv("CLAIMGATE_CONFIG_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return fs::path(x) / "claimgate";
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : ".") / ".config" / "claimgate";
}

fs::path credentials_path() { return config_dir() / "credentials.json"; }

}  // namespace

int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             core::SystemClock::instance().now().time_since_epoch())
      .count();
}

std::string when(int64_t unix) { return core::format_datetime(core::from_unix_seconds(unix)); }

CredentialsLock::CredentialsLock() {
  std::error_code ec;
  fs::create_directories(config_dir(), ec);
  ::chmod(config_dir().c_str(), 0700);
  fd_ = ::open((config_dir() / "credentials.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ >= 0) ::flock(fd_, LOCK_EX);
}

CredentialsLock::~CredentialsLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the lock
}

json load_credentials() {
  auto text = core::read_file(credentials_path().string(), 1 << 20);
  if (!text) return json{{"version", 1}, {"gateways", json::object()}};
  auto j = json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("gateways") || !j["gateways"].is_object()) {
    return json{{"version", 1}, {"gateways", json::object()}};
  }
  return j;
}

Status save_credentials(const json& j) {
  fs::path dir = config_dir();
  std::error_code ec;
  fs::create_directories(dir, ec);
  ::chmod(dir.c_str(), 0700);
  fs::path tmp = dir / ("credentials.json.tmp-" + std::to_string(::getpid()));
  // Written 0600 from the start, then renamed over: never readable by others, never torn.
  CG_CHECK(core::write_file(tmp.string(), j.dump(2) + "\n", 0600));
  fs::rename(tmp, credentials_path(), ec);
  if (ec) {
    return fail(Error{1, "cli.credentials",
                      "cannot write " + credentials_path().string() + ": " + ec.message()});
  }
  return {};
}

Result<std::string> gateway_url(const std::string& flag, const json& creds) {
  std::string g = flag;
  if (g.empty()) {
    if (const char* e = std::getenv("CLAIMGATE_GATEWAY"); e && *e) g = e;
  }
  if (g.empty() && creds.contains("default") && creds["default"].is_string()) {
    g = creds["default"].get<std::string>();
  }
  if (g.empty()) {
    return fail(Error{2, "usage",
                      "which gateway? give --gateway URL (or set CLAIMGATE_GATEWAY), or run "
                      "claimgate login --gateway URL first"});
  }
  while (g.size() > 1 && g.back() == '/') g.pop_back();
  auto u = http::parse_url(g);
  if (!u || !u->path.empty()) {
    return fail(Error{2, "usage",
                      "--gateway must be the gateway's origin, such as "
                      "https://ml.example.org (got " +
                          g + ")"});
  }
  return u->origin();
}

Result<Reply> call(const Common& c, const std::string& gateway, const std::string& method,
                   const std::string& path, const std::string& body,
                   const std::string& content_type, const std::string& bearer,
                   std::chrono::milliseconds timeout) {
  http::FetchRequest req;
  req.method = method;
  req.url = gateway + path;
  req.body = body;
  req.ca_file = c.ca_file;
  req.timeout = timeout;
  req.headers.emplace_back("Accept", "application/json");
  if (!content_type.empty()) req.headers.emplace_back("Content-Type", content_type);
  if (!bearer.empty()) req.headers.emplace_back("Authorization", "Bearer " + bearer);
  CG_TRY(auto res, http::fetch(req));
  Reply r;
  r.status = res.status;
  r.text = res.body;
  r.body = json::parse(res.body, nullptr, false);
  return r;
}

std::string reply_error(const Reply& r) {
  if (r.body.is_object()) {
    std::string m = r.body.value("error_description", r.body.value("message", ""));
    std::string code = r.body.value("name", r.body.value("error", ""));
    if (!m.empty()) return m + (code.empty() ? "" : " (" + code + ")");
  }
  return "HTTP " + std::to_string(r.status) + ": " + core::clip(r.text, 200);
}

Status store_tokens(const std::string& gateway, const json& t, const std::string& ca_file) {
  json creds = load_credentials();
  json entry = {{"access_token", t.value("access_token", "")},
                {"expires_at", t.value("expires_at", int64_t{0})},
                {"refresh_token", t.value("refresh_token", "")},
                {"refresh_expires_at", t.value("refresh_expires_at", int64_t{0})},
                {"subject", t.value("subject", "")},
                {"token_id", t.value("token_id", "")}};
  if (!ca_file.empty()) entry["ca_file"] = ca_file;
  creds["version"] = 1;
  creds["gateways"][gateway] = entry;
  creds["default"] = gateway;
  return save_credentials(creds);
}

Result<std::string> valid_access_token(Common& c, const std::string& gateway,
                                       const std::string& stale) {
  CredentialsLock lock;
  json creds = load_credentials();
  if (!creds["gateways"].contains(gateway)) {
    return fail(
        Error{1, "cli.not_signed_in",
              "not signed in to " + gateway + "; run claimgate login --gateway " + gateway});
  }
  json entry = creds["gateways"][gateway];
  if (c.ca_file.empty()) c.ca_file = entry.value("ca_file", "");
  std::string current = entry.value("access_token", "");
  // A stale token that another process has replaced since: the new one, unless it is old too.
  bool refused = !stale.empty() && current == stale;
  if (!refused && entry.value("expires_at", int64_t{0}) - now_unix() > 60) return current;
  int64_t refresh_end = entry.value("refresh_expires_at", int64_t{0});
  if (refresh_end <= now_unix()) {
    return fail(Error{
        1, "cli.login_expired",
        "your login to " + gateway + " expired at " + when(refresh_end) + "; run claimgate login"});
  }
  std::string form = "grant_type=refresh_token&refresh_token=" +
                     core::url_encode(entry.value("refresh_token", ""));
  CG_TRY(Reply r, call(c, gateway, "POST", "/.claimgate/cli/token", form,
                       "application/x-www-form-urlencoded"));
  if (r.status != 200 || !r.body.is_object()) {
    return fail(
        Error{1, "cli.refresh", "the gateway refused to refresh your login: " + reply_error(r)});
  }
  CG_CHECK(store_tokens(gateway, r.body, c.ca_file));
  return r.body.value("access_token", "");
}

Result<Reply> authed(Common& c, const std::string& method, const std::string& path,
                     const std::string& body, const std::string& content_type,
                     std::chrono::milliseconds timeout) {
  json creds = load_credentials();
  CG_TRY(std::string gateway, gateway_url(c.gateway, creds));
  CG_TRY(std::string token, valid_access_token(c, gateway));
  CG_TRY(Reply r, call(c, gateway, method, path, body, content_type, token, timeout));
  if (r.status != 401) return r;
  // Refused: revoked, or expired by the gateway's clock rather than ours. Refresh once.
  CG_TRY(std::string fresh, valid_access_token(c, gateway, token));
  if (fresh == token) return r;
  return call(c, gateway, method, path, body, content_type, fresh, timeout);
}

std::string signed_in_subject(Common& c) {
  json creds = load_credentials();
  auto gateway = gateway_url(c.gateway, creds);
  if (!gateway || !creds["gateways"].contains(*gateway)) return "";
  return creds["gateways"][*gateway].value("subject", "");
}

int fail_with(const Error& e) {
  std::cerr << "claimgate: " << e.message << "\n";
  return e.code == 2 ? 2 : 1;
}

}  // namespace cg::cli
