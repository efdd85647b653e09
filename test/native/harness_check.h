// CHECK for the standalone native harnesses: a failed condition is printed
// with its place and counted in harness_failures, and the harness goes on,
// so one run lists every failure; main returns non-zero when any was counted.
#pragma once
#include <cstdio>

inline int harness_failures = 0;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      harness_failures++;                                                  \
    }                                                                      \
  } while (0)
