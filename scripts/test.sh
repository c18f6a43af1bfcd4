#!/usr/bin/env bash
# The test command: installs what is missing, builds with warnings as errors under
# AddressSanitizer/UBSan, and runs every test (unit, fuzz smoke, end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build/test -DCMAKE_BUILD_TYPE=Debug -DK8C_WERROR=ON -DK8C_SANITIZE=ON -DK8C_BENCH=OFF
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
cd build/test
ctest --output-on-failure --timeout 600 -j "$(nproc)" "$@"
