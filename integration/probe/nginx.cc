#include "nginx.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace failoverd::testing {

namespace {

int loopback_socket(bool ipv6, std::uint16_t port, sockaddr_storage& ss, socklen_t& len) {
  std::memset(&ss, 0, sizeof ss);
  if (ipv6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    a->sin6_port = htons(port);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons(port);
    len = sizeof *a;
  }
  return ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

std::string http_locations() {
  return R"(
      location = /health { return 200 "ok\n"; }
      location = /fail { return 503 "down\n"; }
      location / { return 200 "hello failoverd\n"; }
)";
}

}  // namespace

std::uint16_t free_port(bool ipv6) {
  sockaddr_storage ss;
  socklen_t len;
  int fd = loopback_socket(ipv6, 0, ss, len);
  if (fd < 0) throw std::runtime_error("socket");
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind");
  }
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  std::uint16_t port = ipv6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                            : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  ::close(fd);
  return port;
}

bool have_ipv6_loopback() {
  sockaddr_storage ss;
  socklen_t len;
  int fd = loopback_socket(true, 0, ss, len);
  if (fd < 0) return false;
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0;
  ::close(fd);
  return ok;
}

bool port_accepts(std::uint16_t port) {
  sockaddr_storage ss;
  socklen_t len;
  int fd = loopback_socket(false, port, ss, len);
  if (fd < 0) return false;
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0;
  ::close(fd);
  return ok;
}

std::uint64_t process_cpu_us(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return 0;
  // Fields after the ")" that closes the command name; utime and stime are fields 14 and 15.
  std::istringstream in(line.substr(line.rfind(')') + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  long hz = ::sysconf(_SC_CLK_TCK);
  return (utime + stime) * 1'000'000 / static_cast<std::uint64_t>(hz);
}

std::uint64_t process_rss_kib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.starts_with("VmRSS:")) return std::stoull(line.substr(6));
  }
  return 0;
}

Nginx::Nginx(NginxOptions options) : options_(std::move(options)) {
  http_port_ = free_port();
  status_port_ = free_port();
  const std::string& p = options_.prefix;
  std::ostringstream conf;
  if (::geteuid() == 0) conf << "user root;\n";
  conf << "daemon off;\nworker_processes 1;\npid " << p << "/nginx.pid;\n"
       << "error_log " << p << "/error.log warn;\nworker_rlimit_nofile 65536;\n"
       << "events { worker_connections " << options_.worker_connections
       << "; multi_accept on; }\n"
       << "http {\n  access_log off;\n  keepalive_timeout 5;\n"
       << "  client_body_temp_path " << p << "/body;\n  proxy_temp_path " << p << "/proxy;\n"
       << "  fastcgi_temp_path " << p << "/fastcgi;\n  uwsgi_temp_path " << p << "/uwsgi;\n"
       << "  scgi_temp_path " << p << "/scgi;\n"
       << "  server {\n    listen 127.0.0.1:" << http_port_ << " backlog=4096;\n";
  if (options_.ipv6) conf << "    listen [::1]:" << http_port_ << ";\n";
  std::ofstream(p + "/big.txt") << std::string(100 * 1024, 'b');
  conf << http_locations() << "      location = /big { default_type text/plain; alias " << p
       << "/big.txt; }\n" << options_.extra_http << "  }\n";
  conf << "  server {\n    listen 127.0.0.1:" << status_port_
       << ";\n    location / { stub_status; }\n  }\n";
  if (!options_.tls_cert.empty()) {
    https_port_ = free_port();
    conf << "  server {\n    listen 127.0.0.1:" << https_port_ << " ssl;\n"
         << "    ssl_certificate " << options_.tls_cert << ";\n    ssl_certificate_key "
         << options_.tls_key << ";\n" << http_locations() << "  }\n";
    if (!options_.client_ca.empty()) {
      mtls_port_ = free_port();
      conf << "  server {\n    listen 127.0.0.1:" << mtls_port_ << " ssl;\n"
           << "    ssl_certificate " << options_.tls_cert << ";\n    ssl_certificate_key "
           << options_.tls_key << ";\n    ssl_client_certificate " << options_.client_ca
           << ";\n    ssl_verify_client on;\n" << http_locations() << "  }\n";
    }
  }
  conf << "}\n";
  std::string conf_path = p + "/nginx.conf";
  std::ofstream(conf_path) << conf.str();

  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    std::string err = p + "/error.log";
    ::execl("/usr/sbin/nginx", "nginx", "-c", conf_path.c_str(), "-p", p.c_str(), "-e",
            err.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Bounded wait for readiness: 100 x 50 ms.
  for (int i = 0; i < 100; ++i) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      std::ifstream log(p + "/error.log");
      std::stringstream text;
      text << log.rdbuf();
      throw std::runtime_error("nginx exited at start: " + text.str());
    }
    bool ready = port_accepts(http_port_) && port_accepts(status_port_) &&
                 (https_port_ == 0 || port_accepts(https_port_));
    if (ready) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop();
  throw std::runtime_error("nginx did not come up within 5 s");
}

Nginx::~Nginx() { stop(); }

void Nginx::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

Nginx::StubStatus Nginx::stub_status() const {
  StubStatus st;
  sockaddr_storage ss;
  socklen_t len;
  int fd = loopback_socket(false, status_port_, ss, len);
  if (fd < 0) return st;
  std::string text;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
    static const char req[] = "GET / HTTP/1.0\r\n\r\n";
    if (::write(fd, req, sizeof req - 1) > 0) {
      char buf[1024];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  // "...server accepts handled requests\n A H R \n..."
  auto at = text.find("requests\n");
  if (at == std::string::npos) return st;
  std::istringstream in(text.substr(at + 9));
  std::uint64_t handled = 0;
  in >> st.accepts >> handled >> st.requests;
  return st;
}

std::uint64_t Nginx::requests() const { return stub_status().requests; }

std::uint64_t Nginx::accepts() const { return stub_status().accepts; }

std::uint64_t Nginx::cpu_us() const {
  std::uint64_t total = process_cpu_us(pid_);
  std::ifstream children("/proc/" + std::to_string(pid_) + "/task/" + std::to_string(pid_) +
                         "/children");
  pid_t child;
  while (children >> child) total += process_cpu_us(child);
  return total;
}

}  // namespace failoverd::testing
