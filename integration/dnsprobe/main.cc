// The DNS probe's integration tests: BIND 9 started per test case on 127.0.0.1.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "bind_server.h"

int main(int argc, char** argv) {
  if (failoverd::integration::BindServer::named_path().empty()) {
    std::fprintf(stderr, "skipped: no named binary (set FAILOVERD_NAMED)\n");
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
