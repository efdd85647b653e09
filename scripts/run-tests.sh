#!/bin/sh
# The test command: type-check (our lint), unit tests, then the namespace tests.
set -eu
cd "$(dirname "$0")/.."
npm run -s lint
node --test --test-concurrency=1 dist/test/unit/ dist/test/netns/
