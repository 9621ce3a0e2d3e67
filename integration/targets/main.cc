// Integration tests of the target actuators against real PowerDNS, HAProxy and exec hooks.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
