#include "actuate/haproxy.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <map>
#include <stdexcept>

#include "log/log.h"

namespace failoverd::actuate {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace haproxy {

namespace {

// SRV_ADMF_* masks from HAProxy's server-t.h (stable since 1.6).
constexpr unsigned kMaintMask = 0x23;  // FMAINT | IMAINT | RMAINT
constexpr unsigned kDrainMask = 0x18;  // FDRAIN | IDRAIN

std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

template <typename T>
bool parse_number(std::string_view s, T& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

// A name that can be pasted into a runtime API command line unchanged.
bool safe_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.' ||
           c == ':';
  });
}

}  // namespace

bool ServerState::ready() const {
  return (admin_state & (kMaintMask | kDrainMask)) == 0;
}
bool ServerState::drained() const {
  return (admin_state & kDrainMask) != 0 && (admin_state & kMaintMask) == 0;
}
bool ServerState::maint() const {
  return (admin_state & kMaintMask) != 0;
}

std::optional<std::vector<ServerState>> parse_servers_state(std::string_view text,
                                                            std::string& error) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
  }
  std::size_t i = 0;
  while (i < lines.size() && lines[i].empty()) ++i;
  if (i == lines.size() || lines[i] != "1") {
    error = i == lines.size() ? "empty reply"
                              : "unexpected reply: " + std::string(lines[i].substr(0, 200));
    return std::nullopt;
  }
  ++i;
  if (i == lines.size() || !lines[i].starts_with("#")) {
    error = "no header line";
    return std::nullopt;
  }
  auto header = split_words(lines[i].substr(1));
  std::map<std::string_view, std::size_t> col;
  for (std::size_t c = 0; c < header.size(); ++c) col[header[c]] = c;
  for (const char* needed : {"be_name", "srv_name", "srv_addr", "srv_op_state", "srv_admin_state",
                             "srv_uweight", "srv_iweight"}) {
    if (!col.contains(needed)) {
      error = std::string("header lacks ") + needed;
      return std::nullopt;
    }
  }
  std::vector<ServerState> out;
  for (++i; i < lines.size(); ++i) {
    if (lines[i].empty() || lines[i].starts_with("#")) continue;
    auto f = split_words(lines[i]);
    if (f.size() < header.size()) {
      error = "short line: " + std::string(lines[i].substr(0, 200));
      return std::nullopt;
    }
    ServerState s;
    s.backend = std::string(f[col["be_name"]]);
    s.name = std::string(f[col["srv_name"]]);
    s.address = std::string(f[col["srv_addr"]]);
    if (!parse_number(f[col["srv_op_state"]], s.op_state) ||
        !parse_number(f[col["srv_admin_state"]], s.admin_state) ||
        !parse_number(f[col["srv_uweight"]], s.user_weight) ||
        !parse_number(f[col["srv_iweight"]], s.initial_weight)) {
      error = "bad number in line: " + std::string(lines[i].substr(0, 200));
      return std::nullopt;
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string validate_plan(const std::set<std::string>& managed, bool weighted,
                          std::uint32_t min_targets, const core::Plan& plan) {
  std::set<std::string> members;
  for (const auto& m : plan.members) {
    if (!managed.contains(m.value)) return "member " + m.value + " is in no publish list";
    if (!safe_token(m.value)) return "member name " + m.value + " is not a plain server name";
    if (weighted && (m.weight == 0 || m.weight > 256)) {
      return "weight " + std::to_string(m.weight) + " of " + m.value + " is outside 1..256";
    }
    members.insert(m.value);
  }
  if (members.empty()) return "plan has no members (never leave the backend without servers)";
  if (members.size() < min_targets) {
    return "plan has " + std::to_string(members.size()) + " members, fewer than min_targets " +
           std::to_string(min_targets);
  }
  return {};
}

std::vector<std::string> plan_commands(const config::HaProxyTarget& target,
                                       const std::set<std::string>& managed, bool weighted,
                                       const core::Plan& plan) {
  std::vector<std::string> out;
  std::set<std::string> members;
  const std::string prefix = "set server " + target.backend + "/";
  // First the new servers: weight, then ready (a server coming up takes its new share at once).
  for (const auto& m : plan.members) {
    if (!members.insert(m.value).second) continue;
    if (weighted) out.push_back(prefix + m.value + " weight " + std::to_string(m.weight));
    out.push_back(prefix + m.value + " state ready");
  }
  // Only then the old ones: never a moment without a ready server.
  for (const auto& name : managed) {
    if (!members.contains(name)) out.push_back(prefix + name + " state " + target.inactive_state);
  }
  return out;
}

LiveState live_state(const std::vector<ServerState>& servers, const std::set<std::string>& managed,
                     bool weighted) {
  LiveState out;
  for (const auto& s : servers) {
    if (!managed.contains(s.name) || !s.ready()) continue;
    out.members.push_back(LiveMember{s.name, weighted ? s.user_weight : 1});
  }
  std::sort(out.members.begin(), out.members.end(),
            [](const LiveMember& a, const LiveMember& b) { return a.value < b.value; });
  return out;
}

WriteStatus classify_reply(std::string_view reply) {
  while (!reply.empty() && (reply.back() == '\n' || reply.back() == ' ')) reply.remove_suffix(1);
  while (!reply.empty() && (reply.front() == '\n' || reply.front() == ' ')) reply.remove_prefix(1);
  if (reply.empty()) return WriteStatus::Applied;
  if (reply.find("Permission denied") != std::string_view::npos ||
      reply.find("Unknown command") != std::string_view::npos) {
    return WriteStatus::Refused;  // the socket is not at level admin, or not the runtime API
  }
  return WriteStatus::Invalid;  // "No such server.", "Can't find backend.", weight errors
}

}  // namespace haproxy

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxReply = 1024 * 1024;

// One command over a fresh connection, each step raced against the deadline.
template <typename Socket, typename Endpoint>
asio::awaitable<HaProxyActuator::Reply> run_command(asio::any_io_executor ex, Endpoint endpoint,
                                                    std::string line,
                                                    std::chrono::nanoseconds timeout) {
  HaProxyActuator::Reply reply;
  Socket socket(ex);
  asio::steady_timer timer(ex);
  auto timed_out = [&](std::string step) {
    reply.timed_out = true;
    reply.detail = step + ": timed out";
    return reply;
  };

  timer.expires_after(timeout);
  auto connected = co_await (socket.async_connect(endpoint, kTuple) || timer.async_wait(kTuple));
  if (connected.index() == 1) co_return timed_out("connect");
  if (auto [ec] = std::get<0>(connected); ec) {
    reply.detail = "connect: " + ec.message();
    co_return reply;
  }

  line += "\n";
  timer.expires_after(timeout);
  auto written =
      co_await (asio::async_write(socket, asio::buffer(line), kTuple) || timer.async_wait(kTuple));
  if (written.index() == 1) co_return timed_out("write");
  if (auto [ec, n] = std::get<0>(written); ec) {
    (void)n;
    reply.detail = "write: " + ec.message();
    co_return reply;
  }

  // Non-interactive mode: HAProxy writes the whole answer and closes.
  timer.expires_after(timeout);
  char buf[4096];
  for (;;) {
    auto got =
        co_await (socket.async_read_some(asio::buffer(buf), kTuple) || timer.async_wait(kTuple));
    if (got.index() == 1) co_return timed_out("read");
    auto [ec, n] = std::get<0>(got);
    reply.text.append(buf, n);
    if (reply.text.size() > kMaxReply) {
      reply.detail = "read: reply larger than " + std::to_string(kMaxReply) + " bytes";
      co_return reply;
    }
    if (ec == asio::error::eof) break;
    if (ec) {
      reply.detail = "read: " + ec.message();
      co_return reply;
    }
  }
  reply.ok = true;
  co_return reply;
}

}  // namespace

