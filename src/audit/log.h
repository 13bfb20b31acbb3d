// The audit log writer: one append-only, hash-chained JSON-lines file per gateway, rotated
// into numbered files beside it (audit.jsonl -> audit-000000000001.jsonl, named by the
// first sequence number they hold, so name order is chain order).
//
// Callers queue events from any thread; one writer thread gives each its sequence number and
// chain hash, writes, and syncs:
//   - durable events (sign-ins, denials, revocations, jobs) are synced before the caller is
//     told they are on disk (group commit: every event queued during one fdatasync joins the
//     next), so the caller answers only then;
//   - batched events (allow decisions) are written within `flush_interval` and synced within
//     `batch_bound`.
// A signed checkpoint follows every `checkpoint_every` records, every `checkpoint_interval`
// with new records, each rotation (the last record of the rotated file, and the record after
// the new file's audit.file_start) and each start (after its audit.recovered/audit.file_start,
// if any) and clean stop (unless the last record already is one). When a write or sync fails (disk
// full, read-only), records stay queued in memory (up to `max_pending_bytes`), the log reports
// itself unhealthy, and the writer retries; nothing written is lost or duplicated: a partial
// write is cut back to the last whole record before the retry.
//
// On start the writer continues the chain from the last whole record of the current file (or
// of the newest rotated file). A record torn by a crash stays in the file, closed by a newline
// and declared by an audit.recovered record (its length and hash), which `audit verify`
// accepts; the chain links past it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audit/chain.h"
#include "audit/checkpoint_key.h"
#include "audit/event.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "crypto/keyring.h"

namespace cg::audit {

// Another destination for every record (a log shipper's stdout, syslog).
class Sink {
 public:
  virtual ~Sink() = default;
  // `lines`: whole records, each ending with '\n', already on disk.
  virtual void emit(std::string_view lines) = 0;
};

struct LogOptions {
  std::string path;                               // the current file
  std::string instance;                           // this gateway's name in every record
  std::chrono::milliseconds flush_interval{100};  // batched events written within this
  std::chrono::milliseconds batch_bound{1000};    // ... and synced within this
  uint64_t checkpoint_every = 1000;               // records between checkpoints
  std::chrono::seconds checkpoint_interval{300};  // a checkpoint at least this often (if new)
  uint64_t rotate_bytes = 64ull << 20;            // rotate when the file reaches this size
  std::chrono::seconds rotate_every{0};           // ... or is this old (0: size only)
  size_t max_pending_bytes = 64u << 20;  // held in memory while the disk fails; then dropped
  std::chrono::milliseconds retry_interval{1000};  // retry after a failed write
  // The checkpoint signing key's file (created on first start); empty: the default,
  // audit-checkpoint.pem beside `path` (default_checkpoint_key_path).
  std::string checkpoint_key;
};

struct LogStats {
  uint64_t records = 0;  // records written (checkpoints included)
  uint64_t bytes = 0;    // bytes written
  uint64_t syncs = 0;    // fdatasync calls that succeeded
  uint64_t write_errors = 0;
  uint64_t dropped = 0;  // events lost because the memory bound was reached while failing
  uint64_t checkpoints = 0;
  uint64_t rotations = 0;
  uint64_t pending_bytes = 0;  // formatted but not yet on disk
  uint64_t last_seq = 0;
};

class AuditLog {
 public:
  // Opens (creating) the log, continues its chain, and starts the writer thread. The
  // checkpoints are signed with the key in options.checkpoint_key, created there when missing;
  // only the audit writer loads it (never the keyring, which requests use).
  static Result<std::unique_ptr<AuditLog>> open(LogOptions options, const core::Clock& clock,
                                                std::vector<std::unique_ptr<Sink>> sinks = {});
  // The same with a checkpoint key already loaded (tests).
  static Result<std::unique_ptr<AuditLog>> open(LogOptions options, CheckpointKey key,
                                                const core::Clock& clock,
                                                std::vector<std::unique_ptr<Sink>> sinks = {});
  // Kept for callers written before the checkpoint key: `keys` is not used (checkpoints are
  // signed with the checkpoint key file, as above).
  static Result<std::unique_ptr<AuditLog>> open(LogOptions options, const crypto::Keyring& keys,
                                                const core::Clock& clock,
                                                std::vector<std::unique_ptr<Sink>> sinks = {});
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  using Ticket = uint64_t;
  // Queues an event; returns its ticket (tickets increase in queue order).
  Ticket append(Event event, Durability d);
  // Calls `done(true)` once the ticket's record is synced, or `done(false)` as soon as the log
  // is failing (the record stays queued and is written when the disk recovers). Called on the
  // writer thread, or at once on the caller's when the answer is already known.
  void when_durable(Ticket t, std::function<void(bool)> done);
  // Blocks until the ticket is synced (true) or the log fails or `max` passes (false).
  bool wait_durable(Ticket t, std::chrono::milliseconds max = std::chrono::seconds(10));

