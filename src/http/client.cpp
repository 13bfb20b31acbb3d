#include "http/client.h"

#include <optional>

#include "http/asio.h"
#include "http/errors.h"
#include "http/url.h"

namespace cg::http {
namespace {

Error fetch_error(const std::string& url, const std::string& what) {
  return make_error(Code::kFetch, url + ": " + what);
}

template <class Stream>
awaitable<void> exchange(Stream& stream, const FetchRequest& in, const Url& url,
                         std::string_view target, FetchResponse& out) {
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(in.method), std::string(target), 11};
  req.set(bhttp::field::host, url.authority());
  req.set(bhttp::field::user_agent, "claimgate");
  req.set(bhttp::field::connection, "close");
  for (const auto& [k, v] : in.headers) req.set(k, v);
  if (!in.body.empty() || in.method == "POST" || in.method == "PUT") {
    req.body() = in.body;
    req.prepare_payload();
  }
  co_await bhttp::async_write(stream, req, asio::use_awaitable);
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(in.max_body);
  parser.header_limit(64 * 1024);
  co_await bhttp::async_read(stream, buf, parser, asio::use_awaitable);
  auto& res = parser.get();
  out.status = res.result_int();
  for (const auto& f : res) {
    out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  out.body = std::move(res.body());
}

}  // namespace

std::string FetchResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, name)) return v;
  }
  return "";
}

awaitable<Result<FetchResponse>> fetch_async(FetchRequest in) {
  // The URL: scheme://authority/path?query (the query is kept as given).
  std::string_view text = in.url;
  std::string_view query;
  if (auto q = text.find('?'); q != std::string_view::npos) {
    query = text.substr(q);
    text = text.substr(0, q);
  }
  auto url = parse_url(text);
  if (!url) co_return fail(fetch_error(in.url, url.error().message));
  if (bhttp::string_to_verb(in.method) == bhttp::verb::unknown) {
    co_return fail(fetch_error(in.url, "unknown method " + in.method));
  }
  std::string target = (url->path.empty() ? "/" : url->path) + std::string(query);

  auto ex = co_await asio::this_coro::executor;
  std::optional<ssl::context> tls;
  if (url->https()) {
    tls.emplace(ssl::context::tls_client);
    tls->set_verify_mode(ssl::verify_peer);
    error_code ec;
    if (in.ca_file.empty()) {
      tls->set_default_verify_paths(ec);
    } else {
      tls->load_verify_file(in.ca_file, ec);
    }
    if (ec) co_return fail(fetch_error(in.url, "cannot load CA certificates: " + ec.message()));
  }
  FetchResponse out;
  std::string failure;
  auto deadline = std::chrono::steady_clock::now() + in.timeout;
  // Name resolution has no deadline of its own: a timer closes the resolver when it passes.
  asio::steady_timer resolve_timer(ex, deadline);
  try {
    tcp::resolver resolver(ex);
    resolve_timer.async_wait([&resolver](error_code ec) {
      if (!ec) resolver.cancel();
    });
    auto endpoints =
        co_await resolver.async_resolve(url->host, std::to_string(url->port), asio::use_awaitable);
    resolve_timer.cancel();
    if (tls) {
      beast::ssl_stream<beast::tcp_stream> stream(ex, *tls);
      beast::get_lowest_layer(stream).expires_at(deadline);
      if (!SSL_set_tlsext_host_name(stream.native_handle(), url->host.c_str())) {
        co_return fail(fetch_error(in.url, "cannot set the TLS server name"));
      }
      stream.set_verify_callback(ssl::host_name_verification(url->host));
      co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
      co_await stream.async_handshake(ssl::stream_base::client, asio::use_awaitable);
      co_await exchange(stream, in, *url, target, out);
    } else {
      beast::tcp_stream stream(ex);
      stream.expires_at(deadline);
      co_await stream.async_connect(endpoints, asio::use_awaitable);
      co_await exchange(stream, in, *url, target, out);
    }
  } catch (const boost::system::system_error& e) {
    bool late = e.code() == beast::error::timeout || (e.code() == asio::error::operation_aborted &&
                                                      std::chrono::steady_clock::now() >= deadline);
    failure = late ? "no answer within " + std::to_string(in.timeout.count()) + " ms"
                   : e.code().message();
    if (e.code().category() == asio::error::get_ssl_category() ||
        std::string(e.code().category().name()) == "asio.ssl.stream") {
      failure = "TLS: " + failure;
    }
  }
  resolve_timer.cancel();
  if (!failure.empty()) co_return fail(fetch_error(in.url, failure));
  co_return out;
}

Result<FetchResponse> fetch(const FetchRequest& in) {
  asio::io_context ioc;
  std::optional<Result<FetchResponse>> out;
  asio::co_spawn(
      ioc, [&]() -> awaitable<void> { out.emplace(co_await fetch_async(in)); }, asio::detached);
  ioc.run();
  if (!out) return fail(fetch_error(in.url, "the fetch did not finish"));
  return std::move(*out);
}

}  // namespace cg::http
