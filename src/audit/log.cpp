#include "audit/log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "audit/errors.h"

namespace cg::audit {
namespace {

namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

constexpr size_t kTailWindow = 4u << 20;  // a record is never near this long

struct FileEnd {
  std::string last_line;  // the last whole record ("" when none)
  std::string first_line;
  std::string torn;  // bytes after the last newline (a record cut by a crash)
  uint64_t size = 0;
};

Result<FileEnd> read_end(const std::string& path) {
  FileEnd out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail(Code::kOpen, "cannot read " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  ::fstat(fd, &st);
  out.size = static_cast<uint64_t>(st.st_size);
  auto read_at = [&](uint64_t off, size_t n) {
    std::string buf(n, '\0');
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd, buf.data() + got, n - got, static_cast<off_t>(off + got));
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    buf.resize(got);
    return buf;
  };
  std::string head = read_at(0, std::min<uint64_t>(out.size, 1u << 20));
  if (size_t nl = head.find('\n'); nl != std::string::npos) out.first_line = head.substr(0, nl);
  uint64_t start = out.size > kTailWindow ? out.size - kTailWindow : 0;
  std::string tail = read_at(start, static_cast<size_t>(out.size - start));
  ::close(fd);
  size_t last_nl = tail.rfind('\n');
  if (last_nl == std::string::npos) {
    if (start != 0) return fail(Code::kOpen, path + " ends with a line longer than 4 MiB");
    out.torn = tail;
    return out;
  }
  out.torn = tail.substr(last_nl + 1);
  size_t prev_nl = last_nl == 0 ? std::string::npos : tail.rfind('\n', last_nl - 1);
  if (prev_nl == std::string::npos && start != 0)
    return fail(Code::kOpen, path + " ends with a line longer than 4 MiB");
  size_t from = prev_nl == std::string::npos ? 0 : prev_nl + 1;
  out.last_line = tail.substr(from, last_nl - from);
  return out;
}

std::pair<std::string, std::string> stem_and_ext(const std::string& path) {
  if (path.size() > 6 && path.ends_with(".jsonl"))
    return {path.substr(0, path.size() - 6), ".jsonl"};
  return {path, ""};
}

std::string rotated_name(const std::string& path, uint64_t first_seq) {
  auto [stem, ext] = stem_and_ext(path);
  char num[24];
  std::snprintf(num, sizeof num, "%012llu", static_cast<unsigned long long>(first_seq));
  return stem + "-" + num + ext;
}

void sync_dir(const std::string& path) {
  std::string dir = fs::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d >= 0) {
    ::fsync(d);
    ::close(d);
  }
}

}  // namespace

std::vector<std::string> log_files(const std::string& path) {
  auto [stem, ext] = stem_and_ext(path);
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::string prefix = fs::path(stem).filename().string() + "-";
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (!name.starts_with(prefix) || !name.ends_with(ext)) continue;
    std::string mid = name.substr(prefix.size(), name.size() - prefix.size() - ext.size());
    if (mid.size() != 12 || !std::all_of(mid.begin(), mid.end(), ::isdigit)) continue;
    out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  if (fs::exists(path, ec)) out.push_back(path);
  return out;
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(LogOptions options, const core::Clock& clock,
                                                 std::vector<std::unique_ptr<Sink>> sinks) {
  std::string path = options.checkpoint_key.empty() ? default_checkpoint_key_path(options.path)
                                                    : options.checkpoint_key;
  bool created = false;
  CG_TRY(auto key, CheckpointKey::load_or_create(path, &created));
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(options), std::move(key), clock));
  log->ckey_path_ = path;
  log->ckey_created_ = created;
  if (created) {
    log->notes_.push_back("created the audit checkpoint key " + path + " (" + log->ckey_.id +
                          ", sha256:" + log->ckey_.sha256 + "; public key in " + path + ".pub)");
  }
  log->sinks_ = std::move(sinks);
  if (auto st = log->start(); !st) return fail(st.take_error());
  return log;
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(LogOptions options, const crypto::Keyring&,
                                                 const core::Clock& clock,
                                                 std::vector<std::unique_ptr<Sink>> sinks) {
  return open(std::move(options), clock, std::move(sinks));
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(LogOptions options, CheckpointKey key,
                                                 const core::Clock& clock,
                                                 std::vector<std::unique_ptr<Sink>> sinks) {
  if (!key.key) return fail(Code::kCheckpoint, "the audit checkpoint key has no private part");
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(options), std::move(key), clock));
  log->sinks_ = std::move(sinks);
  if (auto st = log->start(); !st) return fail(st.take_error());
  return log;
}

