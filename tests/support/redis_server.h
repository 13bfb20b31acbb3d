// A real redis-server for the unit tests: started on 127.0.0.1 and a free port, without
// persistence, stopped (SIGKILL) by stop() or the destructor. restart() starts it again on the
// same port (the outage tests).
#pragma once

#include <string>

namespace cg::testing {

class RedisServer {
 public:
  RedisServer();
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts it; returns "" or why it could not (no redis-server, no answer within 5 s).
  // With `tls`, the port is given to --tls-port (the plain port is off) and readiness is a
  // TCP connect.
  std::string start(const std::string& extra_args = "", bool tls = false);
  void stop();
  // SIGSTOP / SIGCONT: Redis hangs (connections open, no answers) while its port stays taken,
  // so no other test's server can take it meanwhile (ctest runs tests in parallel).
  void pause();
  void resume();
  uint16_t port() const { return port_; }
  bool running() const { return pid_ > 0; }

 private:
  uint16_t port_ = 0;
  int pid_ = -1;
  bool tls_ = false;
  std::string dir_;
};

}  // namespace cg::testing
