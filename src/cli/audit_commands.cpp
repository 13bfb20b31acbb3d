#include "cli/audit_commands.h"

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "audit/checkpoint_key.h"
#include "audit/config.h"
#include "audit/errors.h"
#include "audit/index.h"
#include "audit/log.h"
#include "audit/report.h"
#include "audit/verify.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/encoding.h"
#include "crypto/keyring.h"

namespace cg::cli {
namespace {

using json = nlohmann::json;

struct Options {
  std::string config;
  std::string keys;
  std::string log;
  std::string index;
  std::vector<std::string> files;
  std::string checkpoint_key;  // the pin: a key file or sha256:HEX
  bool no_signatures = false;
  bool no_keyring_checkpoints = false;
  bool legacy_keyring_checkpoints = false;
  bool closed = false;
  uint64_t max_unsigned = 0;  // 0: audit.checkpoint_every (from --config), else 1000
  bool as_json = false;
  std::string since = "30d";
  std::string until;
  std::string format = "html";
  std::string out;
  std::string subject, type, project;
  size_t limit = 200;
};

// Where the log, its index and the keyring are: from --config, overridden by flags.
struct Where {
  std::vector<std::string> files;
  std::string index;
  std::optional<crypto::Keyring> keys;
  std::vector<std::string> pinned;  // checkpoint keys (hex SHA-256)
  std::string pinned_from;          // where the pin came from, for the output
  uint64_t checkpoint_every = 0;    // the configured audit.checkpoint_every (0: not known)
  bool has_keys() const { return keys || !pinned.empty(); }
  audit::VerifyKeys verify_keys(const Options& o) const {
    audit::VerifyKeys k;
    k.pinned = pinned;
    k.keyring = keys ? &*keys : nullptr;
    k.refuse_keyring = o.no_keyring_checkpoints;
    k.legacy_keyring = o.legacy_keyring_checkpoints && !o.no_keyring_checkpoints;
    k.closed = o.closed;
    if (o.max_unsigned) {
      k.max_unsigned = o.max_unsigned;
    } else if (checkpoint_every) {
      k.max_unsigned = checkpoint_every;
    }
    return k;
  }
};

Result<Where> locate(const Options& o, bool need_files = true) {
  Where w;
  std::string log = o.log, index = o.index, keys = o.keys, checkpoint_key;
  if (!o.config.empty()) {
    core::Problems p;
    auto root = core::load_yaml(o.config, p);
    if (!root) return fail(Error{2, "usage", p.to_string()});
    std::string base = core::config_dir(o.config);
    auto a = audit::compile_audit_config(*root, base, p);
    if (!p.empty()) return fail(Error{2, "usage", "audit section: " + p.to_string()});
    if (log.empty()) log = a.log.path;
    if (index.empty()) index = a.index_path;
    checkpoint_key = a.log.checkpoint_key;
    w.checkpoint_every = a.log.checkpoint_every;
    if (keys.empty()) {
      keys = core::get_path(*root, "keys", "", p, base, false);
    }
  }
  w.files = o.files;
  if (w.files.empty() && !log.empty()) w.files = audit::log_files(log);
  if (need_files && w.files.empty()) {
    return fail(
        Error{2, "usage", "no audit log: give --config (the gateway's), --log PATH, or files"});
  }
  if (index.empty() && !log.empty()) {
    index = (std::filesystem::path(log).parent_path() / "index.db").string();
  }
  w.index = index;
  // The checkpoint key pinned: --checkpoint-key, else the configured file (its private key,
  // or its .pub when only that is readable).
  if (!o.checkpoint_key.empty()) {
    auto pin = audit::checkpoint_pin(o.checkpoint_key);
    if (!pin) return fail(Error{2, "usage", pin.error().message});
    w.pinned.push_back(*pin);
    w.pinned_from = "--checkpoint-key";
  }
  if (w.pinned.empty() && !checkpoint_key.empty()) {
    std::error_code ec;
    for (const auto& f : {checkpoint_key, checkpoint_key + ".pub"}) {
      if (!std::filesystem::exists(f, ec)) continue;
      if (auto pin = audit::checkpoint_pin(f)) {
        w.pinned.push_back(*pin);
        w.pinned_from = f;
        break;
      }
    }
  }
  if (!keys.empty()) {
    auto ring = crypto::Keyring::load(keys, nullptr, /*with_retired=*/true);
    if (!ring) return fail(Error{2, "usage", "keys: " + ring.error().message});
    w.keys = std::move(*ring);
  }
  return w;
}

int usage_error(const std::string& cmd, const Error& e) {
  std::cerr << "claimgate audit " << cmd << ": " << e.message << "\n";
  return 2;
}

int run_verify(const Options& o) {
  auto w = locate(o);
  if (!w) return usage_error("verify", w.error());
  if (!w->has_keys() && !o.no_signatures) {
    return usage_error(
        "verify", Error{2, "usage",
                        "checkpoint signatures need the audit checkpoint key: give --config or "
                        "--checkpoint-key FILE|sha256:HEX (and --keys DIR for logs written "
                        "before it), or --no-signatures to check the chain only"});
  }
  auto vk = w->verify_keys(o);
  // What the index saw last, if it exists: records removed from the end show as a head the
  // files no longer reach.
  std::optional<audit::Index::Head> head;
  std::vector<audit::Index::Head> heads;
  if (!o.index.empty() || !o.config.empty()) {
    if (std::filesystem::exists(w->index)) {
      if (auto idx = audit::Index::open(w->index)) {
        if (auto h = (*idx)->heads()) heads = *h;
      }
    }
  }
  // One pass, keeping the hash of each record the index last saw; then the head of the log's
  // own instance is compared.
  std::vector<uint64_t> head_seqs;
  for (const auto& h : heads) head_seqs.push_back(h.seq);
  auto rep = audit::verify_files(w->files, o.no_signatures ? nullptr : &vk, head_seqs);
  for (const auto& h : heads) {
    if (h.instance == rep.instance) head = h;
  }
  if (rep.ok() && head) {
    if (head->seq > rep.last_seq) {
      rep.error =
          make_error(audit::Code::kTruncated,
                     "the index (" + w->index + ") saw record " + std::to_string(head->seq) +
                         " of " + head->instance + ", but the log ends at record " +
                         std::to_string(rep.last_seq) + ": records were removed from its end");
      rep.error_file = w->files.back();
    } else {
      auto seen = rep.captured.find(head->seq);
      if (seen == rep.captured.end() || seen->second != head->hash) {
        rep.error = make_error(audit::Code::kChain,
                               "record " + std::to_string(head->seq) +
                                   " is not the record the index saw (its hash differs): the "
                                   "log was rewritten from there on");
        rep.error_file = w->files.back();
      }
    }
  }
  if (o.as_json) {
    std::cout << audit::verify_json(rep, w->files).dump(2) << "\n";
    return rep.ok() ? 0 : 1;
  }
  for (const auto& n : rep.notes) std::cout << "note: " << n << "\n";
  if (!rep.ok()) {
    std::cout << "FAIL " << rep.error_file;
    if (rep.error_line) std::cout << ":" << rep.error_line;
    std::cout << ": " << rep.error->code << " " << rep.error->name << ": " << rep.error->message
              << "\n";
    return 1;
  }
  double rate = rep.seconds > 0 ? static_cast<double>(rep.records) / rep.seconds : 0;
  char speed[64];
  std::snprintf(speed, sizeof speed, "%.0f records/s", rate);
  std::cout << "OK: " << rep.records << " records (" << rep.first_seq << " to " << rep.last_seq
            << ") in " << w->files.size() << " file(s), " << rep.checkpoints << " checkpoint(s) "
            << (o.no_signatures ? "seen (signatures not checked)" : "verified")
            << (head ? ", the index's last record matches" : "") << "; " << speed << "\n";
  for (const auto& [who, n] : rep.signers) {
    bool keyring = who.starts_with("keyring key");
    std::cout << "signed by " << who << ": " << n << " checkpoint(s)"
              << (keyring ? " (keyring: a log written before the audit checkpoint key, "
                            "accepted by --legacy-keyring-checkpoints; whoever holds the "
                            "keyring could have re-signed them)"
                          : " (the audit checkpoint key, pinned by " + w->pinned_from + ")")
              << "\n";
  }
  if (!o.no_signatures) {
    std::cout << "unsigned tail: " << rep.unsigned_tail << " record(s) after the last signed "
              << "checkpoint" << (rep.unsigned_tail ? " (the live tail of a running gateway)" : "")
              << "\n";
  }
  return 0;
}

Result<std::unique_ptr<audit::Index>> updated_index(const Where& w, bool quiet) {
  CG_TRY(auto idx, audit::Index::open(w.index));
  CG_TRY(auto st, idx->update(w.files));
  if (!quiet) {
    std::cerr << "index " << w.index << ": " << st.new_records << " new record(s) from " << st.files
              << " file(s)"
              << (st.skipped ? ", " + std::to_string(st.skipped) + " torn line(s) skipped" : "")
              << "\n";
  }
  return idx;
}

int run_report(const Options& o) {
  auto w = locate(o);
  if (!w) return usage_error("report", w.error());
  if (o.format != "csv" && o.format != "json" && o.format != "html") {
    return usage_error("report", Error{2, "usage", "--format is csv, json or html"});
  }
  auto now = core::SystemClock::instance().now();
  auto since = audit::parse_since(o.since, now);
  if (!since) return usage_error("report", since.error());
  auto idx = updated_index(*w, false);
  if (!idx) return usage_error("report", idx.error());
  auto vk = w->verify_keys(o);
  auto chain = audit::verify_files(w->files, w->has_keys() ? &vk : nullptr);
  auto report = audit::build_report(**idx, *since, now, chain, w->files);
  if (!report) return usage_error("report", report.error());
  std::string text;
  if (o.format == "json") {
    text = report->dump(2) + "\n";
  } else if (o.format == "csv") {
    text = audit::report_csv(*report);
  } else {
    text = audit::report_html(*report);
  }
  if (o.out.empty()) {
    std::cout << text;
  } else if (auto st = core::write_file(o.out, text, 0640); !st) {
    std::cerr << "claimgate audit report: " << st.error().message << "\n";
    return 1;
  } else {
    std::cerr << "wrote " << o.out << " (" << text.size() << " bytes; chain "
              << (chain.ok() ? "intact" : "BROKEN") << ")\n";
  }
  return chain.ok() ? 0 : 1;
}

int run_search(const Options& o) {
  auto w = locate(o);
  if (!w) return usage_error("search", w.error());
  auto now = core::SystemClock::instance().now();
  audit::Query q;
  q.subject = o.subject;
  q.type = o.type;
  q.project = o.project;
  q.limit = o.limit;
  if (!o.since.empty()) {
    auto s = audit::parse_since(o.since, now);
    if (!s) return usage_error("search", s.error());
    q.since = *s;
  }
  if (!o.until.empty()) {
    auto u = audit::parse_since(o.until, now);
    if (!u) return usage_error("search", u.error());
    q.until = *u;
  }
  auto idx = updated_index(*w, true);
  if (!idx) return usage_error("search", idx.error());
  auto found = (*idx)->search(q);
  if (!found) return usage_error("search", found.error());
  for (const auto& line : *found) {
    if (o.as_json) {
      std::cout << line << "\n";
      continue;
    }
    json r = json::parse(line, nullptr, false);
    auto s = [&](const char* k) { return r.is_object() ? r.value(k, std::string()) : ""; };
    std::string what = s("method").empty() ? s("code") : s("method") + " " + s("path");
    std::string why = s("reason").empty() ? s("message") : s("reason") + " " + s("rule");
    std::cout << s("time").substr(0, 19) << "  " << s("type") << "  "
              << (s("subject").empty() ? "-" : s("subject")) << "  " << what << "  "
              << core::clip(why, 100) << "\n";
  }
  std::cerr << found->size() << " record(s)" << (found->size() == q.limit ? " (limit reached)" : "")
            << "\n";
  return 0;
}

}  // namespace

void add_audit_commands(CLI::App& app, int& exit_code) {
  static Options o;
  auto* audit = app.add_subcommand("audit", "The tamper-evident audit log: verify, report, search");
  audit->require_subcommand(1);
  auto common = [&](CLI::App* c) {
    c->add_option("--config,-c", o.config, "the gateway's config (finds the log, index, keys)");
    c->add_option("--log", o.log, "the current log file (rotated files beside it are included)");
    c->add_option("--index", o.index, "the SQLite index (default: index.db beside the log)");
    c->add_option("--keys", o.keys,
                  "the keyring directory (checkpoints of logs written before the checkpoint key)");
    c->add_option("--checkpoint-key", o.checkpoint_key,
                  "the audit checkpoint key to pin: its .pem or .pub file, or sha256:HEX as the "
                  "gateway printed at start (default: the configured file)");
  };
  auto* verify = audit->add_subcommand(
      "verify", "Check the hash chain and the signed checkpoints; exit 0 only when intact");
  common(verify);
  verify->add_option("files", o.files, "log files, oldest first (default: the configured log)");
  verify->add_flag("--no-signatures", o.no_signatures, "check the chain only");
  verify->add_flag("--legacy-keyring-checkpoints", o.legacy_keyring_checkpoints,
                   "also accept checkpoints signed by keyring keys (logs written before the "
                   "audit checkpoint key); whoever holds the keyring could have re-signed them");
  verify->add_flag("--closed", o.closed,
                   "the gateway is stopped: the log must end with a signed checkpoint");
  verify->add_option("--max-unsigned", o.max_unsigned,
                     "the most records the live tail may leave unsigned (default: "
                     "audit.checkpoint_every from --config, else 1000)");
  verify->add_flag("--no-keyring-checkpoints", o.no_keyring_checkpoints,
                   "refuse checkpoints signed by keyring keys (logs written before the checkpoint "
                   "key)");
  verify->add_flag("--json", o.as_json, "print the result as JSON");
  verify->callback([&exit_code] { exit_code = run_verify(o); });

  auto* report =
      audit->add_subcommand("report", "The access report for a SOC 2 / ISO 27001 review");
  common(report);
  report->add_option("--since", o.since, "30d, 12h or a date (2026-11-01)")->capture_default_str();
  report->add_option("--format", o.format, "csv, json or html")->capture_default_str();
  report->add_option("--out,-o", o.out, "write to this file (default: stdout)");
  report->add_option("files", o.files, "log files, oldest first (default: the configured log)");
  report->callback([&exit_code] { exit_code = run_report(o); });

  auto* search = audit->add_subcommand("search", "Find records: by subject, type, project, time");
  common(search);
  search->add_option("--subject", o.subject, "exact subject (NameID)");
  search->add_option("--type", o.type, "event type, or a prefix: authz.deny, login.*, session.");
  search->add_option("--project", o.project, "project");
  search->add_option("--since", o.since, "30d, 12h or a date")->capture_default_str();
  search->add_option("--until", o.until, "30d, 12h or a date");
  search->add_option("--limit", o.limit, "at most this many records")->capture_default_str();
  search->add_flag("--json", o.as_json, "print the records as written (JSON lines)");
  search->callback([&exit_code] { exit_code = run_search(o); });

  auto* index = audit->add_subcommand("index", "Bring the SQLite index up to date");
  common(index);
  index->add_option("files", o.files, "log files, oldest first (default: the configured log)");
  index->callback([&exit_code] {
    auto w = locate(o);
    if (!w) {
      exit_code = usage_error("index", w.error());
      return;
    }
    auto idx = updated_index(*w, false);
    exit_code = idx ? 0 : usage_error("index", idx.error());
  });
}

}  // namespace cg::cli
