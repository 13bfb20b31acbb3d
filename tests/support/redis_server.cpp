#include "support/redis_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

namespace cg::testing {
namespace {

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool answers(uint16_t port, bool connect_only) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (ok && !connect_only) {
    const char ping[] = "PING\r\n";
    char buf[64];
    ssize_t n =
        ::write(fd, ping, sizeof ping - 1) == sizeof ping - 1 ? ::read(fd, buf, sizeof buf) : -1;
    std::string got = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
    ok = got.starts_with("+PONG") || got.starts_with("-NOAUTH");
  }
  ::close(fd);
  return ok;
}

}  // namespace

RedisServer::RedisServer() {
  dir_ = (std::filesystem::temp_directory_path() /
          ("cg-redis-" + std::to_string(::getpid()) + "-" + std::to_string(free_port())))
             .string();
  std::filesystem::create_directories(dir_);
}

RedisServer::~RedisServer() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string RedisServer::start(const std::string& extra_args, bool tls) {
  if (port_ == 0) port_ = free_port();
  tls_ = tls;
  std::string ports =
      tls ? "--port 0 --tls-port " + std::to_string(port_) : "--port " + std::to_string(port_);
  std::string command = "exec redis-server " + ports +
                        " --bind 127.0.0.1 --save '' --appendonly no --daemonize no"
                        " --loglevel warning --logfile redis.log --dir " +
                        dir_ + " " + extra_args;
  pid_ = ::fork();
  if (pid_ == 0) {
    // Dies with the test (even one that aborts), and holds none of its output pipes (ctest
    // waits for them to close).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (int i = 0; i < 500; ++i) {
    if (answers(port_, tls_)) return "";
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return "redis-server exited at start (is it installed? scripts/install-deps.sh)";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop();
  return "redis-server did not answer within 5 s";
}

void RedisServer::pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void RedisServer::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

void RedisServer::stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

}  // namespace cg::testing
