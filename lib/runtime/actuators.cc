#include "runtime/actuators.h"

#include <algorithm>
#include <exception>
#include <optional>

#include "actuate/exec_hook.h"
#include "actuate/haproxy.h"
#include "actuate/local_fence.h"
#include "actuate/powerdns.h"
#include "actuate/rfc2136.h"
#include "actuate/tsig.h"
#include "state/atomic_file.h"

namespace failoverd::runtime {

namespace {

std::optional<std::string> read_tsig_key(const config::Rfc2136Target& t, actuate::tsig::Key& key) {
  auto algorithm = actuate::tsig::parse_algorithm(t.tsig_algorithm);
  if (!algorithm) return "unsupported TSIG algorithm " + t.tsig_algorithm;
  auto file = state::read_file(t.tsig_secret_file, 4096);
  if (!file.contents) {
    return "TSIG secret " + t.tsig_secret_file + ": " + (file.missing ? "missing" : file.error);
  }
  auto secret = actuate::tsig::base64_decode(*file.contents);
  if (!secret || secret->empty()) return "TSIG secret " + t.tsig_secret_file + " is not base64";
  key.name = t.tsig_key_name;
  if (key.name.empty() || key.name.back() != '.') key.name += '.';
  key.algorithm = *algorithm;
  key.secret = std::move(*secret);
  return std::nullopt;
}

// What an exec target is taken to hold before its first write: the first region's values.
std::vector<actuate::LiveMember> initial_members(const config::Service& s) {
  std::vector<actuate::LiveMember> out;
  core::RegionId first = !s.regions.empty()        ? s.regions.front()
                         : !s.weights.empty()      ? s.weights.begin()->first
                                                   : core::RegionId{};
  auto it = s.publish.find(first);
  if (it != s.publish.end()) {
    for (const auto& v : it->second) out.push_back({v, 1});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.value < b.value; });
  return out;
}

}  // namespace

BuiltActuator make_actuator(const boost::asio::any_io_executor& executor,
                            const config::Service& service, const core::ObserverId& self) {
  const auto& t = service.target;
  BuiltActuator out;
  try {
    switch (t.kind) {
      case config::TargetKind::Rfc2136: {
        actuate::tsig::Key key;
        if (auto err = read_tsig_key(t.rfc2136, key)) {
          out.error = *err;
          return out;
        }
        out.actuator =
            std::make_unique<actuate::Rfc2136Actuator>(t.rfc2136, std::move(key), self.str());
        break;
      }
      case config::TargetKind::PowerDns:
        out.actuator = std::make_unique<actuate::PowerDnsActuator>(executor, service, self);
        break;
      case config::TargetKind::HaProxy:
        out.actuator = std::make_unique<actuate::LocalFenceActuator>(
            std::make_unique<actuate::HaProxyActuator>(executor, service), self.str());
        break;
      case config::TargetKind::Exec:
        out.actuator = std::make_unique<actuate::LocalFenceActuator>(
            std::make_unique<actuate::ExecActuator>(executor, service, self), self.str(),
            initial_members(service));
        break;
    }
  } catch (const std::exception& e) {
    out.actuator.reset();
    out.error = e.what();
  }
  return out;
}

}  // namespace failoverd::runtime
