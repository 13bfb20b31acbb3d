#include "http/request_head.h"

#include <gtest/gtest.h>

#include <string>

#include "http/errors.h"
#include "http/request_fields.h"

namespace cg::http {
namespace {

std::string head(std::string fields, std::string line = "POST /api/x HTTP/1.1") {
  return line + "\r\n" + fields + "\r\n";
}

// Expects `h` refused with `status`, the message holding `words`; returns the message.
std::string refused(const std::string& h, unsigned status, std::string_view words = "") {
  auto r = check_request_head(h);
  EXPECT_FALSE(r.has_value()) << h;
  if (r) return "";
  EXPECT_EQ(status_for(r.error()), status) << h << ": " << r.error().message;
  EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
  return r.error().message;
}

// A plain request passes, and its framing is read.
TEST(RequestHeadTest, AcceptsPlainRequests) {
  std::string h = head("Host: gw.example.org\r\nContent-Length: 5\r\n");
  auto r = check_request_head(h);  // views into h
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->target, "/api/x");
  EXPECT_EQ(r->version, 11);
  EXPECT_EQ(r->framing, Framing::kContentLength);
  EXPECT_EQ(r->content_length, 5u);
  EXPECT_EQ(r->host, "gw.example.org");
  auto c = check_request_head(head("Host: h:8080\r\nTransfer-Encoding: Chunked\r\n"));
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->framing, Framing::kChunked);
  auto g = check_request_head(head("Host: [::1]:80\r\n", "GET /?a=1 HTTP/1.1"));
  ASSERT_TRUE(g.has_value()) << g.error().message;
  EXPECT_EQ(g->framing, Framing::kNone);
  auto old = check_request_head(head("", "GET / HTTP/1.0"));
  ASSERT_TRUE(old.has_value()) << old.error().message;
  EXPECT_EQ(old->version, 10);
}

// The smuggling case of finding 5: a Content-Length beside a Transfer-Encoding, either order.
TEST(RequestHeadTest, RefusesContentLengthWithTransferEncoding) {
  refused(head("Host: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"), 400,
          "both Content-Length and Transfer-Encoding");
  refused(head("Host: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n"), 400,
          "both Content-Length and Transfer-Encoding");
  refused(head("Host: h\r\nTransfer-Encoding: chunked, gzip\r\nContent-Length: 5\r\n"), 400,
          "both");
}

// Only exactly `chunked` frames a body; chunked not last, twice, or beside another coding is
// refused (400), an unknown coding is not implemented (501).
TEST(RequestHeadTest, RefusesTransferCodingsOtherThanChunked) {
  refused(head("Host: h\r\nTransfer-Encoding: chunked, gzip\r\n"), 400, "final coding");
  refused(head("Host: h\r\nTransfer-Encoding: gzip, chunked, identity\r\n"), 400, "final coding");
  refused(head("Host: h\r\nTransfer-Encoding: chunked, chunked\r\n"), 400, "more than once");
  refused(head("Host: h\r\nTransfer-Encoding: xchunked\r\n"), 501, "'xchunked' is not supported");
  refused(head("Host: h\r\nTransfer-Encoding: gzip, chunked\r\n"), 501, "'gzip'");
  refused(head("Host: h\r\nTransfer-Encoding: identity\r\n"), 501, "only chunked");
  refused(head("Host: h\r\nTransfer-Encoding: chunked;q=1\r\n"), 400, "not a transfer coding");
  refused(head("Host: h\r\nTransfer-Encoding: ,chunked\r\n"), 400, "empty list element");
  refused(head("Host: h\r\nTransfer-Encoding:\r\n"), 400, "empty list element");
  refused(head("Host: h\r\nTransfer-Encoding: \"chunked\"\r\n"), 400);
}

