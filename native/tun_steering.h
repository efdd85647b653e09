// TUN queue steering: attaches native/bpf/tun_steering.o to a multi-queue TUN
// (TUNSETSTEERINGEBPF) so the queue that reads an outbound packet, and so the
// worker that seals it, is a hash of the packet's flow rather than the queue
// that last wrote a packet of that flow (the kernel's default, which puts
// every flow to a peer on the worker that receives that peer's traffic).
#pragma once
#include <napi.h>
#include <string>

namespace xdpwg {

/**
 * Loads the steering program and attaches it to the device behind `fd` (any
 * of its queues). Returns "" on success, or why it could not (the device then
 * keeps the kernel's automatic steering). The device holds its own reference
 * to the program; *spreadMapFd gets an fd of the program's one-entry map
 * xdpwg_tun_spread (how many leading queues to spread over; 0: all), and
 * *writerMapFd one of its map xdpwg_tun_writer (which queue wrote each flow
 * bucket last: tun_writer_marks.h), both owned by the caller, or -1.
 */
std::string AttachTunSteering(int fd, int* spreadMapFd, int* writerMapFd);

/** Exports tunSteeringSpread(mapFd, queues) (see src/native/binding.ts). */
void InitTunSteering(Napi::Env env, Napi::Object exports);

}  // namespace xdpwg
