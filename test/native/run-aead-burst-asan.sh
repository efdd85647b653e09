#!/bin/sh
# The burst AEAD under AddressSanitizer (CRAFT.md habit 7: native code tested
# in a debug build with its assertions live).
#
#   test/native/run-aead-burst-asan.sh           harnesses only, ASan+UBSan: native/aead_burst.cc's
#                                                 core + test/native/aead_burst_harness.cc,
#                                                 native/data_transport.cc's + data_transport_harness.cc, and
#                                                 native/libxdp_diag.cc + libxdp_diag_harness.cc
#                                                 (one print hook, collectors on two threads)
#   test/native/run-aead-burst-asan.sh --addon   also: the whole addon built with XDPWG_ASAN=1
#                                                 (binding.gyp's condition) in a scratch copy of the
#                                                 tree, then the native-facing tests run in node
#                                                 with libasan preloaded: aead-burst, waiter and
#                                                 the handshake crew (unit), udp-port, tun and tun-offload (netns:
#                                                 needs root), then tun-queue-leak.mjs under
#                                                 LeakSanitizer (a TunQueue's state dies with
#                                                 its worker thread)
#
# `npm test` runs it with --addon (scripts/run-tests.sh) after the normal
# suite; the ASan build takes 1-1.5 min on the 2-core machine.
#
# The scratch copy keeps the shared build/ untouched (other builds may be
# running there). Needs g++, libssl-dev, and `npm run build:ts` done first for --addon.
set -eu
repo="$(cd "$(dirname "$0")/../.." && pwd)"
scratch="$(mktemp -d /tmp/xdpwg-asan.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT

g++ -std=c++17 -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
  -Wall -Wextra -DXDPWG_AEAD_CORE_ONLY \
  "$repo/native/aead_burst.cc" "$repo/test/native/aead_burst_harness.cc" -lcrypto -lsodium -o "$scratch/harness"
g++ -std=c++17 -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
  -Wall -Wextra -DXDPWG_AEAD_CORE_ONLY \
  "$repo/native/data_transport.cc" "$repo/native/aead_burst.cc" "$repo/test/native/data_transport_harness.cc" \
  -lcrypto -lsodium -lpthread -o "$scratch/data-transport-harness"
"$scratch/data-transport-harness"
"$scratch/harness"
g++ -std=c++17 -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
  -Wall -Wextra "$repo/native/libxdp_diag.cc" "$repo/test/native/libxdp_diag_harness.cc" -lxdp -lbpf -lpthread \
  -o "$scratch/libxdp-diag-harness"
"$scratch/libxdp-diag-harness"

if [ "${1:-}" = "--addon" ]; then
  # bin/: tun-offload starts the daemon (which inherits the preloaded libasan).
  cp -r "$repo/binding.gyp" "$repo/package.json" "$repo/bin" "$repo/native" "$repo/dist" "$scratch/"
  ln -s "$repo/node_modules" "$scratch/node_modules"
  (cd "$scratch" && XDPWG_ASAN=1 npx node-gyp rebuild -j 2 >/dev/null)
  # node itself is not instrumented, so libasan must be loaded first; V8's
  # own allocations make LeakSanitizer noisy at exit, hence detect_leaks=0.
  (cd "$scratch" && LD_PRELOAD="$(g++ -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    node --test --test-concurrency=1 dist/test/unit/aead-burst.test.js dist/test/unit/transport.test.js dist/test/unit/transport-native.test.js dist/test/unit/waiter.test.js \
      dist/test/unit/handshake-crypto-pool.test.js dist/test/unit/tun-offload.test.js dist/test/netns/udp-port.test.js dist/test/netns/tun.test.js \
      dist/test/netns/tun-offload.test.js dist/test/netns/xsk-port.test.js)
  # Leaks are looked for only in this run, and only ours count (stacks through
  # TunQueue): V8 keeps allocations to the end that LeakSanitizer would list.
  mkdir "$scratch/test" && cp -r "$repo/test/native" "$scratch/test/"
  (cd "$scratch" && LD_PRELOAD="$(g++ -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    LSAN_OPTIONS=exitcode=0 unshare -n node test/native/tun-queue-leak.mjs 2>"$scratch/leak.txt") || { cat "$scratch/leak.txt"; exit 1; }
  if grep -q TunQueue "$scratch/leak.txt"; then cat "$scratch/leak.txt"; echo "tun-queue-leak: TunQueue state leaked"; exit 1; fi
fi
