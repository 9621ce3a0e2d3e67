#include "state/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace failoverd::state {
namespace {

std::string errno_text(std::string_view what, const std::string& path) {
  return std::string(what) + " " + path + ": " + std::strerror(errno);
}

std::string directory_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Closes the fd on every path out of a function.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::optional<std::string> write_file_atomic(const std::string& path, std::string_view contents,
                                             unsigned mode) {
  const std::string dir = directory_of(path);
  const std::string base = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  // The temporary file is always new (O_EXCL, and O_NOFOLLOW for a dangling link): a file or a
  // symbolic link someone planted under its name is removed (unlink never follows a link) and
  // never written through, so a link to another file cannot make us overwrite that file.
  const std::string tmp = dir + "/." + base + ".tmp." + std::to_string(::getpid());

  {
    constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    Fd f{::open(tmp.c_str(), kFlags, static_cast<mode_t>(mode))};
    if (f.fd < 0 && errno == EEXIST && ::unlink(tmp.c_str()) == 0) {
      f.fd = ::open(tmp.c_str(), kFlags, static_cast<mode_t>(mode));
    }
    if (f.fd < 0) return errno_text("open", tmp);
    std::size_t off = 0;
    while (off < contents.size()) {
      ssize_t n = ::write(f.fd, contents.data() + off, contents.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        auto err = errno_text("write", tmp);
        ::unlink(tmp.c_str());
        return err;
      }
      off += static_cast<std::size_t>(n);
    }
    if (::fsync(f.fd) != 0) {
      auto err = errno_text("fsync", tmp);
      ::unlink(tmp.c_str());
      return err;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = errno_text("rename", tmp);
    ::unlink(tmp.c_str());
    return err;
  }
  // The rename is only durable once the directory entry is on disk.
  Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd < 0) return errno_text("open directory", dir);
  if (::fsync(d.fd) != 0) return errno_text("fsync directory", dir);
  return std::nullopt;
}

ReadFile read_file(const std::string& path, std::size_t max_bytes) {
  ReadFile out;
  // Non-blocking: a FIFO or device at the path must not hang the caller; only regular files.
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)};
  if (f.fd < 0) {
    if (errno == ENOENT) {
      out.missing = true;
    } else {
      out.error = errno_text("open", path);
    }
    return out;
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    out.error = errno_text("stat", path);
    return out;
  }
  if (!S_ISREG(st.st_mode)) {
    out.error = path + ": not a regular file";
    return out;
  }
  std::string data;
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      out.error = errno_text("read", path);
      return out;
    }
    if (n == 0) break;
    if (data.size() + static_cast<std::size_t>(n) > max_bytes) {
      out.error = path + ": larger than " + std::to_string(max_bytes) + " bytes";
      return out;
    }
    data.append(buf, static_cast<std::size_t>(n));
  }
  out.contents = std::move(data);
  return out;
}

}  // namespace failoverd::state
