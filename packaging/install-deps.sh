#!/usr/bin/env bash
# Installs, with apt-get, every Debian 12 package that failoverd's build, tests, benchmarks and
# demo need. Idempotent: a second run installs nothing new. Run as root.
#
#   packaging/install-deps.sh            # build + test + demo packages
#   packaging/install-deps.sh --build    # only what compiling needs (the container's build stage)
#
# Servers pulled in here (BIND9, Knot, PowerDNS, gdnsd, HAProxy, nginx) are used by the tests,
# which start and stop their own instances on loopback ports or inside the lab's network
# namespaces (integration/lab, integration/ttf). Their packaged system services are not started by
# this script (a temporary policy-rc.d denies it while installing).
set -euo pipefail

build_packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev libboost-json1.81-dev libssl-dev libc-ares-dev
  prometheus-cpp-dev libtomlplusplus-dev doctest-dev libsystemd-dev libre2-dev
  python3  # configuring: the test suites' CMakeLists find the Python 3 interpreter
)
packages=(
  "${build_packages[@]}"
  clang libclang-rt-14-dev
  # tests, demo and benchmarks: real servers and clients
  python3 openssl curl ca-certificates iproute2 nftables procps psmisc
  bind9 bind9-dnsutils knot knot-dnsutils
  pdns-server pdns-backend-sqlite3 sqlite3
  gdnsd  # a time-to-failover benchmark peer (integration/ttf), like PowerDNS
  haproxy nginx-light
  prometheus  # promtool (the /metrics exposition, rule unit tests); the lab's alert scenarios
  prometheus-alertmanager  # the lab's alert scenarios: Prometheus -> Alertmanager -> webhook
  libfaketime  # lab A7: one observer's wall clock 10 minutes off (TSIG BADTIME)
  chromium chromium-driver  # the status page, driven headless over WebDriver (integration/ui)
  # packaging checks: systemd-analyze/sysusers/tmpfiles, man page lint, .deb build (dpkg-shlibdeps)
  systemd groff-base man-db dpkg-dev file lintian
  bash-completion  # failoverctl's completion, sourced with bash-completion's helpers
  # container tests: the image's runtime root, and the Kubernetes API models for the manifests
  debootstrap python3-kubernetes
  # the image built and run with podman, the pod with `podman kube play` (as root: runc, the
  # pods' catatonit pause image, slirp4netns for the pod's network)
  podman runc catatonit slirp4netns containernetworking-plugins
)
case "${1:-}" in
  "") ;;
  --build) packages=("${build_packages[@]}") ;;
  *) echo "usage: install-deps.sh [--build]" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (it calls apt-get)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Do not let package scripts start system-wide nginx/bind9/haproxy/pdns/knot daemons: tests run
# their own instances. Only add the guard when the machine has none of its own.
guard=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  guard=1
fi
cleanup() { if [ "$guard" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

apt_get() {
  # apt-get can fail on a transient lock or mirror hiccup; try a bounded number of times.
  local i
  for i in 1 2 3; do
    if apt-get "$@"; then return 0; fi
    echo "install-deps: apt-get $1 failed (try $i of 3)" >&2
    sleep 5
  done
  return 1
}
apt_get update -qq
apt_get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
