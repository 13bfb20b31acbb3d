// HTTP onto the jobs service, for both hosts (the gateway's builtin:jobs route and
// `claimgate jobs serve`):
//
//   POST   /api/projects/{project}/jobs               submit (JSON spec)      jobs:submit
//   GET    /api/projects/{project}/jobs               list (?submitter=&state=&limit=)  jobs:read
//   GET    /api/projects/{project}/jobs/{id}          one job                  jobs:read
//   GET    /api/projects/{project}/jobs/{id}/logs     the output (?follow=1&offset=N&limit=M)
//   logs:read POST   /api/projects/{project}/jobs/{id}/cancel   cancel jobs:cancel(-any) POST
//   /.claimgate/jobs/check | renew | report   the nodes (job token in the body)
//
// The host answers what route_* returns, writing its audit events durably first; a log
// answer is streamed with stream_log.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "http/server.h"
#include "jobs/service.h"

namespace cg::jobs {

struct Routed {
  Reply reply;
  std::optional<LogAccess> log;  // set: stream this job's log instead of `reply`
  bool follow = false;
  uint64_t offset = 0;
  uint64_t limit = 0;  // at most this many bytes of the log (0: to its end)
};

// Whether `path` is the jobs API (starts with /api/projects/ and names .../jobs).
bool is_jobs_path(std::string_view path);
// Whether the request needs its body read (POST).
bool wants_body(std::string_view method);

Routed route_api(JobsService& svc, const Caller& caller, std::string_view method,
                 std::string_view path, std::string_view query, std::string_view body,
                 std::string_view request_id, std::string_view trace_id = {});
Reply route_node(JobsService& svc, std::string_view method, std::string_view path,
                 std::string_view body, std::string_view client);

// Sends the log from `offset`; with `follow`, keeps sending as it grows until the job ends
// (then the rest, then the end of the response); with `limit`, ends after that many bytes.
http::awaitable<void> stream_log(http::Exchange& ex, JobsService& svc, LogAccess log, bool follow,
                                 uint64_t offset, uint64_t limit = 0);

}  // namespace cg::jobs
