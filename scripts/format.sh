#!/bin/sh
# The formatters: prettier for TypeScript (.prettierrc.json), clang-format for
# the addon's C++ and the BPF C (.clang-format).
#   scripts/format.sh          rewrite the tree
#   scripts/format.sh --check  list what is not formatted and fail (npm test runs this)
set -eu
cd "$(dirname "$0")/.."
# The globs go to prettier quoted: it expands ** to every depth itself, where sh
# would match only one directory down (and missed src/daemon/*/ and bench/*.ts).
prettier() { npx prettier "$@" --log-level warn 'src/**/*.ts' 'test/**/*.ts' 'bench/**/*.ts'; }
c=$(git ls-files 'native/*.cc' 'native/*.h' 'native/bpf/*.c' 'test/native/*.cc')
command -v clang-format >/dev/null 2>&1 || { echo "format: clang-format is missing (scripts/bootstrap.sh installs it)" >&2; exit 1; }
if [ "${1:-}" = "--check" ]; then
  status=0
  prettier --check || status=1
  # shellcheck disable=SC2086
  clang-format --dry-run --Werror $c 2>/dev/null || { echo "format: C/C++ not formatted (run scripts/format.sh):" >&2; for f in $c; do clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || echo "  $f" >&2; done; status=1; }
  exit $status
fi
prettier --write
# shellcheck disable=SC2086
clang-format -i $c
