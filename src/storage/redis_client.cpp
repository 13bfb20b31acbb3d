#include "storage/redis_client.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include "storage/errors.h"

namespace cg::storage::redis {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;
using Steady = std::chrono::steady_clock;

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now().time_since_epoch())
      .count();
}

Reply convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = Reply::Type::kNil;
  }
  return out;
}

std::string format(const std::vector<std::string>& argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  int n = redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), ptrs.data(), lens.data());
  std::string out = n > 0 ? std::string(cmd, static_cast<size_t>(n)) : std::string();
  redisFreeCommand(cmd);
  return out;
}

// Redis's words, with what to do when they mean a missing password.
std::string explain(const std::string& redis_error) {
  if (redis_error.find("NOAUTH") != std::string::npos ||
      redis_error.find("unauthenticated") != std::string::npos) {
    return redis_error + " (Redis requires AUTH: set store.password_file)";
  }
  return redis_error;
}

}  // namespace

std::string Options::describe() const {
  return std::string(tls ? "rediss://" : "redis://") + host + ":" + std::to_string(port) +
         (db ? "/" + std::to_string(db) : "");
}

struct Client::Tls {
  ssl::context ctx{ssl::context::tls_client};
};

// One connection: a socket (TLS or not), hiredis's reader, and an io_context of its own so
// that each blocking step can be bounded (run_until the deadline; past it, the connection is
// closed and counts as broken).
class Connection {
 public:
  Connection(const Options& o, ssl::context* tls)
      : opts_(o), plain_(ioc_), reader_(redisReaderCreate()) {
    if (tls) tls_.emplace(ioc_, *tls);
  }
  ~Connection() {
    if (reader_) redisReaderFree(reader_);
  }

  Status open() {
    auto deadline = Steady::now() + opts_.connect_timeout;
    error_code ec;
    tcp::resolver resolver(ioc_);
    auto endpoints = resolver.resolve(opts_.host, std::to_string(opts_.port), ec);
    if (ec) return broken("cannot resolve " + opts_.host + ": " + ec.message());
    CG_CHECK(timed(deadline, "connect", [&](auto handler) {
      asio::async_connect(socket(), endpoints,
                          [handler](error_code e, const tcp::endpoint&) { handler(e, 0); });
    }));
    error_code ig;
    socket().set_option(tcp::no_delay(true), ig);
    if (tls_) {
      std::string name = opts_.server_name.empty() ? opts_.host : opts_.server_name;
      if (!SSL_set_tlsext_host_name(tls_->native_handle(), name.c_str())) {
        return broken("cannot set the TLS server name");
      }
      tls_->set_verify_mode(ssl::verify_peer);
      tls_->set_verify_callback(ssl::host_name_verification(name));
      CG_CHECK(timed(deadline, "TLS handshake", [&](auto handler) {
        tls_->async_handshake(ssl::stream_base::client, [handler](error_code e) { handler(e, 0); });
      }));
    }
    if (!opts_.password.empty()) {
      std::vector<std::string> auth{"AUTH"};
      if (!opts_.username.empty()) auth.push_back(opts_.username);
      auth.push_back(opts_.password);
      CG_TRY(Reply r, command(auth, deadline));
      if (r.type == Reply::Type::kError) return broken("AUTH refused: " + r.str);
    }
    if (opts_.db != 0) {
      CG_TRY(Reply r, command({"SELECT", std::to_string(opts_.db)}, deadline));
      if (r.type == Reply::Type::kError) return broken("SELECT refused: " + r.str);
    }
    return {};
  }

  Result<Reply> command(const std::vector<std::string>& argv) {
    return command(argv, Steady::now() + opts_.command_timeout);
  }
  Result<Reply> command(const std::vector<std::string>& argv, Steady::time_point deadline) {
    CG_CHECK(send(argv, deadline));
    return receive(deadline);
  }

  Status send(const std::vector<std::string>& argv, Steady::time_point deadline) {
    std::string wire = format(argv);
    if (wire.empty()) return broken("cannot format the command");
    return timed(deadline, "write", [&](auto handler) {
      if (tls_) {
        asio::async_write(*tls_, asio::buffer(wire), handler);
      } else {
        asio::async_write(plain_, asio::buffer(wire), handler);
      }
    });
  }

  Result<Reply> receive(Steady::time_point deadline) {
    for (;;) {
      CG_TRY(std::optional<Reply> r, buffered());
      if (r) return std::move(*r);
      CG_CHECK(read_some(deadline));
    }
  }

