#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs a k8c server on the embedded store.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build/release -DCMAKE_BUILD_TYPE=Release -DK8C_TESTS=OFF
exec build/release/k8c server --data-dir "${K8C_DATA_DIR:-$PWD/.k8c}" "$@"
