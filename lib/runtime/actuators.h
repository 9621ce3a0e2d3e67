// The actuator factory: the writer a service's target needs, built from its config.
//
// Contract:
//   - RFC 2136: reads the TSIG secret file (base64, at most 4 KiB) and the algorithm; an
//     unreadable or undecodable secret is an error naming the file, and nothing is built.
//   - PowerDNS: the API writer (it reads its key file itself).
//   - HAProxy and exec keep no fence of their own: each observer is the only writer of its own
//     target, so the fence lives in memory (actuate/local_fence.h). An exec target is taken to
//     hold the first region's values before its first write.
//   - An exception from a constructor is returned as the error text.
// Used by the engine once per service at start (and so at every reload).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <string>

#include "actuate/actuator.h"
#include "config/config.h"
#include "core/types.h"

namespace failoverd::runtime {

struct BuiltActuator {
  std::unique_ptr<actuate::Actuator> actuator;  // null when error is set
  std::string error;
};

BuiltActuator make_actuator(const boost::asio::any_io_executor& executor,
                            const config::Service& service, const core::ObserverId& self);

}  // namespace failoverd::runtime
