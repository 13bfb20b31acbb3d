// Copies of every audit record for a log shipper: stdout (one JSON line each), or syslog
// (RFC 5424 over UDP or a Unix datagram socket, one record per message, MSGID = event type).
// The file stays the record of truth; a copy that cannot be sent is counted, not retried.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "audit/log.h"
#include "core/result.h"

namespace cg::audit {

class StdoutSink final : public Sink {
 public:
  void emit(std::string_view lines) override;
};

struct SyslogOptions {
  std::string address = "unix:///dev/log";  // or udp://host:port
  int facility = 10;                        // authpriv (RFC 5424 numbering)
  std::string app_name = "claimgate";
  std::string hostname;  // empty: the machine's name
};

class SyslogSink final : public Sink {
 public:
  static Result<std::unique_ptr<SyslogSink>> open(SyslogOptions o);
  ~SyslogSink() override;
  void emit(std::string_view lines) override;
  uint64_t send_errors() const { return errors_.load(); }
  // One RFC 5424 message for a record line.
  std::string format(std::string_view line) const;

 private:
  SyslogSink(SyslogOptions o, int fd) : opt_(std::move(o)), fd_(fd) {}
  SyslogOptions opt_;
  int fd_;
  std::string procid_;
  std::atomic<uint64_t> errors_{0};
};

// "auth" -> 4, "authpriv" -> 10, "daemon" -> 3, "local0".."local7" -> 16..23; -1 otherwise.
int syslog_facility(std::string_view name);

}  // namespace cg::audit