// Two Transfer-Encoding fields are read as one list by some parsers and as the last by others.
TEST(RequestHeadTest, RefusesMultipleTransferEncodingFields) {
  refused(head("Host: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), 400,
          "more than one Transfer-Encoding");
  refused(head("Host: h\r\nTransfer-Encoding: gzip\r\ntransfer-encoding: chunked\r\n"), 400,
          "more than one Transfer-Encoding");
}

// RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
TEST(RequestHeadTest, RefusesTransferEncodingInHttp10) {
  refused(head("Host: h\r\nTransfer-Encoding: chunked\r\n", "POST / HTTP/1.0"), 400, "HTTP/1.0");
}

// A body on GET or HEAD is read by some upstreams and ignored (left as the next request) by
// others.
TEST(RequestHeadTest, RefusesBodyOnGetAndHead) {
  refused(head("Host: h\r\nTransfer-Encoding: chunked\r\n", "GET / HTTP/1.1"), 400,
          "GET request cannot have a body");
  refused(head("Host: h\r\nContent-Length: 3\r\n", "HEAD / HTTP/1.1"), 400, "HEAD");
  EXPECT_TRUE(check_request_head(head("Host: h\r\nContent-Length: 0\r\n", "GET / HTTP/1.1")));
}

// Duplicate Content-Length is refused even with equal values, and so is a list.
TEST(RequestHeadTest, RefusesDuplicateContentLength) {
  refused(head("Host: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n"), 400,
          "more than one Content-Length");
  refused(head("Host: h\r\nContent-Length: 5,5\r\n"), 400, "digits only");
}

// Content-Length is 1*DIGIT: no sign, no hex, no inner space, not too long.
TEST(RequestHeadTest, RefusesMalformedContentLength) {
  for (const char* v : {"+5", "-5", "0x5", "5 5", "5;", "five", "", "1234567890123456789"}) {
    refused(head(std::string("Host: h\r\nContent-Length: ") + v + "\r\n"), 400, "Content-Length");
  }
  // Optional whitespace around a field value is not part of it (RFC 9110 5.5).
  std::string h = head("Host: h\r\nContent-Length:  5 \r\n");
  auto r = check_request_head(h);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->content_length, 5u);
}

// HTTP/1.1 needs exactly one Host; HTTP/1.0 at most one; it must be an authority.
TEST(RequestHeadTest, RefusesMissingOrDuplicateHost) {
  refused(head("Content-Length: 0\r\n"), 400, "must have a Host");
  refused(head("Host: a\r\nHost: a\r\n"), 400, "more than one Host");
  refused(head("Host: a\r\nHost: b\r\n", "GET / HTTP/1.0"), 400, "more than one Host");
  for (const char* v : {"", "a b", "user@host", "host/path", "host:", "host:99999x", "[::1",
                        "host:1:2", "a\"b", "h%41"}) {
    refused(head(std::string("Host: ") + v + "\r\n"), 400, "Host");
  }
}

// An absolute-form target is turned into origin-form, and must name the Host's authority.
TEST(RequestHeadTest, RefusesAbsoluteFormThatDisagreesWithHost) {
  std::string h = head("Host: gw:8080\r\n", "GET http://GW:8080/a/b?c=d HTTP/1.1");
  auto r = check_request_head(h);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->origin_target, "/a/b?c=d");
  auto q = check_request_head(head("Host: gw\r\n", "GET https://gw?x HTTP/1.1"));
  ASSERT_TRUE(q.has_value()) << q.error().message;
  EXPECT_EQ(q->origin_target, "/?x");
  refused(head("Host: gw\r\n", "GET http://evil/admin HTTP/1.1"), 400, "but the Host field");
  refused(head("Host: gw\r\n", "GET http://u@gw/ HTTP/1.1"), 400, "user info");
  refused(head("", "GET http://gw/ HTTP/1.0"), 400, "Host field too");
  refused(head("Host: gw\r\n", "CONNECT gw:443 HTTP/1.1"), 400, "request target must be a path");
  refused(head("Host: gw\r\n", "GET ftp://gw/ HTTP/1.1"), 400, "request target");
  refused(head("Host: gw\r\n", "GET * HTTP/1.1"), 400, "only allowed with OPTIONS");
  EXPECT_TRUE(check_request_head(head("Host: gw\r\n", "OPTIONS * HTTP/1.1")));
}

// Line folding (obs-fold) is refused, not joined.
TEST(RequestHeadTest, RefusesObsFold) {
  refused(head("Host: h\r\nX-A: 1\r\n  continued\r\n"), 400, "obs-fold");
  refused(head("Host: h\r\nTransfer-Encoding: gzip\r\n\tchunked\r\n"), 400, "obs-fold");
  refused(head(" Host: h\r\n"), 400, "obs-fold");
}

// RFC 9112 5.1: whitespace between a field name and its colon MUST be refused.
TEST(RequestHeadTest, RefusesWhitespaceBeforeColon) {
  refused(head("Host: h\r\nTransfer-Encoding : chunked\r\n"), 400, "followed by whitespace");
  refused(head("Host: h\r\nContent-Length\t: 5\r\n"), 400, "followed by whitespace");
}

// Field names are tokens; values hold no control byte but HTAB.
TEST(RequestHeadTest, RefusesInvalidBytesInNamesAndValues) {
  refused(head("Host: h\r\nX A: 1\r\n"), 400, "not a token");
  refused(head("Host: h\r\nX\x01: 1\r\n"), 400, "not a token");
  refused(head("Host: h\r\n: 1\r\n"), 400, "empty field name");
  refused(head("Host: h\r\nno colon\r\n"), 400, "no ':'");
  for (char c : {'\0', '\x01', '\x0b', '\x0c', '\x1f', '\x7f'}) {
    std::string value = std::string("a") + c + "b";
    std::string msg = refused(head("Host: h\r\nX-A: " + value + "\r\n"), 400, "control byte");
    EXPECT_EQ(msg.find(c), std::string::npos) << "the raw byte is echoed";
  }
  EXPECT_TRUE(check_request_head(head("Host: h\r\nX-A: a\tb \xc3\xa9\r\n")));
}

