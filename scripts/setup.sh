#!/usr/bin/env bash
# Installs what sniffmesh needs on a fresh Debian machine with Node >= 20, then its npm dependencies.
# Idempotent: installs only what is missing. Needs root (or sudo) for the Debian packages; CI runs as root.
#   - libpcap-dev: headers for building the `cap` addon (and our packet-socket helper) from source
#   - tshark: the independent oracle the tests compare against
#   - tcpdump, tcpreplay, netsniff-ng (trafgen), pmacct, iproute2, iptables: peers and traffic for tests/benchmarks
#   - hping3: the random-source SYN flood of test/security/syn-flood.test.ts
#   - python3-scapy: builds reference frames for the decoder tests
#   - golang-github-google-gopacket-dev: ships the pcapng conformance captures the reader is tested on
#   - util-linux (setpriv): the no-permission capture test drops root with it
#   - ethtool: capture --disable-offloads
#   - build-essential, python3: node-gyp toolchain (cap, farmhash (swim's) and native/ build from source)
#   - serf, stress-ng: the membership benchmark runs Serf side by side and saturates the CPUs
#   - protobuf-compiler: protoc, for `npm run proto` (ts-proto generates the gRPC TypeScript)
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(libpcap-dev tshark tcpdump tcpreplay netsniff-ng pmacct iproute2 iptables python3-scapy
  golang-github-google-gopacket-dev util-linux ethtool build-essential python3 procps time serf stress-ng
  protobuf-compiler hping3)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer "no" without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
  $SUDO apt-get update -q >&2
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# npm dependencies exactly as locked; cap and the native helper build from source here.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  # build-from-source: farmhash (a dependency of swim) would otherwise try prebuild-install's download
  # from GitHub first; nothing may download binaries at install time, so it compiles with node-gyp.
  npm_config_build_from_source=true npm ci --no-audit --no-fund >&2
fi
