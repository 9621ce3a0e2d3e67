#include "admin/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace failoverd::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

ClientResult http_request(const config::HostPort& server, const std::string& method,
                          const std::string& target, const std::string& token,
                          const std::string& body, std::chrono::milliseconds timeout) {
  ClientResult out;
  asio::io_context io;
  beast::tcp_stream stream(io);
  const std::string where = server.host + ":" + std::to_string(server.port);
  // Async operations with one deadline, run to completion: blocking from the caller's view.
  asio::ip::tcp::resolver resolver(io);
  beast::error_code ec;
  auto endpoints = resolver.resolve(server.host, std::to_string(server.port), ec);
  if (ec) {
    out.error = "resolve " + where + ": " + ec.message();
    return out;
  }
  stream.expires_after(timeout);
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, where);
  req.set(http::field::user_agent, "failoverctl");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  http::response_parser<http::string_body> parser;
  parser.body_limit(8 * 1024 * 1024);
  beast::flat_buffer buffer;
  std::string step = "connect";
  stream.async_connect(endpoints, [&](beast::error_code e, const auto&) {
    if (e) { ec = e; return; }
    step = "send";
    http::async_write(stream, req, [&](beast::error_code e2, std::size_t) {
      if (e2) { ec = e2; return; }
      step = "receive";
      http::async_read(stream, buffer, parser, [&](beast::error_code e3, std::size_t) { ec = e3; });
    });
  });
  io.run();
  if (ec) {
    out.error = step + " " + where + ": " +
                (ec == beast::error::timeout ? std::string("timed out") : ec.message());
    return out;
  }
  out.response = ClientResponse{parser.get().result_int(), parser.get().body()};
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  return out;
}

}  // namespace failoverd::admin
