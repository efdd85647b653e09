// native/libxdp_diag.cc under ASan/UBSan (run by run-aead-burst-asan.sh):
// one process-global libxdp/libbpf print hook, collectors on two threads at
// once. Each thread makes libxdp fail on a file of its own name, so libbpf
// prints that name; each collector must hold its own thread's lines and
// never the other's (the defect of per-module hooks: the last installed
// received everybody's messages). Also: a nested collector shadows the
// outer one and restores it; a thread with no collector prints nothing.
#include <xdp/libxdp.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "../../native/libxdp_diag.h"

namespace {

std::atomic<int> g_failures{0};

void Fail(const std::string& what) {
  fprintf(stderr, "libxdp_diag_harness: %s\n", what.c_str());
  g_failures++;
}

// Makes libxdp (through libbpf) print a warning naming path.
void Provoke(const std::string& path) {
  struct xdp_program* p = xdp_program__open_file(path.c_str(), "xdp", nullptr);
  if (!libxdp_get_error(p)) xdp_program__close(p);
}

void Worker(const char* me, const char* other, int rounds) {
  const std::string mine = std::string("/nonexistent/xdpwg-diag-") + me + ".o";
  const std::string theirs = std::string("xdpwg-diag-") + other + ".o";
  for (int i = 0; i < rounds; i++) {
    xdpwg::DiagCollector outer;
    Provoke(mine);
    if (outer.text().find(mine) == std::string::npos) Fail(std::string(me) + ": own message missing: '" + outer.text() + "'");
    if (outer.text().find(theirs) != std::string::npos) Fail(std::string(me) + ": got the other thread's message");
    outer.Clear();
    {
      xdpwg::DiagCollector inner;
      Provoke(mine + ".inner");
      if (inner.text().find(".inner") == std::string::npos) Fail(std::string(me) + ": nested collector missed its line");
    }
    if (!outer.text().empty()) Fail(std::string(me) + ": outer collector got the nested one's line");
    Provoke(mine);
    std::string s = outer.TakeSuffix("libxdp: ");
    if (s.rfind(" [libxdp: ", 0) != 0 || s.back() != ']' || s.find('\n') != std::string::npos)
      Fail(std::string(me) + ": TakeSuffix format: '" + s + "'");
    if (!outer.text().empty()) Fail(std::string(me) + ": TakeSuffix did not clear");
  }
}

}  // namespace

int main() {
  { xdpwg::DiagCollector install; }  // hooks in place before the threads race
  std::thread a(Worker, "A", "B", 200), b(Worker, "B", "A", 200);
  a.join();
  b.join();
  Provoke("/nonexistent/xdpwg-diag-none.o");  // no collector: dropped, no crash
  if (g_failures) return 1;
  printf("libxdp_diag_harness: ok\n");
  return 0;
}
