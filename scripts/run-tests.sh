#!/bin/sh
# The test command: type-check (our lint), the formatters' check, unit tests, the namespace tests,
# then the native addon's own tests again under AddressSanitizer (only once
# everything before it passed: set -e).
#
# Every test file, and every test in it, runs under TEST_TIMEOUT_MS: a file
# that hangs (a test that never ends, or handles left open so its process
# never exits) fails with its own name instead of stalling the run. The
# longest file takes about 90 s on a quiet 2-core machine; the bound leaves
# room for a loaded one.
set -eu
cd "$(dirname "$0")/.."
TEST_TIMEOUT_MS=${TEST_TIMEOUT_MS:-420000}
npm run -s lint
scripts/format.sh --check
node --test --test-concurrency=1 --test-timeout="$TEST_TIMEOUT_MS" dist/test/unit/ dist/test/netns/
echo "# a real driver and the kernel's WireGuard, in QEMU guests (test/vm/)"
scripts/vm/guest-image.sh >/dev/null
node --test --test-concurrency=1 --test-timeout="$TEST_TIMEOUT_MS" dist/test/vm/
echo "# native addon under AddressSanitizer"
test/native/run-aead-burst-asan.sh --addon
