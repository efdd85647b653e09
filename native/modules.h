// One Init function per native concept; addon.cc calls them all.
#pragma once
#include <napi.h>

namespace xdpwg {
void InitXskPort(Napi::Env env, Napi::Object exports);    // xsk_port.cc: AF_XDP port (lport) + UMEM
void InitUmemShare(Napi::Env env, Napi::Object exports);  // umem_share.cc: shared UMEM memfds and slots (anchor side)
void InitXdpFilter(Napi::Env env, Napi::Object exports);  // xdp_filter.cc: our BPF filter, attach/detach, XSKMAP
void InitUdpPort(Napi::Env env, Napi::Object exports);    // udp_port.cc: kernel UDP socket port (recvmmsg/sendmmsg)
void InitTun(Napi::Env env, Napi::Object exports);        // tun.cc: TUN devices; with tun_queue.cc: TunQueue, burst read/write
void InitNetlink(Napi::Env env, Napi::Object exports);    // netlink.cc: link/addr/route/neigh
void InitWaiter(Napi::Env env, Napi::Object exports);     // waiter.cc: poll over fds + eventfd wake
void InitAeadBurst(Napi::Env env, Napi::Object exports);  // aead_burst.cc: batched ChaCha20-Poly1305 (OpenSSL)
struct AeadBurstContext;
// data_transport.cc: WireGuard data messages sealed/opened a burst per call; called by InitAeadBurst with its context.
void InitDataTransport(Napi::Env env, Napi::Object exports, AeadBurstContext* const* ctx);
void InitAeadCrew(Napi::Env env, Napi::Object exports);      // aead_crew.cc: the crypto crew sharing one burst's AEAD
void InitAffinity(Napi::Env env, Napi::Object exports);      // affinity.cc: pin a worker thread to CPUs
void InitThreadRoles(Napi::Env env, Napi::Object exports);   // thread_roles.cc: name our threads, lower the runtime's helpers
void InitCapabilities(Napi::Env env, Napi::Object exports);  // capabilities.cc: drop all but the data plane's
void InitSdNotify(Napi::Env env, Napi::Object exports);      // sd_notify.cc: systemd's readiness datagram
void InitX25519(Napi::Env env, Napi::Object exports);        // x25519.cc: X25519 keys and DH for the handshake (libsodium)
void InitBlake2s(Napi::Env env, Napi::Object exports);       // blake2s.cc: keyed BLAKE2s (the handshake MACs)
void InitNoiseIkpsk2(Napi::Env env,
                     Napi::Object exports);  // noise_ikpsk2.cc: the responder half of Noise_IKpsk2 (message A read, B written)
void InitHandshakeCrew(Napi::Env env, Napi::Object exports);  // handshake_crew.cc: native threads answering initiations
void InitFdPassing(Napi::Env env, Napi::Object exports);      // fd_passing.cc: SEQPACKET + SCM_RIGHTS, XSKMAP updates (device plugin)
void InitThreadCpu(Napi::Env env, Napi::Object exports);      // thread_cpu.cc: the calling thread's CPU time
void InitIdleMemory(Napi::Env env, Napi::Object exports);     // idle_memory.cc: give a quiet thread's spare memory back
void InitLinkGro(Napi::Env env, Napi::Object exports);        // link_gro.cc: whether a device has GRO on (ETHTOOL_GGRO)
void InitPluginProgram(Napi::Env env, Napi::Object exports);  // plugin_program.cc: libxdp's default XSK program (tests play the plugin)
}  // namespace xdpwg