// Lines end in CRLF: a bare LF or a lone CR is refused.
TEST(RequestHeadTest, RefusesBareLineEndings) {
  refused("POST / HTTP/1.1\nHost: h\r\n\r\n", 400, "bare LF");
  refused("POST / HTTP/1.1\r\nHost: h\n\r\n", 400, "bare LF");
  refused("POST / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", 400, "CR that does not end");
  refused("POST / HTTP/1.1\r\nHost: h\r\n\n", 400);
}

// The request line is METHOD SP target SP HTTP/1.x, one space each, visible ASCII target.
TEST(RequestHeadTest, RefusesMalformedRequestLines) {
  refused(head("Host: h\r\n", "GET  / HTTP/1.1"), 400, "one space each");
  refused(head("Host: h\r\n", "GET / HTTP/1.1 "), 400, "HTTP version");
  refused(head("Host: h\r\n", "GET /a b HTTP/1.1"), 400, "HTTP version");
  refused(head("Host: h\r\n", "GET /\x7f HTTP/1.1"), 400, "visible ASCII");
  refused(head("Host: h\r\n", "GET /\xc3\xa9 HTTP/1.1"), 400, "visible ASCII");
  refused(head("Host: h\r\n", "GET /a#b HTTP/1.1"), 400, "fragment");
  refused(head("Host: h\r\n", "G(T / HTTP/1.1"), 400, "upper-case");
  refused(head("Host: h\r\n", "get / HTTP/1.1"), 400, "upper-case");
  refused(head("Host: h\r\n", "G3T / HTTP/1.1"), 400, "upper-case");
  refused(head("Host: h\r\n", "GET / http/1.1"), 400, "HTTP version");
  refused(head("Host: h\r\n", "GET / HTTP/2.0"), 505, "not supported");
  refused(head("Host: h\r\n", "GET / HTTP/0.9"), 505);
  refused(head("Host: h\r\n", "GET /"), 400);
}

// A field name with '_' is not read: it neither frames the body nor names the host.
TEST(RequestHeadTest, IgnoresUnderscoreFieldsForFraming) {
  std::string h = head("Host: h\r\nTransfer_Encoding: chunked\r\nX_Claimgate_User: a\r\n");
  auto r = check_request_head(h);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->framing, Framing::kNone);
  EXPECT_EQ(r->underscore_fields, 2u);
  refused(head("Host_: h\r\n"), 400, "must have a Host");
}

// A second Authorization or Cookie could be read by an upstream instead of the one decided on.
TEST(RequestHeadTest, RefusesDuplicateSingletonFields) {
  refused(head("Host: h\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n"), 400,
          "more than one Authorization");
  refused(head("Host: h\r\nCookie: a=1\r\ncookie: b=2\r\n"), 400, "more than one Cookie");
}

// Error messages escape what they quote from the request.
TEST(RequestHeadTest, EscapesRequestBytesInMessages) {
  std::string msg = refused(head("Host: h\r\nTransfer-Encoding: <script>\r\n"), 400);
  EXPECT_EQ(msg.find('<'), std::string::npos) << msg;
  EXPECT_EQ(escape_for_message("a\x01<\xff", 64), "a\\x01\\x3c\\xff");
  EXPECT_EQ(escape_for_message(std::string(100, 'a'), 4), "aaaa...");
}

// The end of a head is found at CRLF CRLF, or at a bare LF LF (so it is refused at once).
TEST(RequestHeadTest, FindsTheEndOfAHead) {
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\nHost: h\r\n\r\nBODY"), 27u);
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\nHost: h\r\n"), std::string_view::npos);
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\nHost: h\n\n"), 24u);
  EXPECT_EQ(skip_empty_lines("\r\n\r\nGET"), 4u);
  EXPECT_EQ(skip_empty_lines("\nGET"), 0u);
}

