// The one place libxdp's and libbpf's diagnostics go.
//
// Both libraries print through a single process-global hook each
// (libxdp_set_print, libbpf_set_print). Installing a collector per module
// made the last installer receive everybody's messages; here the hooks are
// installed once per process and route each message to the collector of the
// operation that caused it.
//
// Protocol: the libraries call the hook synchronously, on the thread that
// called into them. A DiagCollector is a stack object scoped to one
// operation (an XskPort bind, an XdpFilter attach): while it lives it is the
// calling thread's active collector (a thread_local pointer; a nested one
// shadows the outer and restores it when it ends). The hook appends to the
// calling thread's active collector only, so no collector is ever seen by
// another thread and no lock is needed; a message on a thread with no active
// collector belongs to no operation that could report it and is dropped, as
// are debug-level messages. The hooks are installed with std::call_once and
// never replaced.
#pragma once
#include <string>

namespace xdpwg {

class DiagCollector {
 public:
  DiagCollector();
  ~DiagCollector();
  DiagCollector(const DiagCollector&) = delete;
  DiagCollector& operator=(const DiagCollector&) = delete;

  /** The lines collected so far (newline-separated, as the libraries print them). */
  const std::string& text() const { return text_; }
  /** Forgets what was collected (chatter of a step that succeeded). */
  void Clear() { text_.clear(); }
  /** " [<label><lines joined by '; '>]", or "" when nothing was collected; clears. */
  std::string TakeSuffix(const std::string& label = "");

  /** Called by the hooks: appends one formatted message (keeps the latest ~2 KiB). */
  void Append(const char* msg);

 private:
  std::string text_;
  DiagCollector* outer_;
};

}  // namespace xdpwg
