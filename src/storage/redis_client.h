// A small blocking Redis client for the Redis stores (sessions, tokens, jobs): RESP parsed by
// hiredis's reader, the transport our own (TCP or TLS through Boost.Asio, each step bounded by a
// deadline), a pool of connections shared by the gateway's threads, Lua scripts by EVALSHA, and a
// subscriber thread for pub/sub. Debian 12's hiredis (0.14) has no TLS, hence the own transport.
//
// When Redis cannot be reached the client fails fast: after a failed connection it tries again
// at most every `retry_interval`, and every command in between fails at once (5005
// session.redis) instead of holding a request for a connect timeout.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/result.h"

namespace cg::storage::redis {

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string username;  // ACL user ("": the default user)
  std::string password;  // "": no AUTH (never logged)
  int db = 0;
  bool tls = false;
  std::string ca_file;    // "": the system CA store
  std::string cert_file;  // client certificate (Redis `tls-auth-clients`), optional
  std::string key_file;
  std::string server_name;  // checked against the certificate ("": host)
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};
  std::chrono::milliseconds retry_interval{250};
  size_t pool_size = 16;  // connections kept open

  // "redis://127.0.0.1:6379" or "rediss://..." (never the password).
  std::string describe() const;
};

struct Reply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
  Type type = Type::kNil;
  std::string str;  // string, status, error
  int64_t integer = 0;
  std::vector<Reply> elements;

  bool nil() const { return type == Type::kNil; }
};

class Connection;

// A Lua script, sent by its SHA-1 (EVALSHA) once Redis has it (SCRIPT LOAD on first use and
// again after NOSCRIPT: a restarted Redis forgets its scripts).
class Script {
 public:
  explicit Script(std::string body) : body_(std::move(body)) {}
  const std::string& body() const { return body_; }

 private:
  friend class Client;
  std::string body_;
  mutable std::mutex mu_;
  mutable std::string sha1_;
};

class Client {
 public:
  explicit Client(Options o);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One command. An error reply from Redis is a failure (5005) too, with Redis's words.
  Result<Reply> command(const std::vector<std::string>& argv);
  Result<Reply> eval(const Script& s, const std::vector<std::string>& keys,
                     const std::vector<std::string>& args);

  // Since when (steady clock) Redis has been unreachable; nullopt while it answers.
  std::optional<std::chrono::steady_clock::time_point> down_since() const;
  const Options& options() const { return opts_; }
  // Why the options cannot work (TLS files that do not load), or "".
  const std::string& setup_error() const { return setup_error_; }

 private:
  struct Tls;
  // A pooled connection, or a new one (`fresh`).
  Result<std::unique_ptr<Connection>> borrow(bool& fresh);
  void give_back(std::unique_ptr<Connection> c);
  Result<Reply> run(const std::vector<std::string>& argv);
  void mark_down(const std::string& why);
  void mark_up();

  Options opts_;
  std::unique_ptr<Tls> tls_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::string last_error_;  // guarded by mu_
  std::string setup_error_;
  std::atomic<int64_t> down_since_ns_{0};  // steady clock; 0: up
  std::atomic<int64_t> next_try_ns_{0};
  friend class Subscriber;
};

// A thread subscribed to one channel on its own connection. `on_message` gets each payload;
// `on_state(true)` comes after every (re)subscription, `on_state(false)` when the connection
// is lost (messages may have been missed: the caller re-synchronises on the next true). Pings
// every second, so a dead connection is noticed within about two.
class Subscriber {
 public:
  Subscriber(Client& client, std::string channel, std::function<void(std::string_view)> on_message,
             std::function<void(bool)> on_state);
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

 private:
  void loop();
  Client& client_;
  std::string channel_;
  std::function<void(std::string_view)> on_message_;
  std::function<void(bool)> on_state_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  int fd_ = -1;  // the current connection's socket (guarded by mu_), shut down to stop
  std::thread thread_;
};

}  // namespace cg::storage::redis