  // A reply if one arrives within `wait` (nullopt: none yet; the connection stays usable).
  Result<std::optional<Reply>> poll_reply(std::chrono::milliseconds wait) {
    CG_TRY(std::optional<Reply> r, buffered());
    if (r) return r;
    // With TLS, bytes may wait inside OpenSSL (a decrypted record, or raw input in its BIO)
    // while the socket itself has nothing more.
    if (!tls_ || (SSL_pending(tls_->native_handle()) == 0 &&
                  BIO_ctrl_pending(SSL_get_rbio(tls_->native_handle())) == 0)) {
      pollfd p{socket().native_handle(), POLLIN, 0};
      int n = ::poll(&p, 1, static_cast<int>(wait.count()));
      if (n == 0) return std::optional<Reply>();
    }
    CG_CHECK(read_some(Steady::now() + opts_.command_timeout));
    return buffered();
  }

  int fd() { return socket().native_handle(); }
  bool ok() const { return !broken_; }

 private:
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : plain_; }

  Unexpected<Error> broken(std::string why) {
    broken_ = true;
    return fail(Code::kRedis, "Redis at " + opts_.describe() + ": " + why);
  }

  Result<std::optional<Reply>> buffered() {
    void* raw = nullptr;
    if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
      return broken(std::string("protocol error: ") + reader_->errstr);
    }
    if (!raw) return std::optional<Reply>();
    Reply r = convert(static_cast<redisReply*>(raw));
    freeReplyObject(raw);
    return std::optional<Reply>(std::move(r));
  }

  Status read_some(Steady::time_point deadline) {
    size_t got = 0;
    CG_CHECK(timed(
        deadline, "read",
        [&](auto handler) {
          if (tls_) {
            tls_->async_read_some(asio::buffer(buf_), handler);
          } else {
            plain_.async_read_some(asio::buffer(buf_), handler);
          }
        },
        &got));
    redisReaderFeed(reader_, buf_, got);
    return {};
  }

  // Starts one asynchronous step and runs it until done or `deadline`; past the deadline the
  // socket is closed (the connection is then broken).
  template <class Start>
  Status timed(Steady::time_point deadline, const char* what, Start&& start,
               size_t* transferred = nullptr) {
    if (broken_) return broken("connection already failed");
    bool done = false;
    error_code ec;
    start([&](error_code e, size_t n) {
      ec = e;
      done = true;
      if (transferred) *transferred = n;
    });
    ioc_.restart();
    ioc_.run_until(deadline);
    if (!done) {
      error_code ig;
      socket().cancel(ig);
      socket().close(ig);
      ioc_.restart();
      ioc_.run();
      return broken(std::string(what) + ": no answer in time");
    }
    if (ec) {
      std::string m = ec == asio::error::eof ? "connection closed by Redis" : ec.message();
      return broken(std::string(what) + ": " + m);
    }
    return {};
  }

  const Options& opts_;
  asio::io_context ioc_{1};
  tcp::socket plain_;
  std::optional<ssl::stream<tcp::socket>> tls_;
  redisReader* reader_;
  char buf_[16384];
  bool broken_ = false;
};

Client::Client(Options o) : opts_(std::move(o)) {
  if (opts_.tls) {
    tls_ = std::make_unique<Tls>();
    error_code ec;
    if (opts_.ca_file.empty()) {
      tls_->ctx.set_default_verify_paths(ec);
    } else {
      tls_->ctx.load_verify_file(opts_.ca_file, ec);
    }
    if (!ec && !opts_.cert_file.empty()) {
      tls_->ctx.use_certificate_chain_file(opts_.cert_file, ec);
      if (!ec) tls_->ctx.use_private_key_file(opts_.key_file, ssl::context::pem, ec);
    }
    if (ec) setup_error_ = "TLS files: " + ec.message();
  }
}

Client::~Client() = default;

std::optional<std::chrono::steady_clock::time_point> Client::down_since() const {
  int64_t ns = down_since_ns_.load();
  if (ns == 0) return std::nullopt;
  return Steady::time_point(std::chrono::nanoseconds(ns));
}

void Client::mark_down(const std::string& why) {
  int64_t now = steady_ns();
  int64_t expected = 0;
  down_since_ns_.compare_exchange_strong(expected, now);
  next_try_ns_.store(now + std::chrono::nanoseconds(opts_.retry_interval).count());
  std::lock_guard lock(mu_);
  last_error_ = why;
}

void Client::mark_up() {
  if (down_since_ns_.load() != 0) down_since_ns_.store(0);
}

Result<std::unique_ptr<Connection>> Client::borrow(bool& fresh) {
  if (!setup_error_.empty()) {
    return fail(Code::kRedis, "Redis at " + opts_.describe() + ": " + setup_error_);
  }
  fresh = false;
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    if (down_since_ns_.load() != 0 && steady_ns() < next_try_ns_.load()) {
      auto secs = (steady_ns() - down_since_ns_.load()) / 1'000'000'000;
      return fail(Code::kRedis, "Redis at " + opts_.describe() + " unreachable for " +
                                    std::to_string(secs) + "s: " + last_error_);
    }
  }
  auto c = std::make_unique<Connection>(opts_, tls_ ? &tls_->ctx : nullptr);
  if (auto st = c->open(); !st) {
    mark_down(st.error().message.substr(st.error().message.find(": ") + 2));
    return fail(st.take_error());
  }
  fresh = true;
  return c;
}

