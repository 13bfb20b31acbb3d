#include "cli/jobs_client.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cli/credentials.h"
#include "core/encoding.h"

namespace cg::cli {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// The job's command, taken out of argv by take_job_command.
std::vector<std::string>& job_command() {
  static std::vector<std::string> c;
  return c;
}
bool g_had_dashdash = false;

constexpr auto kPoll = 1s;  // how often follow and wait look again
// The most of a log one request asks for (?limit=): a long log comes in pieces this large.
constexpr uint64_t kLogPiece = 4u << 20;

struct Options {
  Common common;
  std::string project;
  // submit
  std::string name, pool, max_runtime, workdir;
  int nodes = 0, procs = 0, gpus = -1;
  std::vector<std::string> env;
  bool follow = false;
  // list
  std::string state;
  bool mine = false;
  int limit = 0;
  // status, logs, cancel, wait
  std::string id;
  bool logs_follow = false;
};

bool finished(const std::string& state) {
  return state == "succeeded" || state == "failed" || state == "cancelled" || state == "lost";
}

// The exit code a finished job gives `wait`: its command's, or 1 when it ended without one
// (lost, cancelled before it started) or a failure carried 0.
int job_exit_code(const json& j) {
  std::string state = j.value("state", "");
  if (state == "succeeded") return 0;
  if (j.contains("exit_code") && j["exit_code"].is_number_integer()) {
    int code = j["exit_code"].get<int>();
    if (code > 0 && code < 256) return code;
  }
  return 1;
}

std::string api_path(const std::string& project, const std::string& rest = "") {
  return "/api/projects/" + core::url_encode(project) + "/jobs" + rest;
}

// A signed-in call that must answer `status`: the reply, or the gateway's sentence as an error.
Result<Reply> expect(Options& o, unsigned status, const std::string& method,
                     const std::string& path, const std::string& body = "") {
  CG_TRY(Reply r, authed(o.common, method, path, body, body.empty() ? "" : "application/json"));
  if (r.status != status) return fail(Error{1, "cli.refused", reply_error(r)});
  return r;
}

// The projects where the person holds a role (whoami's role_grants); `everywhere` when a role
// is held in every project ("*"), which cannot be listed.
struct Projects {
  std::vector<std::string> names;
  bool everywhere = false;
};

Result<Projects> my_projects(Options& o) {
  CG_TRY(Reply r, expect(o, 200, "GET", "/.claimgate/whoami"));
  Projects p;
  std::set<std::string> seen;
  if (r.body.is_object() && r.body.contains("role_grants") && r.body["role_grants"].is_array()) {
    for (const auto& g : r.body["role_grants"]) {
      std::string name = g.value("project", "");
      if (name == "*") {
        p.everywhere = true;
      } else if (!name.empty() && seen.insert(name).second) {
        p.names.push_back(name);
      }
    }
  }
  return p;
}

std::string project_flag(const Options& o) {
  if (!o.project.empty()) return o.project;
  if (const char* e = std::getenv("CLAIMGATE_PROJECT"); e && *e) return e;
  return "";
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// The project to submit in: --project, $CLAIMGATE_PROJECT, or the person's only project.
Result<std::string> submit_project(Options& o) {
  if (auto p = project_flag(o); !p.empty()) return p;
  CG_TRY(Projects p, my_projects(o));
  if (p.names.size() == 1 && !p.everywhere) return p.names[0];
  return fail(
      Error{2, "usage",
            "which project? give --project (or set CLAIMGATE_PROJECT)" +
                (p.names.empty() ? std::string() : "; you have roles in " + joined(p.names))});
}

// A job by id: in --project ($CLAIMGATE_PROJECT), or looked up in each of the person's projects.
Result<json> find_job(Options& o) {
  if (auto p = project_flag(o); !p.empty()) {
    CG_TRY(Reply r, expect(o, 200, "GET", api_path(p, "/" + core::url_encode(o.id))));
    return r.body;
  }
  CG_TRY(Projects p, my_projects(o));
  for (const auto& name : p.names) {
    CG_TRY(Reply r, authed(o.common, "GET", api_path(name, "/" + core::url_encode(o.id))));
    if (r.status == 200 && r.body.is_object()) return r.body;
  }
  return fail(
      Error{1, "cli.no_such_job",
            "no job " + core::clip(o.id, 64) +
                (p.names.empty() ? std::string(" in any of your projects")
                                 : " in your projects (" + joined(p.names) + ")") +
                (p.everywhere ? "; you have roles in every project: name its project with --project"
                              : "")});
}

std::string text(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return "-";
  if (j[key].is_string())
    return j[key].get<std::string>().empty() ? "-" : j[key].get<std::string>();
  return j[key].dump();
}

std::string command_text(const json& j) {
  std::string out;
  if (j.contains("spec") && j["spec"].contains("command") && j["spec"]["command"].is_array()) {
    for (const auto& a : j["spec"]["command"]) {
      if (!a.is_string()) continue;
      std::string s = a.get<std::string>();
      bool plain = !s.empty() && s.find_first_of(" \t\n'\"\\$`") == std::string::npos;
      out += (out.empty() ? "" : " ") + (plain ? s : json(s).dump());
    }
  }
  return out;
}

void print_table(const std::vector<json>& jobs) {
  std::printf("%-26s  %-12s  %-10s  %-20s  %-20s  %s\n", "ID", "PROJECT", "STATE", "SUBMITTER",
              "CREATED", "COMMAND");
  for (const auto& j : jobs) {
    std::string state = text(j, "state");
    if (finished(state) && j.contains("exit_code") && j["exit_code"].is_number_integer()) {
      state += "(" + std::to_string(j["exit_code"].get<int>()) + ")";
    }
    std::printf("%-26s  %-12s  %-10s  %-20s  %-20s  %s\n", text(j, "id").c_str(),
                text(j, "project").c_str(), state.c_str(), text(j, "submitter").c_str(),
                text(j, "created").c_str(), core::clip(command_text(j), 60).c_str());
  }
}

void print_job(const json& j) {
  auto row = [](const char* k, const std::string& v) { std::printf("%-12s %s\n", k, v.c_str()); };
  row("id", text(j, "id"));
  row("project", text(j, "project"));
  if (j.contains("spec") && j["spec"].is_object()) row("name", text(j["spec"], "name"));
  row("state", text(j, "state"));
  row("exit code", text(j, "exit_code"));
  row("message", text(j, "message"));
  row("submitter",
      text(j, "submitter") +
          (j.value("actor", "").empty() ? std::string() : " (" + j.value("actor", "") + ")"));
  row("command", command_text(j));
  row("created", text(j, "created"));
  row("started", text(j, "started"));
  row("ended", text(j, "ended"));
  row("deadline", text(j, "deadline"));
  row("renewals", text(j, "renewals"));
}

// Prints what the job's log holds from `offset` (one piece); returns how many bytes.
Result<uint64_t> print_log(Options& o, const std::string& project, const std::string& id,
                           uint64_t offset, std::FILE* out) {
  CG_TRY(Reply r, expect(o, 200, "GET",
                         api_path(project, "/" + core::url_encode(id) +
                                               "/logs?offset=" + std::to_string(offset) +
                                               "&limit=" + std::to_string(kLogPiece))));
  std::fwrite(r.text.data(), 1, r.text.size(), out);
  std::fflush(out);
  return static_cast<uint64_t>(r.text.size());
}

// Prints the job's log from `offset` as it grows, until the job has ended and its last lines
// are out. Each round is a plain request (the access token is refreshed as it expires: a job
// may run for days). Returns the job as it ended.
Result<json> follow_logs(Options& o, const std::string& project, const std::string& id,
                         std::FILE* out = stdout) {
  uint64_t offset = 0;
  for (;;) {
    CG_TRY(uint64_t n, print_log(o, project, id, offset, out));
    offset += n;
    if (n) continue;
    CG_TRY(Reply j, expect(o, 200, "GET", api_path(project, "/" + core::url_encode(id))));
    if (finished(j.body.value("state", ""))) {
      // The last lines the job wrote as it ended.
      for (;;) {
        CG_TRY(uint64_t last, print_log(o, project, id, offset, out));
        if (!last) return j.body;
        offset += last;
      }
    }
    std::this_thread::sleep_for(kPoll);
  }
}

void say_end(const json& j) {
  std::cerr << "claimgate: job " << j.value("id", "") << " " << j.value("state", "");
  if (j.contains("exit_code") && j["exit_code"].is_number_integer()) {
    std::cerr << " (exit code " << j["exit_code"].get<int>() << ")";
  }
  if (!j.value("message", "").empty()) std::cerr << ": " << j.value("message", "");
  std::cerr << "\n";
}

int run_submit(Options& o) {
  if (!g_had_dashdash || job_command().empty()) {
    std::cerr << "claimgate: give the job's command after --, such as: claimgate jobs submit "
                 "--project vision -- torchrun --nproc_per_node=2 train.py\n";
    return 2;
  }
  json spec = {{"command", job_command()}};
  if (!o.name.empty()) spec["name"] = o.name;
  if (!o.pool.empty()) spec["pool"] = o.pool;
  if (o.nodes > 0) spec["nodes"] = o.nodes;
  if (o.procs > 0) spec["procs_per_node"] = o.procs;
  if (o.gpus >= 0) spec["gpus"] = o.gpus;
  if (!o.max_runtime.empty()) spec["max_runtime"] = o.max_runtime;
  if (!o.workdir.empty()) spec["workdir"] = o.workdir;
  if (!o.env.empty()) {
    json env = json::object();
    for (const auto& kv : o.env) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "claimgate: --env takes NAME=VALUE (got '" << core::clip(kv, 60) << "')\n";
        return 2;
      }
      env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    spec["env"] = env;
  }
  auto project = submit_project(o);
  if (!project) return fail_with(project.error());
  auto r = expect(o, 201, "POST", api_path(*project), spec.dump());
  if (!r) return fail_with(r.error());
  std::string id = r->body.value("id", "");
  if (!o.follow) {
    if (o.common.as_json) {
      std::cout << r->body.dump(2) << "\n";
    } else {
      std::cerr << "claimgate: job " << id << " submitted in project " << *project << " ("
                << r->body.value("state", "") << ")\n";
      std::cout << id << "\n";
    }
    return 0;
  }
  std::cerr << "claimgate: job " << id << " submitted in project " << *project
            << "; following its log (Ctrl-C stops following, not the job)\n";
  // With --json the log goes to stderr, and the job as it ended to stdout.
  auto end = follow_logs(o, *project, id, o.common.as_json ? stderr : stdout);
  if (!end) return fail_with(end.error());
  if (o.common.as_json) std::cout << end->dump(2) << "\n";
  say_end(*end);
  return job_exit_code(*end);
}

int run_list(Options& o) {
  std::vector<std::string> projects;
  if (auto p = project_flag(o); !p.empty()) {
    projects.push_back(p);
  } else {
    auto mine = my_projects(o);
    if (!mine) return fail_with(mine.error());
    if (mine->everywhere) {
      std::cerr << "claimgate: you have roles in every project; name one with --project\n";
      return 2;
    }
    projects = mine->names;
  }
  std::string query;
  auto add = [&](const std::string& k, const std::string& v) {
    query += (query.empty() ? "?" : "&") + k + "=" + core::url_encode(v);
  };
  if (o.mine) {
    std::string me = signed_in_subject(o.common);
    if (me.empty()) {
      std::cerr << "claimgate: --mine: not signed in; run claimgate login\n";
      return 1;
    }
    add("submitter", me);
  }
  if (!o.state.empty()) add("state", o.state);
  if (o.limit > 0) add("limit", std::to_string(o.limit));
  std::vector<json> jobs;
  for (const auto& p : projects) {
    auto r = authed(o.common, "GET", api_path(p) + query);
    if (!r) return fail_with(r.error());
    // Listing every project: one where the person may not read jobs is left out, not fatal.
    if (r->status == 403 && projects.size() > 1) continue;
    if (r->status != 200 || !r->body.contains("jobs")) {
      std::cerr << "claimgate: " << reply_error(*r) << "\n";
      return 1;
    }
    for (auto& j : r->body["jobs"]) jobs.push_back(std::move(j));
  }
  std::stable_sort(jobs.begin(), jobs.end(), [](const json& a, const json& b) {
    return a.value("created", "") > b.value("created", "");  // newest first (RFC 3339 UTC)
  });
  if (o.limit > 0 && jobs.size() > static_cast<size_t>(o.limit)) jobs.resize(o.limit);
  if (o.common.as_json) {
    std::cout << json{{"jobs", jobs}}.dump(2) << "\n";
  } else {
    print_table(jobs);
  }
  return 0;
}

int run_status(Options& o) {
  auto j = find_job(o);
  if (!j) return fail_with(j.error());
  if (o.common.as_json) {
    std::cout << j->dump(2) << "\n";
  } else {
    print_job(*j);
  }
  return 0;
}

int run_logs(Options& o) {
  auto j = find_job(o);
  if (!j) return fail_with(j.error());
  std::string project = j->value("project", "");
  if (o.logs_follow) {
    auto end = follow_logs(o, project, o.id);
    return end ? 0 : fail_with(end.error());
  }
  for (uint64_t offset = 0;;) {
    auto n = print_log(o, project, o.id, offset, stdout);
    if (!n) return fail_with(n.error());
    if (*n < kLogPiece) return 0;  // the end (as it is now)
    offset += *n;
  }
}

int run_cancel(Options& o) {
  auto j = find_job(o);
  if (!j) return fail_with(j.error());
  std::string project = j->value("project", "");
  auto r =
      expect(o, 202, "POST", api_path(project, "/" + core::url_encode(o.id) + "/cancel"), "{}");
  if (!r) return fail_with(r.error());
  if (o.common.as_json) {
    std::cout << r->body.dump(2) << "\n";
  } else {
    std::cerr << "claimgate: job " << o.id
              << " is being cancelled (its token is revoked; its processes get SIGTERM)\n";
  }
  return 0;
}

int run_wait(Options& o) {
  auto j = find_job(o);
  if (!j) return fail_with(j.error());
  std::string project = j->value("project", "");
  json cur = *j;
  while (!finished(cur.value("state", ""))) {
    std::this_thread::sleep_for(kPoll);
    auto r = expect(o, 200, "GET", api_path(project, "/" + core::url_encode(o.id)));
    if (!r) return fail_with(r.error());
    cur = r->body;
  }
  if (o.common.as_json) std::cout << cur.dump(2) << "\n";
  say_end(cur);
  return job_exit_code(cur);
}

}  // namespace

