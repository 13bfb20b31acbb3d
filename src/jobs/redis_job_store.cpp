// Job records in Redis (store kind redis), shared by every jobs service of a deployment.
//
// Keys, under the deployment's prefix:
//   j:<id>          hash: data (the stored JSON), v (version), submitter, state
//   jp:<project>    sorted set of the project's job ids by creation time (ms)
//   jq              sorted set of the jobs queued or running, by creation time
//   jl:<submitter>  set of the submitter's job ids whose token is not revoked
// Every write is one script that checks the version and moves the indexes with the record, so
// a reader never sees a record and its indexes disagree. Job records do not expire (they are
// the jobs' history, as in SQLite).
#include <nlohmann/json.hpp>

#include "jobs/errors.h"
#include "jobs/store.h"
#include "session/redis_store.h"

namespace cg::jobs {
namespace {

using storage::redis::Reply;
using storage::redis::Script;

// KEYS: j:<id>, jp:<project>, jq, jl:<submitter>
// ARGV: id, expected version (0: the record must not exist), data, created ms,
//       unfinished (1/0), token live (1/0), submitter, state
const Script kJobPut(R"(
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[2]) then return 0 end
v = v + 1
redis.call('HSET', KEYS[1], 'data', ARGV[3], 'v', v, 'submitter', ARGV[7], 'state', ARGV[8])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
if ARGV[5] == '1' then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
else redis.call('ZREM', KEYS[3], ARGV[1]) end
if ARGV[6] == '1' then redis.call('SADD', KEYS[4], ARGV[1])
else redis.call('SREM', KEYS[4], ARGV[1]) end
return v)");

// Newest first, filtered by submitter and state ('' matches all), at most ARGV[4] records.
// KEYS: jp:<project>; ARGV: prefix, submitter, state, limit
const Script kJobList(R"(
local out = {}
local limit = tonumber(ARGV[4])
local start = 0
while #out < limit do
  local ids = redis.call('ZREVRANGE', KEYS[1], start, start + 199)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local f = redis.call('HMGET', ARGV[1] .. 'j:' .. id, 'submitter', 'state', 'data')
    if f[3] and (ARGV[2] == '' or f[1] == ARGV[2]) and (ARGV[3] == '' or f[2] == ARGV[3]) then
      out[#out + 1] = f[3]
      if #out >= limit then break end
    end
  end
  start = start + 200
end
return out)");

// The records of the ids in a sorted set (ascending) or a set. KEYS: the index; ARGV: prefix
const Script kJobsOf(R"(
local ids
if redis.call('TYPE', KEYS[1]).ok == 'zset' then ids = redis.call('ZRANGE', KEYS[1], 0, -1)
else ids = redis.call('SMEMBERS', KEYS[1]) end
local out = {}
for _, id in ipairs(ids) do
  local d = redis.call('HGET', ARGV[1] .. 'j:' .. id, 'data')
  if d then out[#out + 1] = d end
end
return out)");

int64_t ms(core::WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

class RedisJobStore final : public JobStore {
 public:
  explicit RedisJobStore(std::shared_ptr<session::RedisBackend> b)
      : b_(std::move(b)),
        client_(session::redis_client(*b_)),
        prefix_(session::redis_prefix(*b_)) {}

  Status insert(const Job& job) override {
    CG_TRY(bool written, put(job, 0));
    if (!written) return fail(Code::kStore, "job " + job.id + " exists already");
    return {};
  }

  Result<std::optional<Versioned>> read(std::string_view id) override {
    auto r = client_.command({"HMGET", key("j:", id), "data", "v"});
    if (!r) return fail(Code::kStore, r.error().message);
    if (r->elements.size() != 2 || r->elements[0].nil()) return std::optional<Versioned>();
    CG_TRY(Job j, job_from_json(r->elements[0].str));
    uint64_t v = std::strtoull(r->elements[1].str.c_str(), nullptr, 10);
    return std::optional<Versioned>(Versioned{std::move(j), v});
  }

  Result<bool> replace(const Job& job, uint64_t version) override {
    if (version == 0) return false;  // a record always has a version from 1 on
    return put(job, version);
  }

  Result<std::vector<Job>> list(const JobFilter& f) override {
    if (f.project.empty()) {
      return fail(Code::kStore, "the Redis job store lists the jobs of one project at a time");
    }
    return jobs(client_.eval(
        kJobList, {key("jp:", f.project)},
        {prefix_, f.submitter, f.state ? state_name(*f.state) : "", std::to_string(f.limit)}));
  }

  Result<std::vector<Job>> unfinished() override {
    return jobs(client_.eval(kJobsOf, {key("jq", "")}, {prefix_}));
  }

  Result<std::vector<Job>> with_live_token(std::string_view submitter) override {
    return jobs(client_.eval(kJobsOf, {key("jl:", submitter)}, {prefix_}));
  }

  std::string describe() const override {
    return "Redis " + client_.options().describe() + " (keys " + prefix_ + "j:...)";
  }

 private:
  std::string key(std::string_view kind, std::string_view id) const {
    return prefix_ + std::string(kind) + std::string(id);
  }

  Result<bool> put(const Job& job, uint64_t version) {
    auto r = client_.eval(
        kJobPut,
        {key("j:", job.id), key("jp:", job.project), key("jq", ""), key("jl:", job.submitter)},
        {job.id, std::to_string(version), stored_job_json(job), std::to_string(ms(job.created)),
         finished(job.state) ? "0" : "1", job.token_is_revoked() ? "0" : "1", job.submitter,
         state_name(job.state)});
    if (!r) return fail(Code::kStore, r.error().message);
    return r->integer != 0;
  }

  static Result<std::vector<Job>> jobs(Result<Reply> r) {
    if (!r) return fail(Code::kStore, r.error().message);
    std::vector<Job> out;
    for (const auto& e : r->elements) {
      CG_TRY(Job j, job_from_json(e.str));
      out.push_back(std::move(j));
    }
    return out;
  }

  std::shared_ptr<session::RedisBackend> b_;
  storage::redis::Client& client_;
  std::string prefix_;
};

}  // namespace

Result<std::unique_ptr<JobStore>> open_redis_job_store(
    std::shared_ptr<session::RedisBackend> backend) {
  if (!backend) return fail(Code::kStore, "no Redis connection to keep jobs in");
  return std::unique_ptr<JobStore>(std::make_unique<RedisJobStore>(std::move(backend)));
}

}  // namespace cg::jobs
