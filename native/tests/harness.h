// A tiny test harness: named test functions, CHECK macros, a 'N passed, N failed' summary.
#pragma once
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace th {

struct Test {
  const char* group;
  const char* name;
  std::function<void()> fn;
};
inline std::vector<Test>& registry() {
  static std::vector<Test> r;
  return r;
}
inline int& failures() {
  static int f = 0;
  return f;
}
struct Reg {
  Reg(const char* g, const char* n, std::function<void()> f) { registry().push_back({g, n, std::move(f)}); }
};

inline int run_all(int argc, char** argv) {
  int passed = 0, failed = 0;
  for (auto& t : registry()) {
    if (argc > 1 && std::strcmp(argv[1], t.group) != 0) continue;
    int before = failures();
    t.fn();
    if (failures() == before) {
      ++passed;
    } else {
      ++failed;
      std::printf("FAILED: %s.%s\n", t.group, t.name);
    }
    std::fflush(stdout);
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}

}  // namespace th

#define TH_CAT2(a, b) a##b
#define TH_CAT(a, b) TH_CAT2(a, b)
#define TEST(group, name)                                              \
  static void group##_##name();                                        \
  static th::Reg TH_CAT(reg_, __LINE__)(#group, #name, group##_##name); \
  static void group##_##name()

#define CHECK(cond, ...)                                             \
  do {                                                               \
    if (!(cond)) {                                                   \
      std::printf("  check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      std::printf(__VA_ARGS__);                                      \
      std::printf("\n");                                             \
      ++th::failures();                                              \
    }                                                                \
  } while (0)