  // False while writes fail; `why` says what the disk answered.
  bool healthy(std::string* why = nullptr) const;
  LogStats stats() const;
  const LogOptions& options() const { return opt_; }
  // Every note the open made (a torn record closed, the chain continued from ...).
  const std::vector<std::string>& notes() const { return notes_; }
  // The key that signs the checkpoints (its id, fingerprint and public key: print to pin).
  const CheckpointKey& checkpoint_key() const { return ckey_; }
  // Where it is (empty when it was given, not read from a file), and whether this open made it.
  const std::string& checkpoint_key_path() const { return ckey_path_; }
  bool checkpoint_key_created() const { return ckey_created_; }

  // Writes a shutdown checkpoint, syncs, and stops the writer. Idempotent.
  void close();

 private:
  struct Item {
    std::string body;
    Durability durability;
    Ticket ticket;
  };
  AuditLog(LogOptions o, CheckpointKey k, const core::Clock& c)
      : opt_(std::move(o)), ckey_(std::move(k)), clock_(c) {}
  Status start();
  void run();
  // Writer-thread helpers (no lock held).
  void add_record(std::string_view body);
  void add_line(const std::string& line);
  // The line from out_[start] is whole: hash it, end it, count it.
  void end_record(size_t start);
  void add_checkpoint(std::string_view reason);
  bool flush(bool sync);  // writes out_, syncs when asked; false on failure
  void rotate();
  void fail_with(const std::string& what, int err);
  // Publishes the synced ticket and answers the waiters it settles.
  void settle();

  LogOptions opt_;
  CheckpointKey ckey_;
  std::string ckey_path_;
  bool ckey_created_ = false;
  const core::Clock& clock_;
  std::vector<std::unique_ptr<Sink>> sinks_;
  std::vector<std::string> notes_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable durable_cv_;
  std::vector<Item> queue_;
  size_t queued_bytes_ = 0;
  bool urgent_ = false;   // a durable event or a waiter: write and sync now
  bool rethink_ = false;  // the queue was empty and is not: recompute the writer's deadline
  bool stop_ = false;
  bool closed_ = false;
  Ticket next_ticket_ = 1;
  Ticket durable_ticket_ = 0;  // every ticket <= this is synced
  std::vector<std::pair<Ticket, std::function<void(bool)>>> waiters_;
  std::string error_;  // empty while healthy
  std::chrono::steady_clock::time_point oldest_batched_{};

  // Writer-thread state.
  int fd_ = -1;
  uint64_t file_bytes_ = 0;  // bytes on disk in the current file (whole records only)
  uint64_t next_seq_ = 1;
  std::string prev_;             // hex hash of the last record formatted
  std::string instance_json_;    // opt_.instance as a JSON string
  std::string out_;              // formatted, not yet written
  Ticket formatted_ticket_ = 0;  // highest ticket in out_ or on disk
  Ticket written_ticket_ = 0;    // highest ticket written (maybe not synced)
  Ticket synced_ticket_ = 0;     // highest ticket synced
  uint64_t file_first_seq_ = 1;  // the current file's first record (its name once rotated)
  bool unsynced_ = false;
  uint64_t since_checkpoint_ = 0;
  std::chrono::steady_clock::time_point last_sync_{}, last_checkpoint_{}, retry_at_{};
  core::WallTime file_opened_{};
  std::atomic<bool> failed_{false};

  std::atomic<uint64_t> records_{0}, bytes_{0}, syncs_{0}, write_errors_{0}, dropped_{0},
      checkpoints_{0}, rotations_{0}, pending_bytes_{0}, last_seq_{0};
  std::thread thread_;
  core::Logger log_{"audit"};
};

// The files of one log, oldest first: the rotated files beside `path`, then `path` itself
// when it exists.
std::vector<std::string> log_files(const std::string& path);

}  // namespace cg::audit