bool take_job_command(int& argc, char** argv) {
  if (argc < 3 || std::string_view(argv[1]) != "jobs" || std::string_view(argv[2]) != "submit") {
    return false;
  }
  for (int i = 3; i < argc; ++i) {
    if (std::string_view(argv[i]) != "--") continue;
    job_command().assign(argv + i + 1, argv + argc);
    g_had_dashdash = true;
    argc = i;
    return true;
  }
  return false;
}

void add_jobs_client_commands(CLI::App& jobs, int& exit_code) {
  auto o = std::make_shared<Options>();
  auto common = [o](CLI::App* cmd, bool project = true) {
    cmd->add_option("--gateway", o->common.gateway,
                    "The gateway's URL (default: $CLAIMGATE_GATEWAY, or the last signed in to)");
    cmd->add_option("--ca-file", o->common.ca_file, "CA certificates for the gateway's TLS (PEM)");
    cmd->add_flag("--json", o->common.as_json, "JSON for scripts instead of text for people");
    if (project) {
      cmd->add_option("--project,-p", o->project,
                      "The project (default: $CLAIMGATE_PROJECT, or found from your roles)");
    }
  };

  auto* submit = jobs.add_subcommand(
      "submit", "Submit a training job: claimgate jobs submit [options] -- torchrun train.py ...");
  common(submit);
  submit->add_option("--name", o->name, "A name for people");
  submit->add_option("--pool", o->pool, "The node pool (one of the gateway's jobs.pools)");
  submit->add_option("--nodes", o->nodes, "Nodes (default 1)");
  submit->add_option("--procs-per-node", o->procs, "Processes per node (torchrun's)");
  submit->add_option("--gpus", o->gpus, "GPUs per node");
  submit->add_option("--max-runtime", o->max_runtime, "Longest it may run: 90m, 8h");
  submit->add_option("--workdir", o->workdir,
                     "Its working directory, absolute, as the nodes see it (default: the job's "
                     "own directory)");
  submit->add_option("--env", o->env, "NAME=VALUE for the job's command (repeatable)");
  submit->add_flag("--follow,-f", o->follow,
                   "Print its log as it runs and exit with its exit code");
  submit->callback([o, &exit_code] { exit_code = run_submit(*o); });

  auto* list = jobs.add_subcommand("list", "Jobs in your projects, newest first");
  common(list);
  list->add_option("--state", o->state,
                   "Only jobs in this state (queued, running, succeeded, failed, cancelled, "
                   "lost)");
  list->add_flag("--mine", o->mine, "Only the jobs you submitted");
  list->add_option("--limit", o->limit, "At most this many");
  list->callback([o, &exit_code] { exit_code = run_list(*o); });

  auto by_id = [&](const char* name, const char* what) {
    auto* cmd = jobs.add_subcommand(name, what);
    common(cmd);
    cmd->add_option("id", o->id, "The job's id")->required();
    return cmd;
  };
  by_id("status", "One job: its state, exit code and times")->callback([o, &exit_code] {
    exit_code = run_status(*o);
  });
  auto* logs = by_id("logs", "A job's output");
  logs->add_flag("--follow,-f", o->logs_follow, "Keep printing as it grows, until the job ends");
  logs->callback([o, &exit_code] { exit_code = run_logs(*o); });
  by_id("cancel", "Cancel a job (its token is revoked at once)")->callback([o, &exit_code] {
    exit_code = run_cancel(*o);
  });
  by_id("wait", "Wait for a job to end; exit with its exit code")->callback([o, &exit_code] {
    exit_code = run_wait(*o);
  });
}

}  // namespace cg::cli
