#include "support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

extern char** environ;

namespace failoverd::it {

TempDir::TempDir() {
  std::string tmpl = "/tmp/failoverd-it-XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::uint16_t free_port() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    const int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(tcp, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(tcp, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(tcp);
      continue;
    }
    const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const bool udp_ok = ::bind(udp, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(udp);
    ::close(tcp);
    if (udp_ok) return ntohs(addr.sin_port);
  }
  throw std::runtime_error("no free port");
}

void write_file(const std::string& path, const std::string& text, int mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
  }
  ::chmod(path.c_str(), static_cast<mode_t>(mode));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
  ::posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, cargv.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("spawn " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

// Waits for pid for at most `limit`; true when it was reaped.
bool reap(pid_t pid, std::chrono::milliseconds limit, int* status = nullptr) {
  const auto end = std::chrono::steady_clock::now() + limit;
  for (int i = 0; i < 100000; ++i) {
    int st = 0;
    const pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      if (status) *status = st;
      return true;
    }
    if (r < 0) return true;  // not ours any more
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace

Child::Child(const std::vector<std::string>& argv, const std::string& log_path)
    : pid_(spawn(argv, log_path)) {}

Child::~Child() {
  stop();
}

bool Child::running() {
  if (pid_ <= 0) return false;
  int st = 0;
  const pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_ || r < 0) {
    pid_ = -1;
    return false;
  }
  return true;
}

void Child::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  if (!reap(pid_, std::chrono::seconds(5))) {
    ::kill(pid_, SIGKILL);
    reap(pid_, std::chrono::seconds(5));
  }
  pid_ = -1;
}

int run_and_wait(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  const pid_t pid = spawn(argv, "/dev/null");
  int status = 0;
  if (!reap(pid, timeout, &status)) {
    ::kill(pid, SIGKILL);
    reap(pid, std::chrono::seconds(5));
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds limit,
                std::chrono::milliseconds step) {
  const auto end = std::chrono::steady_clock::now() + limit;
  const auto max_polls = limit / step + 2;
  for (long i = 0; i < max_polls; ++i) {
    if (ready()) return true;
    if (std::chrono::steady_clock::now() >= end) break;
    std::this_thread::sleep_for(step);
  }
  return ready();
}

namespace {

// Skips a (possibly compressed) name at msg[pos]; false if malformed.
bool skip_name(const std::vector<unsigned char>& msg, std::size_t& pos) {
  for (int labels = 0; labels < 128; ++labels) {
    if (pos >= msg.size()) return false;
    const unsigned len = msg[pos];
    if ((len & 0xC0) == 0xC0) {
      pos += 2;
      return pos <= msg.size();
    }
    pos += 1;
    if (len == 0) return true;
    pos += len;
  }
  return false;
}

unsigned u16(const std::vector<unsigned char>& m, std::size_t p) {
  return (static_cast<unsigned>(m[p]) << 8) | m[p + 1];
}

}  // namespace

std::optional<DnsAnswer> query_a(std::uint16_t port, const std::string& name,
                                 std::chrono::milliseconds timeout) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  const unsigned id = rng() & 0xFFFF;
  std::vector<unsigned char> q = {static_cast<unsigned char>(id >> 8),
                                  static_cast<unsigned char>(id & 0xFF),
                                  0x00,
                                  0x00,
                                  0,
                                  1,
                                  0,
                                  0,
                                  0,
                                  0,
                                  0,
                                  0};
  std::size_t start = 0;
  while (start < name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q.push_back(static_cast<unsigned char>(dot - start));
    q.insert(q.end(), name.begin() + static_cast<long>(start),
             name.begin() + static_cast<long>(dot));
    start = dot + 1;
  }
  q.push_back(0);
  q.insert(q.end(), {0, 1, 0, 1});  // type A, class IN

  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  timeval tv{};
  tv.tv_sec = static_cast<long>(timeout.count() / 1000);
  tv.tv_usec = static_cast<long>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  std::optional<DnsAnswer> out;
  if (::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) ==
      static_cast<ssize_t>(q.size())) {
    std::vector<unsigned char> r(4096);
    for (int tries = 0; tries < 4 && !out; ++tries) {  // skip stray replies to older queries
      const ssize_t n = ::recv(fd, r.data(), r.size(), 0);
      if (n < 12) break;
      r.resize(static_cast<std::size_t>(n));
      if (u16(r, 0) != id) {
        r.resize(4096);
        continue;
      }
      DnsAnswer a;
      a.rcode = r[3] & 0x0F;
      const unsigned qd = u16(r, 4);
      const unsigned an = u16(r, 6);
      std::size_t pos = 12;
      bool ok = true;
      for (unsigned i = 0; i < qd && ok; ++i) ok = skip_name(r, pos) && (pos += 4) <= r.size();
      for (unsigned i = 0; i < an && ok; ++i) {
        ok = skip_name(r, pos) && pos + 10 <= r.size();
        if (!ok) break;
        const unsigned type = u16(r, pos);
        const unsigned rdlen = u16(r, pos + 8);
        pos += 10;
        ok = pos + rdlen <= r.size();
        if (ok && type == 1 && rdlen == 4) {
          a.addresses.push_back(std::to_string(r[pos]) + "." + std::to_string(r[pos + 1]) + "." +
                                std::to_string(r[pos + 2]) + "." + std::to_string(r[pos + 3]));
        }
        pos += rdlen;
      }
      if (ok) out = std::move(a);
      break;
    }
  }
  ::close(fd);
  return out;
}

}  // namespace failoverd::it
