#!/usr/bin/env bash
# The demo: (1) a mesh of agent processes on loopback forms, detects a crash, sees a graceful leave and
# takes back a restarted member; (2) a reproducible capture (fixed seed; 300k packets, IPv4 and IPv6,
# VLAN and QinQ tags, heavy-tailed flows) analysed the ways an operator would; (3) four agents replaying
# their own captures answer cluster-wide questions (cluster/demo/query-demo.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${SNIFFMESH_DEMO_DIR:-/tmp/sniffmesh-demo}"
mkdir -p "$out"
capture="$out/demo.pcap"
if [ ! -f "$capture" ]; then
  echo "demo: generating $capture (fixed seed)" >&2
  node dist/bench/capture/generate-capture.js --packets 300000 --seed 7 --out "$capture" >/dev/null
fi
cli="node dist/src/cli/main.js"
echo "== the mesh: gossip membership"
node dist/cluster/demo/membership-demo.js
echo
echo "== top 10 hosts by bytes, whole capture"
$cli analyze "$capture"
echo
echo "== top 5 conversations by packets in the last 60 seconds"
$cli analyze "$capture" --group pair --by packets --limit 5 --window 60
echo
echo "== services (port grouping), top 8"
$cli analyze "$capture" --group port --limit 8
echo
echo "== the same capture through stdin, gzip-compressed, as JSON (first 300 characters)"
gzip -c "$capture" | $cli analyze - --group proto --json | head -c 300
echo
echo
echo "== cluster queries: four agents, each replaying its own capture"
bash cluster/demo/query-demo.sh
