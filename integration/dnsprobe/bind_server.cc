#include "bind_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "probe/ares_channel.h"

extern char** environ;

namespace failoverd::integration {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

bool bind_ok(int type, std::uint16_t port) {
  Fd s(::socket(AF_INET, type, 0));
  if (s.get() < 0) return false;
  const sockaddr_in sa = loopback(port);
  return ::bind(s.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
}

// A port free for both UDP and TCP on 127.0.0.1 (the kernel picks; we check TCP too).
std::uint16_t free_port() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    Fd s(::socket(AF_INET, SOCK_DGRAM, 0));
    sockaddr_in sa = loopback(0);
    if (::bind(s.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) continue;
    socklen_t len = sizeof sa;
    if (::getsockname(s.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) continue;
    const std::uint16_t port = ntohs(sa.sin_port);
    if (bind_ok(SOCK_STREAM, port)) return port;
  }
  throw std::runtime_error("no free port on 127.0.0.1");
}

// One SOA query over UDP; true when any reply for it arrives within 200 ms.
bool answers(std::uint16_t port) {
  const auto query = probe::make_query("example.test", 6, false);
  Fd s(::socket(AF_INET, SOCK_DGRAM, 0));
  if (s.get() < 0 || query.size() < 12) return false;
  timeval tv{0, 200000};
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const sockaddr_in sa = loopback(port);
  if (::sendto(s.get(), query.data(), query.size(), 0, reinterpret_cast<const sockaddr*>(&sa),
               sizeof sa) < 0) {
    return false;
  }
  std::array<std::uint8_t, 1500> buf{};
  const auto n = ::recv(s.get(), buf.data(), buf.size(), 0);
  return n >= 12 && buf[0] == query[0] && buf[1] == query[1];
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

}  // namespace

std::string BindServer::named_path() {
  const char* from_env = std::getenv("FAILOVERD_NAMED");
  for (const char* candidate : {from_env, "/usr/sbin/named"}) {
    if (candidate != nullptr && *candidate != '\0' && ::access(candidate, X_OK) == 0) {
      return candidate;
    }
  }
  return {};
}

BindServer::BindServer(const std::map<std::string, std::string>& zones,
                       std::chrono::milliseconds ready_timeout) {
  std::string tmpl = (fs::temp_directory_path() / "failoverd-bind-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  std::string zone_conf;
  for (const auto& [name, text] : zones) {
    const fs::path file = fs::path(dir_) / (name + ".zone");
    write_file(file, text);
    zone_conf += "zone \"" + name + "\" { type primary; file \"" + file.string() + "\"; };\n";
  }
  std::string why;
  // A port can be taken between our check and named's bind: try a few.
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = free_port();
    std::ostringstream conf;
    conf << "options {\n"
         << "  directory \"" << dir_ << "\";\n"
         << "  pid-file none;\n"
         << "  listen-on port " << port_ << " { 127.0.0.1; };\n"
         << "  listen-on-v6 { none; };\n"
         << "  recursion no;\n"
         << "  dnssec-validation no;\n"
         << "  allow-query { any; };\n"
         << "  querylog yes;\n"
         << "  notify no;\n"
         << "  session-keyfile \"" << dir_ << "/session.key\";\n"
         << "  managed-keys-directory \"" << dir_ << "\";\n"
         << "};\n"
         << "controls { };\n"
         << zone_conf;
    write_file(fs::path(dir_) / "named.conf", conf.str());
    if (start_once(ready_timeout, why)) return;
    stop();
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
  throw std::runtime_error("named did not start: " + why);
}

bool BindServer::start_once(std::chrono::milliseconds ready_timeout, std::string& why) {
  const std::string named = named_path();
  if (named.empty()) {
    why = "no named binary";
    return false;
  }
  const std::string log_path = dir_ + "/named.log";
  const std::string conf_path = dir_ + "/named.conf";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addchdir_np(&actions, dir_.c_str());
  std::vector<std::string> args{named, "-g", "-4", "-n", "1", "-c", conf_path};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = posix_spawn(&pid_, named.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    why = "posix_spawn: " + std::string(std::strerror(rc));
    return false;
  }
  // Bounded readiness poll: named answers, or it exits, or we give up.
  const auto deadline = std::chrono::steady_clock::now() + ready_timeout;
  for (int i = 0; i < 400 && std::chrono::steady_clock::now() < deadline; ++i) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      why = "named exited:\n" + log();
      return false;
    }
    if (answers(port_)) return true;
    std::this_thread::sleep_for(50ms);
  }
  why = "named not answering on port " + std::to_string(port_) + ":\n" + log();
  return false;
}

void BindServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {  // up to 5 s
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(50ms);
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

BindServer::~BindServer() {
  stop();
  std::error_code ec;
  if (std::getenv("FAILOVERD_KEEP_BIND_DIR") == nullptr) fs::remove_all(dir_, ec);
}

std::string BindServer::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

std::string BindServer::log() const {
  std::ifstream in(dir_ + "/named.log");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

int BindServer::count_log_lines(std::string_view needle) const {
  std::istringstream in(log());
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) ++n;
  }
  return n;
}

}  // namespace failoverd::integration
