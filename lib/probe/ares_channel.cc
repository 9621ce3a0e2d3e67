#include "probe/ares_channel.h"

#include <ares.h>
#include <ares_nameser.h>

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

namespace failoverd::probe {

static_assert(ares_status::kSuccess == ARES_SUCCESS);
static_assert(ares_status::kNoData == ARES_ENODATA);
static_assert(ares_status::kFormErr == ARES_EFORMERR);
static_assert(ares_status::kServFail == ARES_ESERVFAIL);
static_assert(ares_status::kNotFound == ARES_ENOTFOUND);
static_assert(ares_status::kNotImp == ARES_ENOTIMP);
static_assert(ares_status::kRefused == ARES_EREFUSED);
static_assert(ares_status::kBadName == ARES_EBADNAME);
static_assert(ares_status::kBadResp == ARES_EBADRESP);
static_assert(ares_status::kConnRefused == ARES_ECONNREFUSED);
static_assert(ares_status::kTimeout == ARES_ETIMEOUT);
static_assert(ares_status::kNoMem == ARES_ENOMEM);
static_assert(ares_status::kDestruction == ARES_EDESTRUCTION);
static_assert(ares_status::kCancelled == ARES_ECANCELLED);

namespace {

namespace asio = boost::asio;
using boost::system::error_code;
// The io_context's own executor rather than any_io_executor: no type erasure on every wait.
using Executor = asio::io_context::executor_type;
using Descriptor = asio::posix::basic_stream_descriptor<Executor>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>, Executor>;

void init_library() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
      throw std::runtime_error("c-ares: ares_library_init failed");
    }
  });
}

// One socket c-ares asked us to watch. Shared with the pending wait handlers, which may run after
// c-ares closed the socket (alive == false then; the handler must not touch the channel).
struct Watch {
  Watch(asio::io_context& io, int descriptor) : sd(io.get_executor()), fd(descriptor) {}
  Descriptor sd;
  int fd;
  bool want_read = false;
  bool want_write = false;
  bool reading = false;  // an async_wait(wait_read) is pending
  bool writing = false;
  bool alive = true;
};

}  // namespace

struct AresChannel::Impl {
  explicit Impl(asio::io_context& context) : io(context), timer(context.get_executor()) {}

  asio::io_context& io;
  ares_channel channel = nullptr;
  Timer timer;
  // The timer's current wait; a completed handler of an older wait does nothing.
  std::uint64_t timer_generation = 0;
  bool timer_armed = false;
  std::chrono::steady_clock::time_point timer_deadline{};
  // Cleared in the destructor; captured by the timer handler, which can outlive us.
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  std::unordered_map<int, std::shared_ptr<Watch>> watches;
  std::size_t in_flight = 0;
  std::chrono::milliseconds timeout{};  // per try, as given to c-ares
  int tries = 1;

  struct SendContext {
    Impl* impl;
    SendCallback callback;
  };

