#include "jobs/http_api.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "core/encoding.h"
#include "jobs/errors.h"
#include "jobs/internal/files.h"

namespace cg::jobs {
namespace {

constexpr std::string_view kPrefix = "/api/projects/";

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    while (path.starts_with('/')) path.remove_prefix(1);
    size_t slash = path.find('/');
    if (path.empty()) break;
    out.push_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return out;
}

}  // namespace

bool is_jobs_path(std::string_view path) {
  if (!path.starts_with(kPrefix)) return false;
  auto s = segments(path.substr(kPrefix.size()));
  return s.size() >= 2 && s[1] == "jobs";
}

bool wants_body(std::string_view method) { return method == "POST"; }

Routed route_api(JobsService& svc, const Caller& caller, std::string_view method,
                 std::string_view path, std::string_view query, std::string_view body,
                 std::string_view request_id, std::string_view trace_id) {
  Routed out;
  auto s = segments(path.substr(std::min(path.size(), kPrefix.size())));
  auto params = core::parse_query(query);
  if (!params) {
    out.reply = error_reply(400, make_error(Code::kBadSpec, "the query string does not parse"));
    return out;
  }
  auto not_allowed = [&] {
    out.reply =
        error_reply(405, make_error(Code::kBadSpec, std::string(method) + " is not allowed on " +
                                                        std::string(path)));
  };
  if (s.size() < 2 || s[1] != "jobs" || s.size() > 4) {
    out.reply = error_reply(
        404, make_error(Code::kNotFound, "no such jobs API path: " + core::clip(path, 120)));
    return out;
  }
  std::string_view project = s[0];
  if (s.size() == 2) {
    if (method == "POST") {
      out.reply = svc.submit(caller, project, body, request_id, trace_id);
    } else if (method == "GET" || method == "HEAD") {
      out.reply = svc.list(caller, project, *params);
    } else {
      not_allowed();
    }
  } else if (s.size() == 3) {
    if (method == "GET" || method == "HEAD") {
      out.reply = svc.get(caller, project, s[2]);
    } else {
      not_allowed();
    }
  } else if (s[3] == "cancel") {
    if (method == "POST") {
      out.reply = svc.cancel(caller, project, s[2], request_id, trace_id);
    } else {
      not_allowed();
    }
  } else if (s[3] == "logs") {
    if (method != "GET" && method != "HEAD") {
      not_allowed();
      return out;
    }
    for (const auto& p : *params) {
      if (p.name == "follow") {
        out.follow = p.value == "1" || p.value == "true";
      } else if (p.name == "offset" || p.name == "limit") {
        char* end = nullptr;
        uint64_t n = std::strtoull(p.value.c_str(), &end, 10);
        if (p.value.empty() || *end || p.value[0] == '-' || (p.name == "limit" && n == 0)) {
          out.reply = error_reply(
              400, make_error(Code::kBadSpec,
                              p.name + (p.name == "limit" ? ": not a number of bytes above 0"
                                                          : ": not a number of bytes")));
          return out;
        }
        (p.name == "offset" ? out.offset : out.limit) = n;
      } else {
        out.reply = error_reply(400, make_error(Code::kBadSpec, "'" + core::clip(p.name, 40) +
                                                                    "' is not a logs parameter "
                                                                    "(follow, offset, limit)"));
        return out;
      }
    }
    auto log = svc.logs(caller, project, s[2], &out.reply);
    if (log) out.log = std::move(*log);
  } else {
    out.reply = error_reply(
        404, make_error(Code::kNotFound, "no such jobs API path: " + core::clip(path, 120)));
  }
  return out;
}

Reply route_node(JobsService& svc, std::string_view method, std::string_view path,
                 std::string_view body, std::string_view client) {
  if (method != "POST") {
    return error_reply(405, make_error(Code::kBadSpec, "the nodes' endpoints take POST"));
  }
  if (path == "/.claimgate/jobs/check") return svc.check(body, client);
  if (path == "/.claimgate/jobs/renew") return svc.renew(body, client);
  if (path == "/.claimgate/jobs/report") return svc.report(body, client);
  return error_reply(404,
                     make_error(Code::kNotFound, "no such endpoint: " + core::clip(path, 120)));
}

http::awaitable<void> stream_log(http::Exchange& ex, JobsService& svc, LogAccess log, bool follow,
                                 uint64_t offset, uint64_t limit) {
  int fd = open_job_file(log.path);
  http::bhttp::response_header<> head;
  head.result(http::bhttp::status::ok);
  head.set(http::bhttp::field::content_type, "text/plain; charset=utf-8");
  head.set(http::bhttp::field::cache_control, "no-store");
  head.set("X-Content-Type-Options", "nosniff");
  uint64_t pos = offset;
  uint64_t left = limit ? limit : UINT64_MAX;  // bytes still to send
  bool done = false;
  auto chunk = [&] { return static_cast<size_t>(std::min<uint64_t>(64 * 1024, left)); };
  auto exec = co_await http::asio::this_coro::executor;
  auto next = [&]() -> http::awaitable<std::optional<std::string>> {
    while (!done) {
      if (left == 0) break;  // the limit is reached
      std::string buf;
      if (fd >= 0) {
        buf.resize(chunk());
        ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(pos));
        buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
      }
      if (!buf.empty()) {
        pos += buf.size();
        left -= buf.size();
        co_return buf;
      }
      // Nothing new: the end, unless we follow a job that is still running.
      bool still = follow && svc.running(log.job_id);
      if (!still) {
        if (follow && fd >= 0) {
          // One last read: the job may have written its last lines as it ended.
          buf.resize(chunk());
          ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(pos));
          if (n > 0) {
            buf.resize(static_cast<size_t>(n));
            pos += buf.size();
            left -= buf.size();
            co_return buf;
          }
        }
        done = true;
        break;
      }
      // A client that went away while the job is quiet ends the stream now, not at the job's
      // next line (a reconnecting follower would otherwise leave one open stream per try).
      if (ex.stream().peer_closed()) {
        done = true;
        break;
      }
      if (fd < 0) fd = open_job_file(log.path);
      http::asio::steady_timer t(exec, std::chrono::milliseconds(200));
      http::error_code ec;
      co_await t.async_wait(http::asio::redirect_error(http::asio::use_awaitable, ec));
    }
    co_return std::nullopt;
  };
  co_await ex.respond_chunked(std::move(head), next);
  if (fd >= 0) ::close(fd);
}

}  // namespace cg::jobs
