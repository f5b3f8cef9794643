// A minimal assertion helper for the native unit tests (each test is its own executable run by ctest).
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>

static int g_failures = 0;
#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      g_failures++;                                                              \
    }                                                                            \
  } while (0)
#define CHECK_NEAR(a, b, tol)                                                                          \
  do {                                                                                                 \
    const double va = (a), vb = (b);                                                                   \
    if (!(std::fabs(va - vb) <= (tol))) {                                                              \
      std::fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %f, %s = %f\n", __FILE__, __LINE__, #a, va, #b, vb); \
      g_failures++;                                                                                    \
    }                                                                                                  \
  } while (0)
#define TEST_MAIN_END()                                         \
  if (g_failures) std::fprintf(stderr, "%d failure(s)\n", g_failures); \
  return g_failures ? 1 : 0