void Client::give_back(std::unique_ptr<Connection> c) {
  std::lock_guard lock(mu_);
  if (c->ok() && idle_.size() < opts_.pool_size) idle_.push_back(std::move(c));
}

Result<Reply> Client::run(const std::vector<std::string>& argv) {
  // A pooled connection may have been closed by Redis (a restart, its idle timeout): then the
  // other pooled ones likely were too; they are dropped and the command is tried once more on
  // a new connection. Redis counts as down only when a new connection fails.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool fresh = false;
    CG_TRY(std::unique_ptr<Connection> c, borrow(fresh));
    auto r = c->command(argv);
    if (r && r->type == Reply::Type::kError &&
        (r->str.starts_with("LOADING") || r->str.starts_with("BUSY") ||
         r->str.starts_with("MASTERDOWN") || r->str.starts_with("TRYAGAIN"))) {
      // Redis answers but cannot serve yet (loading its data after a restart, a long script,
      // a replica without its primary): unavailable, as if unreachable.
      mark_down(r->str);
      give_back(std::move(c));
      return r;
    }
    if (r) {
      mark_up();
      give_back(std::move(c));
      return r;
    }
    if (fresh || attempt == 1) {
      mark_down(r.error().message);
      return r;
    }
    std::lock_guard lock(mu_);
    idle_.clear();
  }
  return fail(Code::kRedis, "unreachable");
}

Result<Reply> Client::command(const std::vector<std::string>& argv) {
  CG_TRY(Reply r, run(argv));
  if (r.type == Reply::Type::kError) {
    return fail(Code::kRedis,
                "Redis at " + opts_.describe() + " refused " + argv.at(0) + ": " + explain(r.str));
  }
  return r;
}

Result<Reply> Client::eval(const Script& s, const std::vector<std::string>& keys,
                           const std::vector<std::string>& args) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::string sha;
    {
      std::lock_guard lock(s.mu_);
      sha = s.sha1_;
    }
    if (sha.empty()) {
      CG_TRY(Reply loaded, command({"SCRIPT", "LOAD", s.body()}));
      sha = loaded.str;
      std::lock_guard lock(s.mu_);
      s.sha1_ = sha;
    }
    std::vector<std::string> argv{"EVALSHA", sha, std::to_string(keys.size())};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    CG_TRY(Reply r, run(argv));
    if (r.type == Reply::Type::kError && r.str.starts_with("NOSCRIPT")) {
      std::lock_guard lock(s.mu_);
      s.sha1_.clear();
      continue;
    }
    if (r.type == Reply::Type::kError) {
      return fail(Code::kRedis,
                  "Redis at " + opts_.describe() + " script failed: " + explain(r.str));
    }
    return r;
  }
  return fail(Code::kRedis, "Redis at " + opts_.describe() + " keeps forgetting a script");
}

Subscriber::Subscriber(Client& client, std::string channel,
                       std::function<void(std::string_view)> on_message,
                       std::function<void(bool)> on_state)
    : client_(client),
      channel_(std::move(channel)),
      on_message_(std::move(on_message)),
      on_state_(std::move(on_state)) {
  thread_ = std::thread([this] { loop(); });
}

Subscriber::~Subscriber() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);  // wakes a blocked read
  }
  cv_.notify_all();
  thread_.join();
}

void Subscriber::loop() {
  const Options& o = client_.options();
  while (!stop_) {
    auto c = std::make_unique<Connection>(o, client_.tls_ ? &client_.tls_->ctx : nullptr);
    bool subscribed = false;
    if (c->open()) {
      {
        std::lock_guard lock(mu_);
        fd_ = c->fd();
      }
      auto r = c->command({"SUBSCRIBE", channel_});
      subscribed = r && r->type == Reply::Type::kArray;
    }
    if (subscribed && !stop_) {
      client_.mark_up();  // Redis answers: the pool may try again at once
      on_state_(true);
      auto last_ping = Steady::now();
      auto last_heard = last_ping;
      while (!stop_) {
        auto r = c->poll_reply(std::chrono::milliseconds(200));
        if (!r) break;
        auto now = Steady::now();
        if (*r) {
          last_heard = now;
          const Reply& m = **r;
          if (m.type == Reply::Type::kArray && m.elements.size() == 3 &&
              m.elements[0].str == "message") {
            on_message_(m.elements[2].str);
          }
        }
        if (now - last_heard > std::chrono::seconds(2)) break;  // no pong: the link is dead
        if (now - last_ping >= std::chrono::seconds(1)) {
          if (!c->send({"PING"}, now + o.command_timeout)) break;
          last_ping = now;
        }
      }
      on_state_(false);
    }
    {
      std::lock_guard lock(mu_);
      fd_ = -1;
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, o.retry_interval, [this] { return stop_.load(); });
  }
}

}  // namespace cg::storage::redis