HaProxyActuator::HaProxyActuator(asio::any_io_executor executor, const config::Service& service)
    : executor_(std::move(executor)),
      target_(service.target.haproxy),
      weighted_(service.policy == config::Policy::Weighted),
      min_targets_(service.min_targets) {
  if (target_.socket.empty() && target_.address.host.empty()) {
    throw std::invalid_argument("haproxy: set socket or address");
  }
  if (!target_.address.host.empty()) {
    boost::system::error_code ec;
    (void)asio::ip::make_address(target_.address.host, ec);
    if (ec) throw std::invalid_argument("haproxy: address must be an IP literal");
  }
  if (target_.inactive_state != "drain" && target_.inactive_state != "maint") {
    throw std::invalid_argument("haproxy: inactive_state must be drain or maint");
  }
  if (target_.backend.empty() || target_.backend.find_first_of(" \t\n;/") != std::string::npos) {
    throw std::invalid_argument("haproxy: backend must be a plain name");
  }
  for (const auto& [region, values] : service.publish)
    managed_.insert(values.begin(), values.end());
}

asio::awaitable<HaProxyActuator::Reply> HaProxyActuator::command(std::string line) {
  if (!target_.address.host.empty()) {
    asio::ip::tcp::endpoint ep(asio::ip::make_address(target_.address.host), target_.address.port);
    co_return co_await run_command<asio::ip::tcp::socket>(executor_, ep, std::move(line),
                                                          target_.timeout);
  }
  asio::local::stream_protocol::endpoint ep(target_.socket);
  co_return co_await run_command<asio::local::stream_protocol::socket>(
      executor_, ep, std::move(line), target_.timeout);
}

