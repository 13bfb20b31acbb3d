// The terminal's login, shared by the commands that call the gateway as the signed-in person
// (`claimgate login | token | whoami | admin`, `claimgate jobs submit | list | ...`): the
// credentials file (~/.config/claimgate/credentials.json, mode 0600, one entry per gateway;
// python/claimgate reads and refreshes the same file), the gateway a command talks to, and
// signed-in calls that refresh the access token when it is about to expire or a 401 says it is
// no longer good.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "core/result.h"

namespace cg::cli {

// The options every signed-in command takes.
struct Common {
  std::string gateway;  // --gateway ("" : $CLAIMGATE_GATEWAY, or the last signed in to)
  std::string ca_file;  // --ca-file ("" : the login's, or the system store)
  bool as_json = false;
};

// An HTTP answer: its status, its body as JSON (discarded when it is not JSON) and as text.
struct Reply {
  unsigned status = 0;
  nlohmann::json body;
  std::string text;
};

int64_t now_unix();
// A Unix time as RFC 3339 UTC.
std::string when(int64_t unix);

// An exclusive lock on credentials.lock for a read-refresh-write (another `claimgate`, or a
// notebook's helper, may be refreshing the same login: a refresh token is spent once).
class CredentialsLock {
 public:
  CredentialsLock();
  ~CredentialsLock();
  CredentialsLock(const CredentialsLock&) = delete;
  CredentialsLock& operator=(const CredentialsLock&) = delete;

 private:
  int fd_ = -1;
};

nlohmann::json load_credentials();
Status save_credentials(const nlohmann::json& j);
// Stores the token endpoint's answer `t` as the login for `gateway` (and makes it the default).
// Call under a CredentialsLock.
Status store_tokens(const std::string& gateway, const nlohmann::json& t,
                    const std::string& ca_file);

// The gateway a command talks to: --gateway, $CLAIMGATE_GATEWAY, or the last one signed in to.
Result<std::string> gateway_url(const std::string& flag, const nlohmann::json& creds);

// One request to `gateway` + `path` (Accept: application/json).
Result<Reply> call(const Common& c, const std::string& gateway, const std::string& method,
                   const std::string& path, const std::string& body,
                   const std::string& content_type, const std::string& bearer = "",
                   std::chrono::milliseconds timeout = std::chrono::seconds(15));

// The gateway's sentence for an error answer (message or error_description, and its name).
std::string reply_error(const Reply& r);

// A valid access token for `gateway`, refreshed (and the file rewritten) when it has less than
// a minute left, or when it is `stale` (the one a 401 just refused) and no other process has
// refreshed it since.
Result<std::string> valid_access_token(Common& c, const std::string& gateway,
                                       const std::string& stale = "");

// A request as the signed-in person; a 401 refreshes the login once and tries again.
Result<Reply> authed(Common& c, const std::string& method, const std::string& path,
                     const std::string& body = "", const std::string& content_type = "",
                     std::chrono::milliseconds timeout = std::chrono::seconds(15));

// The signed-in person's subject (as the login stored it), or "".
std::string signed_in_subject(Common& c);

// Prints "claimgate: <message>" to stderr; the exit code: 2 for a usage error, else 1.
int fail_with(const Error& e);

}  // namespace cg::cli