// Identity headers are recognised with case and '_'/'-' folded, as CGI and WSGI read them.
TEST(RequestHeadTest, FoldsIdentityHeaderNames) {
  for (const char* n : {"X-Claimgate-User", "x_claimgate_user", "X_CLAIMGATE-Groups",
                        "X-Forwarded-User", "X_Forwarded_Groups", "x-forwarded-for",
                        "X-Forwarded-Host", "Forwarded", "X-Real-IP", "x_real_ip", "Remote-User",
                        "X-Auth-Request-Email", "X-Webauth-User"}) {
    EXPECT_TRUE(is_client_identity_header(n, "X-Claimgate-")) << n;
  }
  for (const char* n : {"Content-Type", "X-Claimgate", "Authorization", "X-Request-Id"}) {
    EXPECT_FALSE(is_client_identity_header(n, "X-Claimgate-")) << n;
  }
  EXPECT_TRUE(is_client_identity_header("x_corp_user", "X-Corp-"));
  EXPECT_EQ(fold_header_name("X_Claimgate-USER"), "x-claimgate-user");
}

// Chunked bodies: sizes in hex, extensions as tokens or quoted strings, CRLF; no trailers.
TEST(RequestHeadTest, ChecksChunkedBodies) {
  EXPECT_EQ(check_chunked_prefix("5\r\nhello\r\n0\r\n\r\n").state, ChunkedPrefix::kComplete);
  EXPECT_EQ(check_chunked_prefix("5\r\nhello\r\n0\r\n\r\n").consumed, 15u);
  EXPECT_EQ(check_chunked_prefix("5;a=b;c=\"d e\"\r\nhello\r\n0\r\n\r\nGET").state,
            ChunkedPrefix::kComplete);
  EXPECT_EQ(check_chunked_prefix("5\r\nhel").state, ChunkedPrefix::kIncomplete);
  EXPECT_EQ(check_chunked_prefix("").state, ChunkedPrefix::kIncomplete);
  EXPECT_EQ(check_chunked_prefix("A").state, ChunkedPrefix::kIncomplete);
  for (const char* bad : {"zz\r\n", "-5\r\nhello\r\n", "+5\r\n", "0x5\r\nhello\r\n",
                          " 5\r\nhello\r\n", "5 \r\nhello\r\n", "5\nhello\r\n", "5\r\nhelloX",
                          "5\r\nhello\n", "5;\r\n", "5;a=\r\n", "5;a=\"\x01\"\r\n",
                          "0\r\nX-Claimgate-User: a\r\n\r\n", "1234567890abcdef0\r\n"}) {
    auto r = check_chunked_prefix(bad);
    EXPECT_EQ(r.state, ChunkedPrefix::kBad) << bad;
    EXPECT_NE(r.reason.find("chunked request body is malformed"), std::string::npos) << r.reason;
  }
}

// The gateway's one strip: identity and forwarding headers in any spelling, and every '_' name.
TEST(RequestFieldsTest, StripsIdentityHeadersInEverySpelling) {
  bhttp::fields f;
  for (const char* n : {"X-Claimgate-User", "x_claimgate_groups", "X-CLAIMGATE_Email", "X_Forwarded_User",
                        "X-Forwarded-For", "Forwarded", "X-Real-IP", "Remote-User", "Content_Length",
                        "Accept", "X-Request-Id", "Cookie"}) {
    f.insert(n, "v");
  }
  strip_client_headers(f, "X-Claimgate-");
  std::vector<std::string> left;
  for (const auto& x : f) left.emplace_back(x.name_string());
  EXPECT_EQ(left, (std::vector<std::string>{"Accept", "X-Request-Id", "Cookie"}));
}

// What goes upstream is framed from what the parser read, never from the client's fields.
TEST(RequestFieldsTest, ReframesFromWhatTheParserRead) {
  bhttp::fields f;
  f.insert(bhttp::field::content_length, "005");
  f.insert(bhttp::field::transfer_encoding, "gzip");
  reframe(f, /*chunked=*/false, 5);
  EXPECT_EQ(f[bhttp::field::content_length], "5");
  EXPECT_EQ(f.count(bhttp::field::transfer_encoding), 0u);
  reframe(f, /*chunked=*/true, std::nullopt);
  EXPECT_EQ(f[bhttp::field::transfer_encoding], "chunked");
  EXPECT_EQ(f.count(bhttp::field::content_length), 0u);
  reframe(f, /*chunked=*/false, std::nullopt);
  EXPECT_EQ(f.count(bhttp::field::transfer_encoding) + f.count(bhttp::field::content_length), 0u);
}

// Trailer fields that arrive after the head are dropped, so nothing reads or forwards them.
TEST(RequestFieldsTest, DropsTrailerFields) {
  bhttp::fields f;
  f.insert("Host", "h");
  f.insert("Accept", "a");
  size_t head = count_fields(f);
  f.insert("X-Claimgate-User", "root");
  drop_trailer_fields(f, head);
  EXPECT_EQ(count_fields(f), 2u);
  EXPECT_EQ(f.count("X-Claimgate-User"), 0u);
}

}  // namespace
}  // namespace cg::http
