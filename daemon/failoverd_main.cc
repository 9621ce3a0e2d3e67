// failoverd: entry point. Wiring only; see lib/ for the logic.
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("failoverd %s\n", FAILOVERD_VERSION);
    return 0;
  }
  std::fprintf(stderr, "failoverd: not wired yet\n");
  return 2;
}