  static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<Impl*>(data)->sock_state(fd, readable != 0, writable != 0);
  }

  static void on_reply(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    std::unique_ptr<SendContext> ctx(static_cast<SendContext*>(arg));
    --ctx->impl->in_flight;
    std::span<const std::uint8_t> reply;
    if (status == ARES_SUCCESS && abuf != nullptr && alen > 0) {
      reply = {abuf, static_cast<std::size_t>(alen)};
    }
    ctx->callback(status, reply);
  }

  void sock_state(int fd, bool readable, bool writable) {
    auto it = watches.find(fd);
    if (!readable && !writable) {
      // c-ares closes the socket right after this call: stop watching and give the fd back first,
      // so the reactor never holds a closed (or reused) descriptor.
      if (it == watches.end()) return;
      std::shared_ptr<Watch> w = std::move(it->second);
      watches.erase(it);
      forget(*w);
      return;
    }
    if (it == watches.end()) {
      auto w = std::make_shared<Watch>(io, fd);
      error_code ec;
      w->sd.assign(fd, ec);  // registers with the reactor; c-ares still owns the fd
      if (ec) return;        // not watchable: the query ends by c-ares' timeout
      it = watches.emplace(fd, std::move(w)).first;
    }
    std::shared_ptr<Watch> w = it->second;
    w->want_read = readable;
    w->want_write = writable;
    if (readable && !w->reading) arm(w, Descriptor::wait_read);
    if (writable && !w->writing) arm(w, Descriptor::wait_write);
  }

  static void forget(Watch& w) {
    w.alive = false;
    w.want_read = w.want_write = false;
    // release() deregisters from the reactor (pending waits complete with operation_aborted)
    // and does not close the descriptor.
    if (w.sd.is_open()) static_cast<void>(w.sd.release());
  }

  void arm(const std::shared_ptr<Watch>& w, Descriptor::wait_type type) {
    const bool read = type == Descriptor::wait_read;
    (read ? w->reading : w->writing) = true;
    w->sd.async_wait(type, [this, w, read, type](const error_code& ec) {
      (read ? w->reading : w->writing) = false;
      if (!w->alive || ec == asio::error::operation_aborted) return;
      process(read ? w->fd : ARES_SOCKET_BAD, read ? ARES_SOCKET_BAD : w->fd);
      // Another error than "aborted" would repeat at once: leave the socket to c-ares' timeout.
      if (ec || !w->alive) return;
      if (read && w->want_read && !w->reading) arm(w, type);
      if (!read && w->want_write && !w->writing) arm(w, type);
    });
  }

  // ares_timeout walks every query in flight (c-ares 1.18), so it is not called on every event.
  // With one try per query, an armed timer is never too late after I/O: replies only remove
  // queries, a TCP retry after truncation gets a later deadline, and send() checks new queries.
  // With more tries a retry can get an earlier deadline than the armed one, so ask c-ares.
  void process(int read_fd, int write_fd) {
    ares_process_fd(channel, read_fd, write_fd);
    if (!timer_armed || tries > 1) rearm_timer();
  }

  void after_send() {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    if (!timer_armed || deadline < timer_deadline) rearm_timer();
  }

  // Arms the timer for c-ares' next timeout unless it is already armed for an earlier instant.
  // A timer that fires for a query that has completed since costs one cheap ares_process_fd.
  void rearm_timer() {
    timeval tv{};
    timeval* next = ares_timeout(channel, nullptr, &tv);
    if (next == nullptr) return;
    auto delay = std::chrono::seconds(next->tv_sec) + std::chrono::microseconds(next->tv_usec);
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(delay);
    if (timer_armed && timer_deadline <= deadline) return;
    timer_armed = true;
    timer_deadline = deadline;
    const std::uint64_t generation = ++timer_generation;
    timer.expires_at(deadline);
    timer.async_wait([this, token = alive, generation](const error_code&) {
      if (!*token || generation != timer_generation) return;
      timer_armed = false;
      process(ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    });
  }

  ~Impl() {
    if (channel != nullptr) {
      ares_destroy(channel);  // runs outstanding callbacks with ARES_EDESTRUCTION, closes sockets
      channel = nullptr;
    }
    for (auto& [fd, w] : watches) forget(*w);
    watches.clear();
    *alive = false;
  }
};

AresChannel::AresChannel(asio::io_context& io, const AresChannelOptions& options)
    : impl_(std::make_unique<Impl>(io)) {
  init_library();
  ares_options opts{};
  opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
  if (options.tcp) opts.flags |= ARES_FLAG_USEVC;
  if (options.raw_replies) opts.flags |= ARES_FLAG_NOCHECKRESP;
  opts.timeout = static_cast<int>(std::max<std::int64_t>(1, options.timeout.count()));
  opts.tries = std::max(1, options.tries);
  impl_->timeout = std::chrono::milliseconds(opts.timeout);
  impl_->tries = opts.tries;
  opts.sock_state_cb = &Impl::on_sock_state;
  opts.sock_state_cb_data = impl_.get();
  int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
  if (options.receive_buffer_bytes > 0) {
    opts.socket_receive_buffer_size = options.receive_buffer_bytes;
    mask |= ARES_OPT_SOCK_RCVBUF;
  }
  int rc = ares_init_options(&impl_->channel, &opts, mask);
  if (rc != ARES_SUCCESS) {
    impl_->channel = nullptr;
    throw std::runtime_error(std::string("c-ares: ares_init_options: ") + ares_strerror(rc));
  }
  if (!options.servers.empty()) {
    rc = ares_set_servers_ports_csv(impl_->channel, options.servers.c_str());
    if (rc != ARES_SUCCESS) {
      throw std::runtime_error("c-ares: invalid server list \"" + options.servers +
                               "\": " + ares_strerror(rc));
    }
  }
}

AresChannel::~AresChannel() = default;

void AresChannel::send(std::span<const std::uint8_t> query, SendCallback callback) {
  auto* ctx = new Impl::SendContext{impl_.get(), std::move(callback)};
  ++impl_->in_flight;
  // ares_send may call on_reply before it returns (e.g. no usable server); on_reply owns ctx.
  ares_send(impl_->channel, query.data(), static_cast<int>(query.size()), &Impl::on_reply, ctx);
  impl_->after_send();
}

std::size_t AresChannel::in_flight() const {
  return impl_->in_flight;
}

std::size_t AresChannel::watched_sockets() const {
  return impl_->watches.size();
}

std::vector<std::uint8_t> make_query(std::string_view name, int type, bool recursion_desired) {
  init_library();
  const std::string n(name);
  unsigned char* buf = nullptr;
  int len = 0;
  const int rc =
      ares_create_query(n.c_str(), C_IN, type, 0, recursion_desired ? 1 : 0, &buf, &len, 0);
  std::vector<std::uint8_t> out;
  if (rc == ARES_SUCCESS && buf != nullptr && len > 0) out.assign(buf, buf + len);
  if (buf != nullptr) ares_free_string(buf);
  return out;
}

std::string ares_status_text(int status) {
  return ares_strerror(status);
}

}  // namespace failoverd::probe
