// See libxdp_diag.h for the routing protocol.
#include "libxdp_diag.h"

#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <xdp/libxdp.h>

#include <mutex>

namespace xdpwg {
namespace {

// Keep the latest lines: a failure's cause is printed last.
constexpr size_t kDiagMaxBytes = 2048;
constexpr size_t kDiagKeepBytes = 1024;

thread_local DiagCollector* t_active = nullptr;

int Route(const char* fmt, va_list args) {
  DiagCollector* c = t_active;
  if (!c) return 0;
  char buf[512];
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  c->Append(buf);
  return n;
}

int RouteLibxdp(enum libxdp_print_level level, const char* fmt, va_list args) { return level == LIBXDP_DEBUG ? 0 : Route(fmt, args); }

int RouteLibbpf(enum libbpf_print_level level, const char* fmt, va_list args) { return level == LIBBPF_DEBUG ? 0 : Route(fmt, args); }

void InstallHooksOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    libxdp_set_print(RouteLibxdp);
    libbpf_set_print(RouteLibbpf);
  });
}

}  // namespace

DiagCollector::DiagCollector() : outer_(t_active) {
  InstallHooksOnce();
  t_active = this;
}

DiagCollector::~DiagCollector() { t_active = outer_; }

void DiagCollector::Append(const char* msg) {
  if (text_.size() > kDiagMaxBytes) text_.erase(0, text_.size() - kDiagKeepBytes);
  text_ += msg;
}

std::string DiagCollector::TakeSuffix(const std::string& label) {
  std::string d;
  d.swap(text_);
  while (!d.empty() && (d.back() == '\n' || d.back() == ' ')) d.pop_back();
  std::string out;
  for (char ch : d) {
    if (ch == '\n')
      out += "; ";
    else
      out += ch;
  }
  return out.empty() ? "" : " [" + label + out + "]";
}

}  // namespace xdpwg
