#include "admin/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace failoverd::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// Connect (and, over TLS, handshake), send, receive: async operations with one deadline, run to
// completion, so blocking from the caller's view. `secure` is null for plain HTTP.
void exchange(asio::io_context& io, beast::tcp_stream& stream, asio::ssl::stream<beast::tcp_stream&>* secure,
              const asio::ip::tcp::resolver::results_type& endpoints,
              http::request<http::string_body>& req, http::response_parser<http::string_body>& parser,
              beast::flat_buffer& buffer, beast::error_code& ec, std::string& step) {
  auto receive = [&](beast::error_code e2, std::size_t) {
    if (e2) {
      ec = e2;
      return;
    }
    step = "receive";
    if (secure) {
      http::async_read(*secure, buffer, parser, [&](beast::error_code e3, std::size_t) { ec = e3; });
    } else {
      http::async_read(stream, buffer, parser, [&](beast::error_code e3, std::size_t) { ec = e3; });
    }
  };
  auto send = [&]() {
    step = "send";
    if (secure) {
      http::async_write(*secure, req, receive);
    } else {
      http::async_write(stream, req, receive);
    }
  };
  stream.async_connect(endpoints, [&](beast::error_code e, const auto&) {
    if (e) {
      ec = e;
      return;
    }
    if (!secure) return send();
    step = "tls handshake";
    secure->async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e1) {
      if (e1) {
        ec = e1;
        return;
      }
      send();
    });
  });
  io.run();
}

}  // namespace

ClientResult http_request(const config::HostPort& server, const std::string& method,
                          const std::string& target, const std::string& token,
                          const std::string& body, std::chrono::milliseconds timeout,
                          const std::optional<ClientTls>& tls) {
  ClientResult out;
  asio::io_context io;
  beast::tcp_stream stream(io);
  const std::string where = server.host + ":" + std::to_string(server.port);
  asio::ip::tcp::resolver resolver(io);
  beast::error_code ec;
  auto endpoints = resolver.resolve(server.host, std::to_string(server.port), ec);
  if (ec) {
    out.error = "resolve " + where + ": " + ec.message();
    return out;
  }
  std::optional<asio::ssl::context> ctx;
  std::optional<asio::ssl::stream<beast::tcp_stream&>> secure;
  if (tls) {
    std::string step = "CA file " + tls->ca_file;
    try {
      ctx.emplace(asio::ssl::context::tls_client);
      ctx->set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
      ctx->set_verify_mode(asio::ssl::verify_peer);
      if (tls->ca_file.empty()) {
        ctx->set_default_verify_paths();
      } else {
        ctx->load_verify_file(tls->ca_file);
      }
      if (!tls->cert_file.empty()) {
        step = "certificate " + tls->cert_file;
        ctx->use_certificate_chain_file(tls->cert_file);
        step = "key " + (tls->key_file.empty() ? tls->cert_file : tls->key_file);
        ctx->use_private_key_file(tls->key_file.empty() ? tls->cert_file : tls->key_file,
                                  asio::ssl::context::pem);
      }
    } catch (const boost::system::system_error& e) {
      out.error = "tls: cannot load " + step + ": " + e.code().message();
      return out;
    }
    secure.emplace(stream, *ctx);
    // The name (or IP address) asked for must be in the server's certificate.
    secure->set_verify_callback(asio::ssl::host_name_verification(server.host));
    beast::error_code not_ip;
    asio::ip::make_address(server.host, not_ip);
    if (not_ip) {  // SNI carries names only (RFC 6066)
      SSL_ctrl(secure->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(server.host.c_str()));
    }
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
  exchange(io, stream, secure ? &*secure : nullptr, endpoints, req, parser, buffer, ec, step);
  if (ec) {
    std::string why = ec == beast::error::timeout ? std::string("timed out") : ec.message();
    if (secure) {
      long vr = SSL_get_verify_result(secure->native_handle());
      if (vr != X509_V_OK) why = std::string("certificate verify failed: ") +
                                 X509_verify_cert_error_string(vr);
    }
    out.error = step + " " + where + ": " + why;
    return out;
  }
  out.response = ClientResponse{parser.get().result_int(), parser.get().body()};
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  return out;
}

}  // namespace failoverd::admin
