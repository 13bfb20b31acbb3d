#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/encoding.h"
#include "core/time.h"
#include "crypto/keys.h"
#include "jobs/errors.h"
#include "jobs/job.h"

namespace cg::jobs {
namespace {

using nlohmann::json;

constexpr size_t kMaxArgs = 1024;
constexpr size_t kMaxArgBytes = 8192;
constexpr size_t kMaxCommandBytes = 64 * 1024;
constexpr size_t kMaxEnv = 256;
constexpr size_t kMaxEnvValue = 8192;

bool env_name_ok(std::string_view n) {
  if (n.empty() || n.size() > 128 || (n[0] >= '0' && n[0] <= '9')) return false;
  for (char c : n) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  return true;
}

// What glibc's loader ignores in a setuid program (its unsecvars list, but TMPDIR), and the
// allocator's hooks: each makes a program run or read something its command did not name.
constexpr std::string_view kLoaderVariables[] = {
    "GCONV_PATH", "GETCONF_DIR",      "GLIBC_TUNABLES", "HOSTALIASES",      "LOCALDOMAIN",
    "LOCPATH",    "NIS_PATH",         "NLSPATH",        "RESOLV_HOST_CONF", "RES_OPTIONS",
    "TZDIR",      "MALLOC_ARENA_MAX", "MALLOC_CHECK_",  "MALLOC_TRACE"};

bool name_ok(std::string_view n) {
  if (n.size() > 128) return false;
  for (unsigned char c : n) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

// An integer field within [lo, hi], or a problem.
void read_int(const json& j, const char* key, int lo, int hi, const char* what, int& out,
              std::vector<std::string>& problems) {
  if (!j.contains(key)) return;
  const auto& v = j[key];
  if (!v.is_number_integer()) {
    problems.push_back(std::string(key) + ": " + core::clip(v.dump(), 40) + " is not an integer");
    return;
  }
  auto n = v.get<int64_t>();
  if (n < lo || n > hi) {
    problems.push_back(std::string(key) + ": " + std::to_string(n) + " is outside " +
                       std::to_string(lo) + ".." + std::to_string(hi) + " " + what);
    return;
  }
  out = static_cast<int>(n);
}

}  // namespace

bool is_loader_variable(std::string_view name) {
  if (name.starts_with("LD_") || name.starts_with("MALLOC_")) return true;
  for (auto v : kLoaderVariables) {
    if (name == v) return true;
  }
  return false;
}

Result<JobSpec> parse_spec(std::string_view text, const SpecLimits& limits) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return fail(Code::kBadSpec, "the job specification is not a JSON object");
  }
  static const std::vector<std::string> known{"name",    "command",     "env",
                                              "workdir", "nodes",       "procs_per_node",
                                              "gpus",    "max_runtime", "pool"};
  std::vector<std::string> problems;
  for (const auto& [k, v] : j.items()) {
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      problems.push_back("'" + core::clip(k, 40) +
                         "' is not a field of a job (fields: " + core::join(known, ", ") + ")");
    }
  }
  JobSpec s;
  if (j.contains("name")) {
    if (!j["name"].is_string() || !name_ok(j["name"].get<std::string>())) {
      problems.push_back("name: must be a string of at most 128 printable characters");
    } else {
      s.name = j["name"].get<std::string>();
    }
  }
  if (!j.contains("command")) {
    problems.push_back("command: required (the program and its arguments, as a list of strings)");
  } else if (!j["command"].is_array() || j["command"].empty()) {
    problems.push_back(
        "command: must be a non-empty list of strings, such as "
        "[\"torchrun\", \"train.py\"]");
  } else {
    size_t total = 0;
    for (const auto& a : j["command"]) {
      if (!a.is_string()) {
        problems.push_back("command: " + core::clip(a.dump(), 40) + " is not a string");
        break;
      }
      const auto& str = a.get_ref<const std::string&>();
      if (str.find('\0') != std::string::npos || str.size() > kMaxArgBytes) {
        problems.push_back("command: an argument is longer than 8 KiB or holds a NUL byte");
        break;
      }
      total += str.size();
      s.command.push_back(str);
    }
    if (s.command.size() > kMaxArgs || total > kMaxCommandBytes) {
      problems.push_back("command: more than 1024 arguments or 64 KiB in all");
    }
    if (!s.command.empty() && s.command[0].empty()) {
      problems.push_back("command: the program (first element) is empty");
    }
  }
  if (j.contains("env")) {
    if (!j["env"].is_object() || j["env"].size() > kMaxEnv) {
      problems.push_back("env: must be an object of at most 256 NAME: \"value\" pairs");
    } else {
      for (const auto& [k, v] : j["env"].items()) {
        if (!env_name_ok(k)) {
          problems.push_back("env: '" + core::clip(k, 40) +
                             "' is not a variable name (letters, digits, '_')");
        } else if (k.starts_with("CLAIMGATE_")) {
          problems.push_back("env: " + k + " is set by claimgate itself on every node");
        } else if (is_loader_variable(k)) {
          problems.push_back("env: " + k +
                             " is read by the dynamic loader or the C library at a program's "
                             "start, and is refused (LD_*, GCONV_PATH, GLIBC_TUNABLES, MALLOC_*, "
                             "...: docs/jobs.md); set library paths in the command, such as "
                             "[\"env\", \"LD_LIBRARY_PATH=...\", \"torchrun\", ...]");
        } else if (!v.is_string() || v.get_ref<const std::string&>().size() > kMaxEnvValue ||
                   v.get_ref<const std::string&>().find('\0') != std::string::npos) {
          problems.push_back("env: " + k + " must be a string of at most 8 KiB");
        } else {
          s.env[k] = v.get<std::string>();
        }
      }
    }
  }
  if (j.contains("workdir")) {
    if (!j["workdir"].is_string() || !j["workdir"].get_ref<const std::string&>().starts_with("/") ||
        j["workdir"].get_ref<const std::string&>().size() > 4096 ||
        std::any_of(j["workdir"].get_ref<const std::string&>().begin(),
                    j["workdir"].get_ref<const std::string&>().end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
      problems.push_back(
          "workdir: must be an absolute path without control characters (leave it out for the "
          "job's own directory)");
    } else {
      s.workdir = j["workdir"].get<std::string>();
    }
  }
  read_int(j, "nodes", 1, limits.max_nodes, "(jobs.max_nodes)", s.nodes, problems);
  read_int(j, "procs_per_node", 1, limits.max_procs_per_node, "(jobs.max_procs_per_node)",
           s.procs_per_node, problems);
  read_int(j, "gpus", 0, limits.max_gpus, "per node (jobs.max_gpus)", s.gpus, problems);
  s.max_runtime = limits.default_runtime;
  if (j.contains("max_runtime")) {
    const auto& v = j["max_runtime"];
    // A JSON number is seconds (what a job's `spec.max_runtime` reads back as); a string is
    // a duration with its unit, as in the config ("90m": "90" alone is refused, saying so).
    std::optional<std::chrono::seconds> rt;
    std::string why = "is not a duration (\"90m\", \"12h\", or a number of seconds)";
    if (v.is_number_integer()) {
      rt = std::chrono::seconds(v.get<int64_t>());
    } else if (v.is_string()) {
      auto d = core::parse_duration(v.get<std::string>());
      if (d) {
        rt = *d;
      } else if (v.get<std::string>().find_first_not_of("0123456789") == std::string::npos &&
                 !v.get<std::string>().empty()) {
        std::string n = v.get<std::string>().substr(0, 12);
        why = "has no unit; write \"" + n + "s\", \"" + n + "m\" or \"" + n +
              "h\" (or the number " + n + " for seconds)";
      }
    }
    if (!rt) {
      problems.push_back("max_runtime: " + core::clip(v.dump(), 40) + " " + why);
    } else if (rt->count() < 1 || *rt > limits.max_runtime) {
      problems.push_back("max_runtime: " + std::to_string(rt->count()) + "s is outside 1s.." +
                         std::to_string(limits.max_runtime.count()) + "s (jobs.max_runtime)");
    } else {
      s.max_runtime = *rt;
    }
  }
  s.pool = limits.default_pool;
  if (j.contains("pool")) {
    if (!j["pool"].is_string() || std::find(limits.pools.begin(), limits.pools.end(),
                                            j["pool"].get<std::string>()) == limits.pools.end()) {
      problems.push_back(
          "pool: " + core::clip(j["pool"].dump(), 40) +
          " is not a node pool of this service (pools: " + core::join(limits.pools, ", ") + ")");
    } else {
      s.pool = j["pool"].get<std::string>();
    }
  }
  if (!problems.empty()) return fail(Code::kBadSpec, core::join(problems, "; "));
  return s;
}

