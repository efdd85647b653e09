#!/bin/sh
# The test command: type-check (our lint), unit tests, the namespace tests,
# then the native addon's own tests again under AddressSanitizer.
set -eu
cd "$(dirname "$0")/.."
npm run -s lint
node --test --test-concurrency=1 dist/test/unit/ dist/test/netns/
echo "# native addon under AddressSanitizer"
test/native/run-aead-burst-asan.sh --addon
