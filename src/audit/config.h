// The `audit:` section of the gateway's config, compiled (docs/configuration.md and
// docs/audit.md have it with examples):
//
//   audit:
//     enabled: true                  # false: no audit log (claimgate check warns)
//     path: audit/audit.jsonl        # the current file; rotated files beside it
//     instance: <host name>          # this gateway's name in every record
//     on_failure: closed             # the disk fails: closed refuses sign-ins and every
//                                    # request; open_reads refuses sign-ins and writes but
//                                    # lets GET/HEAD through
//     decisions: all                 # all | deny (allow decisions are not recorded)
//     flush_interval: 100ms          # allow decisions are written within this ...
//     batch_bound: 1s                # ... and synced within this
//     checkpoint_every: 1000         # records between signed checkpoints
//     checkpoint_interval: 5m        # and at least this often while records arrive
//     rotate_bytes: 64MiB            # rotate at this size ...
//     rotate_every: 0                # ... or this age (24h; 0: by size only)
//     max_pending: 64MiB             # records held in memory while the disk fails
//     index: audit/index.db          # the SQLite index `claimgate audit report` reads
//     checkpoint_key: audit/audit-checkpoint.pem  # signs the checkpoints (EC P-256, 0600,
//                                    # created on first start; its public key in <file>.pub);
//                                    # default: beside `path`. Not the keyring: see audit.md
//     also: none                     # none | stdout | syslog: a copy for a log shipper
//     syslog: {address: "unix:///dev/log", facility: authpriv, app_name: claimgate}
#pragma once

#include <optional>
#include <string>

#include "audit/log.h"
#include "audit/sinks.h"
#include "core/config.h"

namespace cg::audit {

enum class FailureMode { kClosed, kOpenReads };

struct AuditConfig {
  bool enabled = true;
  LogOptions log;
  FailureMode on_failure = FailureMode::kClosed;
  bool record_allows = true;
  std::string index_path;
  std::string also = "none";
  SyslogOptions syslog;
};

// Compiles root["audit"] (absent: the defaults, under the config file's directory).
AuditConfig compile_audit_config(const YAML::Node& root, const std::string& base_dir,
                                 core::Problems& p);

// Opens the configured copies (stdout, syslog).
Result<std::vector<std::unique_ptr<Sink>>> open_sinks(const AuditConfig& c);

}  // namespace cg::audit