std::string JobSpec::to_json() const {
  json j = {{"name", name},
            {"command", command},
            {"env", env},
            {"workdir", workdir},
            {"workdir_id", workdir_id},
            {"nodes", nodes},
            {"procs_per_node", procs_per_node},
            {"gpus", gpus},
            {"max_runtime", max_runtime.count()},
            {"pool", pool}};
  return j.dump();
}

Result<JobSpec> spec_from_json(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fail(Code::kStore, "a stored job spec is not JSON");
  try {
    JobSpec s;
    s.name = j.at("name").get<std::string>();
    s.command = j.at("command").get<std::vector<std::string>>();
    s.env = j.at("env").get<std::map<std::string, std::string>>();
    s.workdir = j.at("workdir").get<std::string>();
    if (j.contains("workdir_id")) s.workdir_id = j.at("workdir_id").get<std::string>();
    s.nodes = j.at("nodes").get<int>();
    s.procs_per_node = j.at("procs_per_node").get<int>();
    s.gpus = j.at("gpus").get<int>();
    s.max_runtime = std::chrono::seconds(j.at("max_runtime").get<int64_t>());
    s.pool = j.at("pool").get<std::string>();
    return s;
  } catch (const json::exception& e) {
    return fail(Code::kStore, std::string("a stored job spec does not read: ") + e.what());
  }
}

std::string command_digest(const std::vector<std::string>& argv, std::string_view workdir) {
  std::string buf;
  auto put = [&](std::string_view s) {
    buf += std::to_string(s.size());
    buf += ':';
    buf += s;
  };
  buf += "argv=" + std::to_string(argv.size()) + ";";
  for (const auto& a : argv) put(a);
  buf += ";workdir=";
  put(workdir);
  auto d = crypto::sha256(buf);
  return core::hex_encode(d);
}

const char* state_name(State s) {
  switch (s) {
    case State::kQueued:
      return "queued";
    case State::kRunning:
      return "running";
    case State::kSucceeded:
      return "succeeded";
    case State::kFailed:
      return "failed";
    case State::kCancelled:
      return "cancelled";
    case State::kLost:
      return "lost";
  }
  return "unknown";
}

std::optional<State> parse_state(std::string_view s) {
  for (State st : {State::kQueued, State::kRunning, State::kSucceeded, State::kFailed,
                   State::kCancelled, State::kLost}) {
    if (s == state_name(st)) return st;
  }
  return std::nullopt;
}

}  // namespace cg::jobs
