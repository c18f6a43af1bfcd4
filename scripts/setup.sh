#!/usr/bin/env bash
# Installs every Debian package that k8c's build, tests, benchmarks and demo need.
# Idempotent: packages already present are not touched, and apt is not contacted at all then.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang-format git
  # libraries
  libdpdk-dev dpdk libboost-dev libyaml-cpp-dev node-llhttp libssl-dev nlohmann-json3-dev
  libsqlite3-dev libarchive-dev libmnl-dev libcli11-dev libspdlog-dev libfmt-dev
  libbenchmark-dev libgtest-dev libgmock-dev
  # runtime parts: store, OCI runtimes, images, network
  etcd-server runc crun busybox-static umoci skopeo docker-registry iproute2 nftables ethtool
  # tools the tests and benchmarks drive
  openssl curl ca-certificates python3 sqlite3 procps psmisc
  # peers the benchmarks compare against
  nginx haproxy wrk
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# The real kubectl is required; Debian's kubernetes-client is the fallback only when none is on PATH,
# so an existing (newer) kubectl is never shadowed.
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's kubectl (v1.20) is unpacked, not installed, so the compatibility tests can run it
# without shadowing the newer kubectl on PATH.
legacy=build/tools/kubectl-debian
if [ ! -x "$legacy/usr/bin/kubectl" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && { apt-get download kubernetes-client >/dev/null 2>&1 ||
                  { apt-get update -qq && apt-get download kubernetes-client >/dev/null; }; })
  mkdir -p "$legacy"
  dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$legacy"
  rm -rf "$tmp"
fi

# Packaged daemons are peers and tools, not services: k8c's tests start their own instances.
for svc in nginx haproxy etcd docker-registry; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
exit 0
