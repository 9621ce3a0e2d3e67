#include "config/config.h"

#include <algorithm>

namespace failoverd::config {

const Region* Config::find_region(const core::RegionId& id) const {
  auto it = std::find_if(regions.begin(), regions.end(), [&](const Region& r) { return r.name == id; });
  return it == regions.end() ? nullptr : &*it;
}

const Service* Config::find_service(const core::ServiceId& id) const {
  auto it =
      std::find_if(services.begin(), services.end(), [&](const Service& s) { return s.name == id; });
  return it == services.end() ? nullptr : &*it;
}

}  // namespace failoverd::config
