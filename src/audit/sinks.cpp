#include "audit/sinks.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "audit/errors.h"

namespace cg::audit {

void StdoutSink::emit(std::string_view lines) {
  size_t off = 0;
  while (off < lines.size()) {
    ssize_t n = ::write(STDOUT_FILENO, lines.data() + off, lines.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

int syslog_facility(std::string_view name) {
  if (name == "auth") return 4;
  if (name == "authpriv") return 10;
  if (name == "daemon") return 3;
  if (name == "user") return 1;
  if (name.size() == 6 && name.starts_with("local") && name[5] >= '0' && name[5] <= '7')
    return 16 + (name[5] - '0');
  return -1;
}

Result<std::unique_ptr<SyslogSink>> SyslogSink::open(SyslogOptions o) {
  int fd = -1;
  if (o.address.starts_with("unix://")) {
    std::string path = o.address.substr(7);
    sockaddr_un sa{};
    if (path.size() >= sizeof sa.sun_path) {
      return fail(Code::kOpen, "syslog socket path too long: " + path);
    }
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      std::string why = std::strerror(errno);
      if (fd >= 0) ::close(fd);
      return fail(Code::kOpen, "cannot connect to the syslog socket " + path + ": " + why);
    }
  } else if (o.address.starts_with("udp://")) {
    std::string hp = o.address.substr(6);
    size_t colon = hp.rfind(':');
    if (colon == std::string::npos) return fail(Code::kOpen, "syslog udp address needs :port");
    std::string host = hp.substr(0, colon), port = hp.substr(colon + 1);
    if (host.starts_with("[") && host.ends_with("]")) host = host.substr(1, host.size() - 2);
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* res = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
      return fail(Code::kOpen,
                  "cannot resolve the syslog address " + hp + ": " + ::gai_strerror(rc));
    }
    fd = ::socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) == 0;
    std::string why = std::strerror(errno);
    ::freeaddrinfo(res);
    if (!ok) {
      if (fd >= 0) ::close(fd);
      return fail(Code::kOpen, "cannot open a UDP socket to " + hp + ": " + why);
    }
  } else {
    return fail(Code::kOpen,
                "syslog address '" + o.address + "': use unix:///dev/log or udp://host:514");
  }
  if (o.hostname.empty()) {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    o.hostname = name[0] ? name : "-";
  }
  std::unique_ptr<SyslogSink> s(new SyslogSink(std::move(o), fd));
  s->procid_ = std::to_string(::getpid());
  return s;
}

SyslogSink::~SyslogSink() {
  if (fd_ >= 0) ::close(fd_);
}

std::string SyslogSink::format(std::string_view line) const {
  // The record's own time and type (fixed places: {"seq":N,"time":"...","type":"...").
  std::string_view time = "-", type = "-";
  if (size_t t = line.find("\"time\":\""); t != std::string_view::npos && t < 40) {
    size_t e = line.find('"', t + 8);
    if (e != std::string_view::npos) time = line.substr(t + 8, e - t - 8);
  }
  if (size_t t = line.find("\"type\":\""); t != std::string_view::npos && t < 90) {
    size_t e = line.find('"', t + 8);
    if (e != std::string_view::npos) type = line.substr(t + 8, std::min<size_t>(e - t - 8, 32));
  }
  // Refusals and failures are warnings (4), the rest informational (6).
  bool warn = type.ends_with(".deny") || type.ends_with(".failure") || type.ends_with(".refused") ||
              type.ends_with(".revoked") || type.ends_with(".expiring");
  int pri = opt_.facility * 8 + (warn ? 4 : 6);
  std::string m = "<" + std::to_string(pri) + ">1 ";
  m += time;
  m += ' ';
  m += opt_.hostname;
  m += ' ';
  m += opt_.app_name;
  m += ' ';
  m += procid_;
  m += ' ';
  m += type;
  m += " - ";
  m += line;
  return m;
}

void SyslogSink::emit(std::string_view lines) {
  while (!lines.empty()) {
    size_t nl = lines.find('\n');
    std::string_view line = lines.substr(0, nl);
    lines.remove_prefix(nl == std::string_view::npos ? lines.size() : nl + 1);
    if (line.empty()) continue;
    std::string msg = format(line);
    if (msg.size() > 65000) msg.resize(65000);
    if (::send(fd_, msg.data(), msg.size(), MSG_NOSIGNAL) < 0) ++errors_;
  }
}

}  // namespace cg::audit
