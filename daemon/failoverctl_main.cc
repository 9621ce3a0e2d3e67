// failoverctl: the operator's CLI for the admin API.
#include <cstdio>

int main() {
  std::printf("failoverctl %s\n", FAILOVERD_VERSION);
  return 0;
}
