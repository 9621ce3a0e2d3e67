// The one unit-test binary. Modules add *_test.cc files under tests/<module>/.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
