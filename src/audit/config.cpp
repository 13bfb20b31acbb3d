#include "audit/config.h"

#include <unistd.h>

namespace cg::audit {

AuditConfig compile_audit_config(const YAML::Node& root, const std::string& base_dir,
                                 core::Problems& p) {
  AuditConfig c;
  YAML::Node a(YAML::NodeType::Map);
  if (YAML::Node given = root["audit"]; given && !given.IsNull()) {
    if (given.IsMap()) {
      a = given;
    } else {
      p.add("audit", "not a mapping", "a mapping with path, on_failure, ...");
    }
  }
  const std::string s = "audit";
  core::reject_unknown_keys(
      a, s,
      {"enabled", "path", "instance", "on_failure", "decisions", "flush_interval", "batch_bound",
       "checkpoint_every", "checkpoint_interval", "rotate_bytes", "rotate_every", "max_pending",
       "index", "also", "syslog", "checkpoint_key"},
      p);
  c.enabled = core::get_bool(a, "enabled", s, p, true);
  c.log.path = core::get_path(a, "path", s, p, base_dir, false, "audit/audit.jsonl");
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  c.log.instance = core::get_string(a, "instance", s, p, false, host[0] ? host : "claimgate");
  std::string mode = core::get_string(a, "on_failure", s, p, false, "closed");
  if (mode == "closed") {
    c.on_failure = FailureMode::kClosed;
  } else if (mode == "open_reads") {
    c.on_failure = FailureMode::kOpenReads;
  } else {
    p.add("audit.on_failure", mode, "closed or open_reads");
  }
  std::string decisions = core::get_string(a, "decisions", s, p, false, "all");
  if (decisions != "all" && decisions != "deny") p.add("audit.decisions", decisions, "all or deny");
  c.record_allows = decisions == "all";
  c.log.flush_interval = core::get_duration_ms(a, "flush_interval", s, p, c.log.flush_interval);
  c.log.batch_bound = core::get_duration_ms(a, "batch_bound", s, p, c.log.batch_bound);
  if (c.log.flush_interval.count() < 1 || c.log.flush_interval > c.log.batch_bound) {
    p.add("audit.flush_interval", std::to_string(c.log.flush_interval.count()) + "ms",
          "from 1ms to audit.batch_bound");
  }
  if (c.log.batch_bound > std::chrono::seconds(60)) {
    p.add("audit.batch_bound", std::to_string(c.log.batch_bound.count()) + "ms",
          "at most 60s (allow decisions would be at risk for longer)");
  }
  c.log.checkpoint_every =
      core::get_uint(a, "checkpoint_every", s, p, c.log.checkpoint_every, 1, 10'000'000);
  c.log.checkpoint_interval =
      core::get_duration(a, "checkpoint_interval", s, p, c.log.checkpoint_interval);
  if (c.log.checkpoint_interval.count() < 1) {
    p.add("audit.checkpoint_interval", "0", "at least 1s");
  }
  c.log.rotate_bytes = core::get_size(a, "rotate_bytes", s, p, c.log.rotate_bytes);
  if (c.log.rotate_bytes != 0 && c.log.rotate_bytes < 4096) {
    p.add("audit.rotate_bytes", std::to_string(c.log.rotate_bytes), "0 (never) or at least 4KiB");
  }
  c.log.rotate_every = core::get_duration(a, "rotate_every", s, p, c.log.rotate_every);
  c.log.max_pending_bytes = core::get_size(a, "max_pending", s, p, c.log.max_pending_bytes);
  // The checkpoint signing key: the audit writer's own, never the keyring's (docs/audit.md).
  c.log.checkpoint_key = core::get_path(a, "checkpoint_key", s, p, base_dir, false,
                                        default_checkpoint_key_path(c.log.path));
  c.index_path = core::get_path(a, "index", s, p, base_dir, false, "audit/index.db");
  c.also = core::get_string(a, "also", s, p, false, "none");
  if (c.also != "none" && c.also != "stdout" && c.also != "syslog") {
    p.add("audit.also", c.also, "none, stdout or syslog");
  }
  if (YAML::Node sl = a["syslog"]; sl && sl.IsMap()) {
    core::reject_unknown_keys(sl, "audit.syslog", {"address", "facility", "app_name", "hostname"},
                              p);
    c.syslog.address = core::get_string(sl, "address", "audit.syslog", p, false, c.syslog.address);
    if (!c.syslog.address.starts_with("unix://") && !c.syslog.address.starts_with("udp://")) {
      p.add("audit.syslog.address", c.syslog.address, "unix:///dev/log or udp://host:514");
    }
    std::string f = core::get_string(sl, "facility", "audit.syslog", p, false, "authpriv");
    c.syslog.facility = syslog_facility(f);
    if (c.syslog.facility < 0) {
      p.add("audit.syslog.facility", f, "auth, authpriv, daemon, user or local0..local7");
    }
    c.syslog.app_name =
        core::get_string(sl, "app_name", "audit.syslog", p, false, c.syslog.app_name);
    c.syslog.hostname = core::get_string(sl, "hostname", "audit.syslog", p, false);
  }
  return c;
}

Result<std::vector<std::unique_ptr<Sink>>> open_sinks(const AuditConfig& c) {
  std::vector<std::unique_ptr<Sink>> out;
  if (c.also == "stdout") out.push_back(std::make_unique<StdoutSink>());
  if (c.also == "syslog") {
    CG_TRY(auto s, SyslogSink::open(c.syslog));
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace cg::audit