Status AuditLog::start() {
  std::error_code ec;
  fs::path dir = fs::path(opt_.path).parent_path();
  if (!dir.empty()) {
    fs::create_directories(dir, ec);
    if (ec) return fail(Code::kOpen, "cannot create " + dir.string() + ": " + ec.message());
  }
  prev_ = std::string(kGenesis);
  next_seq_ = 1;
  std::string torn, torn_file;
  bool need_file_start = false;
  std::string continued_from;
  auto continue_from = [&](const FileEnd& end, const std::string& file) -> Status {
    auto f = read_fixed(end.last_line);
    if (!f) {
      return fail(Code::kOpen, "the last line of " + file +
                                   " is not an audit record; run `claimgate audit verify " + file +
                                   "`, and move the file aside to start a new chain");
    }
    next_seq_ = f->seq + 1;
    prev_ = to_hex(hash_line(end.last_line));
    continued_from = file;
    return {};
  };
  auto files = log_files(opt_.path);
  bool current = fs::exists(opt_.path, ec) && fs::file_size(opt_.path, ec) > 0;
  std::optional<uint64_t> first_seq;
  if (current) {
    CG_TRY(FileEnd end, read_end(opt_.path));
    torn = end.torn;
    torn_file = opt_.path;
    if (!end.last_line.empty()) {
      CG_CHECK(continue_from(end, opt_.path));
    }
    if (auto f = read_fixed(end.first_line)) first_seq = f->seq;
  }
  if (continued_from.empty()) {
    // No whole record in the current file: the chain goes on from the newest rotated file.
    for (auto it = files.rbegin(); it != files.rend(); ++it) {
      if (*it == opt_.path) continue;
      CG_TRY(FileEnd end, read_end(*it));
      if (end.last_line.empty()) continue;
      CG_CHECK(continue_from(end, *it));
      need_file_start = true;
      break;
    }
  }
  fd_ = ::open(opt_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd_ < 0) {
    return fail(Code::kOpen,
                "cannot open " + opt_.path + " for appending: " + std::strerror(errno));
  }
  struct stat st {};
  ::fstat(fd_, &st);
  file_bytes_ = static_cast<uint64_t>(st.st_size);
  file_first_seq_ = first_seq.value_or(next_seq_);
  file_opened_ = clock_.now();
  if (!continued_from.empty()) {
    notes_.push_back("continuing the chain of " + continued_from + " at record " +
                     std::to_string(next_seq_));
  }
  if (!torn.empty()) {
    out_ += '\n';
    Event ev(type::kRecovered, clock_.now());
    ev.str("file", fs::path(torn_file).filename().string())
        .num("torn_bytes", static_cast<int64_t>(torn.size()))
        .str("torn_sha256", to_hex(hash_line(torn)))
        .str("note",
             "the line before this one is a record the writer did not finish (the process "
             "stopped mid-write); it is kept, and the chain links past it");
    add_record(ev.body());
    notes_.push_back("closed a record torn by a crash at the end of " + torn_file + " (" +
                     std::to_string(torn.size()) + " bytes), declared by audit.recovered");
  }
  if (need_file_start) {
    Event ev(type::kFileStart, clock_.now());
    ev.str("previous_file", fs::path(continued_from).filename().string())
        .str("checkpoint_key", ckey_.id)
        .str("checkpoint_key_sha256", ckey_.sha256);
    add_record(ev.body());
  }
  add_checkpoint("start");
  auto now = Steady::now();
  last_sync_ = last_checkpoint_ = now;
  if (!flush(true)) {
    ::close(fd_);
    fd_ = -1;
    return fail(Code::kWrite, "cannot write the audit log: " + error_);
  }
  sync_dir(opt_.path);
  thread_ = std::thread([this] { run(); });
  return {};
}

AuditLog::~AuditLog() { close(); }

