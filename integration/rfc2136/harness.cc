#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

extern char** environ;

namespace failoverd::itest {

namespace dns = actuate::dns;
namespace tsig = actuate::tsig;
using namespace std::chrono_literals;

namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

sockaddr* as_sa(sockaddr_in* a) {
  return reinterpret_cast<sockaddr*>(a);
}

std::uint16_t bound_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  getsockname(fd, as_sa(&a), &len);
  return ntohs(a.sin_port);
}

// A listening TCP socket on 127.0.0.1:0.
int listen_any(std::uint16_t& port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  auto a = loopback(0);
  if (bind(fd, as_sa(&a), sizeof(a)) != 0 || listen(fd, 16) != 0) {
    close(fd);
    return -1;
  }
  port = bound_port(fd);
  return fd;
}

bool wait_fd(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  return poll(&p, 1, timeout_ms) == 1 && (p.revents & (events | POLLHUP | POLLERR)) != 0;
}

bool read_exact(int fd, std::uint8_t* buf, std::size_t n, int timeout_ms) {
  std::size_t got = 0;
  while (got < n) {
    if (!wait_fd(fd, POLLIN, timeout_ms)) return false;
    auto r = ::read(fd, buf + got, n - got);
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

bool write_all(int fd, const std::vector<std::uint8_t>& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    auto r = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (r <= 0) return false;
    off += static_cast<std::size_t>(r);
  }
  return true;
}

std::optional<std::vector<std::uint8_t>> read_frame(int fd, int timeout_ms) {
  std::array<std::uint8_t, 2> len{};
  if (!read_exact(fd, len.data(), 2, timeout_ms)) return std::nullopt;
  std::vector<std::uint8_t> msg((std::size_t{len[0]} << 8) | len[1]);
  if (!msg.empty() && !read_exact(fd, msg.data(), msg.size(), timeout_ms)) return std::nullopt;
  return msg;
}

bool write_frame(int fd, const std::vector<std::uint8_t>& msg) {
  std::vector<std::uint8_t> out{static_cast<std::uint8_t>(msg.size() >> 8),
                                static_cast<std::uint8_t>(msg.size() & 0xff)};
  out.insert(out.end(), msg.begin(), msg.end());
  return write_all(fd, out);
}

int connect_to(std::uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto a = loopback(port);
  if (connect(fd, as_sa(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

std::string zone_file() {
  return "$TTL 30\n"
         "@ IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 30\n"
         "@ IN NS ns.example.test.\n"
         "ns IN A 127.0.0.1\n"
         "www IN A 192.0.2.10\n"
         "_failoverd.www IN TXT \"gen=1 writer=init\"\n";
}

class BindServer final : public DnsServer {
 public:
  explicit BindServer(std::filesystem::path dir) : dir_(std::move(dir)) {
    port_ = free_port();
    log_ = dir_ / "named.log";
    write_file(dir_ / "example.test.db", zone_file());
    std::string d = dir_.string();
    write_file(dir_ / "named.conf",
               "options {\n"
               "  directory \"" +
                   d +
                   "\";\n"
                   "  pid-file \"" +
                   d +
                   "/named.pid\";\n"
                   "  session-keyfile \"" +
                   d +
                   "/session.key\";\n"
                   "  managed-keys-directory \"" +
                   d +
                   "\";\n"
                   "  listen-on port " +
                   std::to_string(port_) +
                   " { 127.0.0.1; };\n"
                   "  listen-on-v6 { none; };\n"
                   "  recursion no;\n"
                   "  dnssec-validation no;\n"
                   "  notify no;\n"
                   "};\n"
                   "controls { };\n"
                   "key \"failoverd-key.\" { algorithm hmac-sha256; secret \"" +
                   std::string(kSecret) +
                   "\"; };\n"
                   "key \"failoverd-sha1.\" { algorithm hmac-sha1; secret \"" +
                   std::string(kSecret) +
                   "\"; };\n"
                   "key \"failoverd-sha512.\" { algorithm hmac-sha512; secret \"" +
                   std::string(kSecret) +
                   "\"; };\n"
                   "zone \"example.test.\" {\n"
                   "  type primary;\n"
                   "  file \"" +
                   d +
                   "/example.test.db\";\n"
                   "  allow-update { key \"failoverd-key.\"; key \"failoverd-sha1.\"; "
                   "key \"failoverd-sha512.\"; };\n"
                   "};\n");
  }
  ~BindServer() override { stop(); }
  std::string_view kind() const override { return "bind9"; }
  bool start() override {
    if (!proc_.start({"/usr/sbin/named", "-g", "-4", "-n", "1", "-u", "root", "-c",
                      (dir_ / "named.conf").string()},
                     log_)) {
      return false;
    }
    return wait_ready();
  }
  void stop() override { proc_.stop(); }

 private:
  std::filesystem::path dir_;
  Process proc_;
};

class KnotServer final : public DnsServer {
 public:
  explicit KnotServer(std::filesystem::path dir) : dir_(std::move(dir)) {
    port_ = free_port();
    log_ = dir_ / "knotd.log";
    write_file(dir_ / "example.test.zone", zone_file());
    std::string d = dir_.string();
    write_file(dir_ / "knot.conf",
               "server:\n"
               "    rundir: \"" +
                   d +
                   "\"\n"
                   "    user: root:root\n"
                   "    pidfile: \"" +
                   d +
                   "/knot.pid\"\n"
                   "    listen: 127.0.0.1@" +
                   std::to_string(port_) +
                   "\n"
                   "    udp-workers: 1\n"
                   "    tcp-workers: 1\n"
                   "    background-workers: 1\n"
                   "log:\n"
                   "  - target: stderr\n"
                   "    any: info\n"
                   "database:\n"
                   "    storage: \"" +
                   d +
                   "\"\n"
                   "key:\n"
                   "  - id: failoverd-key.\n"
                   "    algorithm: hmac-sha256\n"
                   "    secret: " +
                   std::string(kSecret) +
                   "\n"
                   "  - id: failoverd-sha1.\n"
                   "    algorithm: hmac-sha1\n"
                   "    secret: " +
                   std::string(kSecret) +
                   "\n"
                   "  - id: failoverd-sha512.\n"
                   "    algorithm: hmac-sha512\n"
                   "    secret: " +
                   std::string(kSecret) +
                   "\n"
                   "acl:\n"
                   "  - id: update_acl\n"
                   "    key: [failoverd-key., failoverd-sha1., failoverd-sha512.]\n"
                   "    action: update\n"
                   "zone:\n"
                   "  - domain: example.test.\n"
                   "    storage: \"" +
                   d +
                   "\"\n"
                   "    file: \"example.test.zone\"\n"
                   "    acl: update_acl\n");
  }
  ~KnotServer() override { stop(); }
  std::string_view kind() const override { return "knot"; }
  bool start() override {
    if (!proc_.start({"/usr/sbin/knotd", "-c", (dir_ / "knot.conf").string()}, log_)) {
      return false;
    }
    return wait_ready();
  }
  void stop() override { proc_.stop(); }

 private:
  std::filesystem::path dir_;
  Process proc_;
};

}  // namespace

std::uint16_t free_port() {
  // Bind TCP on port 0, then check UDP on the same port; bounded attempts.
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::uint16_t port = 0;
    int t = listen_any(port);
    if (t < 0) continue;
    int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    auto a = loopback(port);
    bool ok = bind(u, as_sa(&a), sizeof(a)) == 0;
    close(u);
    close(t);
    if (ok) return port;
  }
  return 0;
}

TempDir::TempDir(std::string_view prefix) {
  std::random_device rd;
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto p = std::filesystem::temp_directory_path() /
             (std::string(prefix) + "-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
    std::error_code ec;
    if (std::filesystem::create_directory(p, ec)) {
      path_ = p;
      return;
    }
  }
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

bool Process::start(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  stop();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return false;
  pid_ = pid;
  return true;
}

void Process::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 100; ++i) {  // up to 5 s
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(50ms);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string DnsServer::log_tail() const {
  std::ifstream in(log_);
  std::stringstream ss;
  ss << in.rdbuf();
  auto s = ss.str();
  return s.size() > 3000 ? s.substr(s.size() - 3000) : s;
}

bool DnsServer::wait_ready() {
  for (int i = 0; i < 200; ++i) {  // up to ~10 s
    auto m = udp_query(port_, kZone, dns::type::kSoa, 50);
    if (m && m->header.rcode == dns::rcode::kNoError && !m->answers.empty()) {
      // And TCP, which is what the actuator uses.
      int fd = connect_to(port_);
      if (fd >= 0) {
        close(fd);
        return true;
      }
    }
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

std::unique_ptr<DnsServer> make_bind(const std::filesystem::path& dir) {
  return std::make_unique<BindServer>(dir);
}
std::unique_ptr<DnsServer> make_knot(const std::filesystem::path& dir) {
  return std::make_unique<KnotServer>(dir);
}

std::optional<dns::Message> udp_query(std::uint16_t port, std::string_view name, std::uint16_t type,
                                      int timeout_ms) {
  static std::atomic<std::uint16_t> next_id{1};
  dns::Message q;
  q.header.id = next_id++;
  q.questions.push_back({std::string(name), type, dns::klass::kIn});
  auto wire = dns::encode(q);
  if (!wire) return std::nullopt;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  auto a = loopback(port);
  std::optional<dns::Message> out;
  if (sendto(fd, wire->data(), wire->size(), 0, as_sa(&a), sizeof(a)) ==
      static_cast<ssize_t>(wire->size())) {
    std::vector<std::uint8_t> buf(4096);
    // Bounded: skip at most a few stray datagrams.
    for (int i = 0; i < 4 && wait_fd(fd, POLLIN, timeout_ms); ++i) {
      auto n = recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      auto d = dns::decode(std::span(buf.data(), static_cast<std::size_t>(n)));
      if (d.message && d.message->header.id == q.header.id) {
        out = std::move(d.message);
        break;
      }
    }
  }
  close(fd);
  return out;
}

int nsupdate(std::uint16_t port, std::string_view secret, const std::string& commands) {
  TempDir dir("failoverd-nsupdate");
  auto file = dir.path() / "cmds";
  write_file(file, "server 127.0.0.1 " + std::to_string(port) + "\nzone example.test.\n" +
                       commands + "\nsend\n");
  std::string cmd =
      "timeout 20 /usr/bin/nsupdate -v -y hmac-sha256:failoverd-key.:" + std::string(secret) + " " +
      file.string() + " >/dev/null 2>&1";
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

Watcher::Watcher(std::uint16_t port) : port_(port), thread_([this] { run(); }) {}
Watcher::~Watcher() {
  stop();
}

void Watcher::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::vector<std::string> Watcher::answers_seen() const {
  std::lock_guard lock(mu_);
  return seen_;
}

void Watcher::run() {
  // Bounded by the test: stop() ends it; at 10 ms per round it also ends after an hour.
  for (int round = 0; round < 360000 && !stop_; ++round) {
    auto a = udp_query(port_, kName, dns::type::kA);
    if (a &&
        (a->header.rcode == dns::rcode::kNoError || a->header.rcode == dns::rcode::kNxDomain)) {
      ++polls_;
      std::vector<std::string> values;
      for (const auto& rr : a->answers) {
        if (rr.type == dns::type::kA) values.push_back(*dns::rdata_to_text(rr.type, rr.rdata));
      }
      std::sort(values.begin(), values.end());
      if (values.empty() && !allow_empty_) ++empty_;
      std::string joined;
      for (const auto& v : values) joined += (joined.empty() ? "" : ",") + v;
      std::lock_guard lock(mu_);
      if (seen_.empty() || seen_.back() != joined) seen_.push_back(joined);
    }
    auto f = udp_query(port_, kFenceName, dns::type::kTxt);
    if (f && f->header.rcode == dns::rcode::kNoError) {
      for (const auto& rr : f->answers) {
        if (rr.type != dns::type::kTxt) continue;
        auto text = dns::rdata_to_text(rr.type, rr.rdata).value_or("");
        // "gen=N writer=W"
        std::uint64_t gen = std::strtoull(text.c_str() + (text.size() > 4 ? 4 : 0), nullptr, 10);
        auto prev = max_gen_.load();
        if (gen < prev) ++decreases_;
        if (gen > prev) max_gen_ = gen;
      }
    }
    std::this_thread::sleep_for(10ms);
  }
}

DropUpdateReplyProxy::DropUpdateReplyProxy(std::uint16_t upstream) : upstream_(upstream) {
  listen_fd_ = listen_any(port_);
  thread_ = std::thread([this] { run(); });
}

DropUpdateReplyProxy::~DropUpdateReplyProxy() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

void DropUpdateReplyProxy::run() {
  while (!stop_) {
    if (!wait_fd(listen_fd_, POLLIN, 50)) continue;
    int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    int u = connect_to(upstream_);
    // Up to 16 messages per connection, each with a 3 s limit.
    for (int i = 0; i < 16 && u >= 0 && !stop_; ++i) {
      auto req = read_frame(c, 3000);
      if (!req || req->size() < 12) break;
      bool is_update = ((((*req)[2]) >> 3) & 0xf) == 5;
      if (!write_frame(u, *req)) break;
      auto reply = read_frame(u, 3000);
      if (!reply) break;
      if (is_update) {
        ++updates_;
        break;  // applied upstream; the client never hears back
      }
      if (!write_frame(c, *reply)) break;
    }
    if (u >= 0) close(u);
    close(c);
  }
}

FakeDnsServer::FakeDnsServer(tsig::Key key, std::uint16_t rcode, Sign sign)
    : key_(std::move(key)), rcode_(rcode), sign_(sign) {
  listen_fd_ = listen_any(port_);
  thread_ = std::thread([this] { run(); });
}

FakeDnsServer::~FakeDnsServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

void FakeDnsServer::run() {
  while (!stop_) {
    if (!wait_fd(listen_fd_, POLLIN, 50)) continue;
    int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    for (int i = 0; i < 16 && !stop_; ++i) {
      auto req = read_frame(c, 3000);
      if (!req) break;
      ++requests_;
      auto d = dns::decode(*req);
      if (!d.message) break;
      auto now = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
      auto v = tsig::verify(*req, key_, {}, now);
      if (sign_ == Sign::NoReply) {
        // Hold the connection until the client gives up (bounded).
        std::array<std::uint8_t, 1> b{};
        read_exact(c, b.data(), 1, 5000);
        break;
      }
      dns::Message r;
      r.header = d.message->header;
      r.header.qr = true;
      r.header.rcode = static_cast<std::uint8_t>(rcode_ & 0xf);
      r.questions = d.message->questions;
      auto wire = *dns::encode(r);
      std::vector<std::uint8_t> out = wire;
      if (sign_ == Sign::Valid || sign_ == Sign::BadMac) {
        auto s = tsig::sign(wire, key_, now, tsig::kDefaultFudge, v.mac);
        if (s) out = s->wire;
        if (sign_ == Sign::BadMac) out[out.size() - 10] ^= 0xff;  // inside the MAC
      } else if (sign_ == Sign::BadKeyError) {
        auto s = tsig::sign(wire, key_, now, tsig::kDefaultFudge, {}, dns::rcode::kBadKey);
        if (s) out = s->wire;
      }
      if (!write_frame(c, out)) break;
    }
    close(c);
  }
}

tsig::Key test_key(std::string_view secret, std::string_view name, tsig::Algorithm algorithm) {
  return tsig::Key{std::string(name), algorithm, *tsig::base64_decode(secret)};
}

config::Rfc2136Target test_target(std::uint16_t port) {
  config::Rfc2136Target t;
  t.server = {"127.0.0.1", port};
  t.zone = std::string(kZone);
  t.name = std::string(kName);
  t.type = "A";
  t.ttl = 30;
  t.tsig_key_name = std::string(kKeyName);
  t.timeout = std::chrono::milliseconds(1000);
  return t;
}

}  // namespace failoverd::itest