asio::awaitable<ReadResult> HaProxyActuator::read() {
  ReadResult out;
  auto reply = co_await command("show servers state " + target_.backend);
  if (!reply.ok) {
    out.status = ReadStatus::Unreachable;
    out.detail = reply.detail;
    co_return out;
  }
  std::string error;
  auto servers = haproxy::parse_servers_state(reply.text, error);
  if (!servers) {
    out.status = reply.text.find("Permission denied") != std::string::npos ? ReadStatus::Refused
                                                                           : ReadStatus::Error;
    out.detail = "show servers state: " + error;
    co_return out;
  }
  out.state = haproxy::live_state(*servers, managed_, weighted_);
  out.status = ReadStatus::Ok;
  co_return out;
}

asio::awaitable<WriteResult> HaProxyActuator::write(const core::Plan& plan,
                                                    const LiveState& expected) {
  WriteResult out;
  if (auto why = haproxy::validate_plan(managed_, weighted_, min_targets_, plan); !why.empty()) {
    out.status = WriteStatus::Invalid;
    out.detail = why;
    co_return out;
  }
  auto before = co_await read();
  if (before.status != ReadStatus::Ok) {
    out.status = before.status == ReadStatus::Refused ? WriteStatus::Refused : WriteStatus::Unknown;
    out.detail = "read before write failed, nothing sent: " + before.detail;
    co_return out;
  }
  if (before.state.members != expected.members) {
    out.status = WriteStatus::Conflict;
    out.detail = "live servers differ from expected, nothing sent";
    co_return out;
  }
  const auto commands = haproxy::plan_commands(target_, managed_, weighted_, plan);
  for (const auto& cmd : commands) {
    auto reply = co_await command(cmd);
    if (!reply.ok) {
      // Sent or not, we cannot tell: the earlier commands stand. Resolve by reading.
      out.status = WriteStatus::Unknown;
      out.detail = "'" + cmd + "': " + reply.detail;
      co_return out;
    }
    if (auto status = haproxy::classify_reply(reply.text); status != WriteStatus::Applied) {
      out.status = status;
      auto text = reply.text.substr(0, 256);
      while (!text.empty() && text.back() == '\n') text.pop_back();
      out.detail = "'" + cmd + "': " + text;
      co_return out;
    }
  }
  auto after = co_await read();
  if (after.status != ReadStatus::Ok) {
    out.status = WriteStatus::Unknown;
    out.detail = "commands accepted but read-back failed: " + after.detail;
    co_return out;
  }
  std::vector<LiveMember> wanted;
  for (const auto& m : plan.members)
    wanted.push_back(LiveMember{m.value, weighted_ ? m.weight : 1});
  std::sort(wanted.begin(), wanted.end(),
            [](const LiveMember& a, const LiveMember& b) { return a.value < b.value; });
  wanted.erase(
      std::unique(wanted.begin(), wanted.end(),
                  [](const LiveMember& a, const LiveMember& b) { return a.value == b.value; }),
      wanted.end());
  if (after.state.members != wanted) {
    out.status = WriteStatus::Unknown;
    out.detail = "read-back differs from the plan";
    co_return out;
  }
  out.status = WriteStatus::Applied;
  out.detail = std::to_string(commands.size()) + " commands";
  log::info("haproxy write applied", {{"service", plan.service.str()},
                                      {"generation", plan.generation},
                                      {"backend", target_.backend}});
  co_return out;
}

}  // namespace failoverd::actuate