void AuditLog::close() {
  {
    std::lock_guard lk(mu_);
    if (closed_) return;
    closed_ = true;
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  durable_cv_.notify_all();
}

AuditLog::Ticket AuditLog::append(Event event, Durability d) {
  bool wake = false;
  Ticket t;
  {
    std::lock_guard lk(mu_);
    if (stop_) return 0;
    t = next_ticket_++;
    if (queue_.empty()) {
      oldest_batched_ = Steady::now();
      rethink_ = true;  // the writer sleeps until it has work: tell it when the first arrives
      wake = true;
    }
    size_t before = queued_bytes_;
    queued_bytes_ += event.body().size();
    queue_.push_back(Item{event.take_body(), d, t});
    bool crossed = before < (1u << 20) && queued_bytes_ >= (1u << 20);
    if (d == Durability::kDurable || crossed) {
      urgent_ = true;
      wake = true;
    }
  }
  if (wake) cv_.notify_one();
  return t;
}

void AuditLog::when_durable(Ticket t, std::function<void(bool)> done) {
  std::unique_lock lk(mu_);
  if (t <= durable_ticket_ || failed_.load() || stop_) {
    bool ok = t <= durable_ticket_;
    lk.unlock();
    done(ok);
    return;
  }
  waiters_.emplace_back(t, std::move(done));
  urgent_ = true;
  lk.unlock();
  cv_.notify_one();
}

bool AuditLog::wait_durable(Ticket t, std::chrono::milliseconds max) {
  std::unique_lock lk(mu_);
  urgent_ = true;
  cv_.notify_one();
  durable_cv_.wait_for(lk, max, [&] { return durable_ticket_ >= t || failed_.load() || closed_; });
  return durable_ticket_ >= t;
}

bool AuditLog::healthy(std::string* why) const {
  if (!failed_.load()) return true;
  if (why) {
    std::lock_guard lk(mu_);
    *why = error_;
  }
  return false;
}

LogStats AuditLog::stats() const {
  LogStats s;
  s.records = records_.load();
  s.bytes = bytes_.load();
  s.syncs = syncs_.load();
  s.write_errors = write_errors_.load();
  s.dropped = dropped_.load();
  s.checkpoints = checkpoints_.load();
  s.rotations = rotations_.load();
  s.pending_bytes = pending_bytes_.load();
  s.last_seq = last_seq_.load();
  return s;
}

void AuditLog::add_record(std::string_view body) {
  // Formatted in place at the end of out_, hashed there: no copy of the line.
  if (instance_json_.empty()) append_json_string(instance_json_, opt_.instance);
  size_t start = out_.size();
  append_record(out_, next_seq_, body, instance_json_, prev_);
  end_record(start);
}

void AuditLog::add_line(const std::string& line) {
  size_t start = out_.size();
  out_ += line;
  end_record(start);
}

void AuditLog::end_record(size_t start) {
  prev_ = to_hex(hash_line(std::string_view(out_).substr(start)));
  out_ += '\n';
  last_seq_ = next_seq_;
  ++next_seq_;
  ++since_checkpoint_;
  ++records_;
  pending_bytes_ = out_.size();
}

void AuditLog::add_checkpoint(std::string_view reason) {
  Event ev(type::kCheckpoint, clock_.now());
  ev.str("reason", reason).num("records", static_cast<int64_t>(next_seq_ - 1));
  auto line = checkpoint_line(ckey_, next_seq_, ev.body(), opt_.instance, prev_);
  if (!line) {
    log_.error("cannot sign an audit checkpoint: ", core::log_quote(line.error().message));
    return;
  }
  add_line(*line);
  since_checkpoint_ = 0;
  last_checkpoint_ = Steady::now();
  ++checkpoints_;
}

void AuditLog::fail_with(const std::string& what, int err) {
  ++write_errors_;
  std::string msg = what + " " + opt_.path + ": " + std::strerror(err);
  if (!failed_.load()) {
    log_.error("code=", static_cast<int>(Code::kWrite), " ", code_name(Code::kWrite),
               " message=", core::log_quote(msg),
               "; records stay queued in memory and the write is retried");
  }
  failed_ = true;
  retry_at_ = Steady::now() + opt_.retry_interval;
  std::lock_guard lk(mu_);
  error_ = msg;
}

bool AuditLog::flush(bool sync) {
  if (fd_ < 0) {
    fd_ = ::open(opt_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd_ < 0) {
      fail_with("cannot open", errno);
      return false;
    }
    struct stat st {};
    ::fstat(fd_, &st);
    file_bytes_ = static_cast<uint64_t>(st.st_size);
  }
  if (!out_.empty()) {
    size_t off = 0;
    while (off < out_.size()) {
      ssize_t n = ::write(fd_, out_.data() + off, out_.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int err = n < 0 ? errno : ENOSPC;
        // Cut a partial write back to the last whole record; the whole batch is retried.
        if (off > 0 && ::ftruncate(fd_, static_cast<off_t>(file_bytes_)) != 0) {
          log_.error("cannot cut a partial audit write back: ", std::strerror(errno));
        }
        fail_with("cannot write", err);
        return false;
      }
      off += static_cast<size_t>(n);
    }
    std::string_view lines(out_);
    if (lines.starts_with("\n")) lines.remove_prefix(1);
    for (auto& s : sinks_) s->emit(lines);
    file_bytes_ += out_.size();
    bytes_ += out_.size();
    out_.clear();
    pending_bytes_ = 0;
    written_ticket_ = formatted_ticket_;
    unsynced_ = true;
  }
  if (sync && unsynced_) {
    if (::fdatasync(fd_) != 0) {
      fail_with("cannot sync", errno);
      return false;
    }
    unsynced_ = false;
    synced_ticket_ = written_ticket_;
    last_sync_ = Steady::now();
    ++syncs_;
  }
  return true;
}

void AuditLog::rotate() {
  add_checkpoint("rotate");
  if (!flush(true)) return;
  std::string rotated = rotated_name(opt_.path, file_first_seq_);
  if (::rename(opt_.path.c_str(), rotated.c_str()) != 0) {
    log_.error("cannot rotate ", opt_.path, " to ", rotated, ": ", std::strerror(errno),
               "; the current file grows on");
    return;
  }
  ::close(fd_);
  fd_ = -1;
  sync_dir(opt_.path);
  file_bytes_ = 0;
  file_first_seq_ = next_seq_;
  file_opened_ = clock_.now();
  Event ev(type::kFileStart, file_opened_);
  ev.str("previous_file", fs::path(rotated).filename().string())
      .str("checkpoint_key", ckey_.id)
      .str("checkpoint_key_sha256", ckey_.sha256);
  add_record(ev.body());
  // The new file is signed from its start: `audit verify` requires a signed checkpoint in
  // every file, right after its audit.file_start.
  add_checkpoint("file_start");
  ++rotations_;
  if (flush(true)) sync_dir(opt_.path);
  log_.info("rotated the audit log to ", rotated);
}

void AuditLog::settle() {
  std::vector<std::function<void(bool)>> ok, failed;
  {
    std::lock_guard lk(mu_);
    durable_ticket_ = std::max(durable_ticket_, synced_ticket_);
    bool is_failed = failed_.load();
    auto it = std::partition(waiters_.begin(), waiters_.end(), [&](const auto& w) {
      return w.first > durable_ticket_ && !is_failed;
    });
    for (auto j = it; j != waiters_.end(); ++j) {
      (j->first <= durable_ticket_ ? ok : failed).push_back(std::move(j->second));
    }
    waiters_.erase(it, waiters_.end());
  }
  durable_cv_.notify_all();
  for (auto& f : ok) f(true);
  for (auto& f : failed) f(false);
}

void AuditLog::run() {
  std::unique_lock lk(mu_);
  for (;;) {
    auto now = Steady::now();
    auto deadline = now + std::chrono::hours(1);
    if (!queue_.empty()) deadline = std::min(deadline, oldest_batched_ + opt_.flush_interval);
    if (unsynced_) deadline = std::min(deadline, last_sync_ + opt_.batch_bound);
    if (since_checkpoint_ > 0)
      deadline = std::min(deadline, last_checkpoint_ + opt_.checkpoint_interval);
    if (opt_.rotate_every.count() > 0) deadline = std::min(deadline, now + std::chrono::seconds(1));
    if (failed_.load() || !out_.empty()) deadline = std::min(deadline, retry_at_);
    cv_.wait_until(lk, deadline, [&] { return stop_ || urgent_ || rethink_; });
    if (rethink_ && !stop_ && !urgent_) {
      rethink_ = false;  // the first event of a batch arrived: its flush deadline counts now
      continue;
    }
    rethink_ = false;
    std::vector<Item> batch;
    batch.swap(queue_);
    queued_bytes_ = 0;
    urgent_ = false;
    bool stopping = stop_;
    bool waiting = !waiters_.empty();
    lk.unlock();

    bool durable = waiting || stopping;
    for (auto& item : batch) {
      formatted_ticket_ = item.ticket;
      if (out_.size() + item.body.size() > opt_.max_pending_bytes) {
        ++dropped_;  // only while the disk fails: the bound keeps memory in check
        continue;
      }
      add_record(item.body);
      durable = durable || item.durability == Durability::kDurable;
      if (since_checkpoint_ >= opt_.checkpoint_every) add_checkpoint("count");
    }
    now = Steady::now();
    if (since_checkpoint_ > 0 && now >= last_checkpoint_ + opt_.checkpoint_interval)
      add_checkpoint("interval");
    if (stopping && since_checkpoint_ > 0) add_checkpoint("shutdown");
    bool was_failed = failed_.load();
    if (!was_failed || now >= retry_at_ || stopping) {
      bool sync = durable || (now >= last_sync_ + opt_.batch_bound);
      bool ok = flush(sync || was_failed);
      if (ok && was_failed) {
        failed_ = false;
        {
          std::lock_guard g(mu_);
          error_.clear();
        }
        log_.info("the audit log is writable again; every queued record is on disk");
      }
      bool rotate_due =
          ok && ((opt_.rotate_bytes > 0 && file_bytes_ >= opt_.rotate_bytes) ||
                 (opt_.rotate_every.count() > 0 &&
                  clock_.now() - file_opened_ >= opt_.rotate_every && file_bytes_ > 0));
      if (rotate_due && !stopping) rotate();
    }
    settle();
    lk.lock();
    if (stopping && queue_.empty()) break;
  }
  if (!out_.empty()) {
    log_.error("stopping with ", out_.size(),
               " bytes of audit records not written: ", core::log_quote(error_));
  }
}

}  // namespace cg::audit
