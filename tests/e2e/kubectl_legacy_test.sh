#!/usr/bin/env bash
# The same kubectl scenario with Debian's kubectl v1.20, which scripts/setup.sh unpacks into
# build/tools (k8c must work with both it and the current kubectl).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
legacy="$here/../../build/tools/kubectl-debian/usr/bin"
[ -x "$legacy/kubectl" ] || { echo "Debian's kubectl is missing from $legacy: run scripts/setup.sh"; exit 1; }
PATH="$legacy:$PATH" exec bash "$here/kubectl_test.sh"
