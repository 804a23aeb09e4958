#!/usr/bin/env bash
# The query part of the demo: four agents on loopback, each replaying its own reproducible capture as if
# it were its live traffic (--pcap: no root needed), form a mesh with mutual TLS on every gRPC connection
# (a CA and certificates made by 'sniffmesh certs') and a gossip key; then cluster-wide questions are asked of
# different members, one member is frozen (SIGSTOP) to show that it is named and cannot hold the answer,
# and the mesh is stopped gracefully. Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${SNIFFMESH_DEMO_DIR:-/tmp/sniffmesh-demo}"
mkdir -p "$out"
cli="node dist/src/cli/main.js"
base=$(( 30000 + RANDOM % 20000 ))
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# The mesh's credentials, made as an operator would: a CA, one member certificate per agent, a read-only
# client certificate for the questions below, and a gossip key.
pki="$out/pki"
rm -rf "$pki"
$cli certs init "$pki" >/dev/null
for i in 1 2 3 4; do $cli certs issue "$pki" "node$i" >/dev/null; done
$cli certs issue "$pki" demo --client >/dev/null
$cli keygen >"$pki/gossip.key"
chmod 600 "$pki/gossip.key"
client_tls="--tls-ca $pki/ca.crt --tls-cert $pki/demo.client.crt --tls-key $pki/demo.client.key"

for i in 1 2 3 4; do
  capture="$out/node$i.pcap"
  if [ ! -f "$capture" ]; then
    node dist/bench/capture/generate-capture.js --packets 60000 --seed $(( 100 + i )) --out "$capture" >/dev/null
  fi
  seeds=""
  [ "$i" -gt 1 ] && seeds="--seeds 127.0.0.1:$base"
  # shellcheck disable=SC2086
  $cli agent --name "node$i" --timing local --gossip "127.0.0.1:$(( base + i - 1 ))" \
    --grpc "127.0.0.1:$(( base + 100 + i ))" $seeds --pcap "$capture" --replay-speed 0 \
    --tls-ca "$pki/ca.crt" --tls-cert "$pki/node$i.crt" --tls-key "$pki/node$i.key" --gossip-key-file "$pki/gossip.key" \
    >"$out/node$i.log" 2>&1 &
  pids+=("$!")
done
node1="127.0.0.1:$(( base + 101 ))"
node3="127.0.0.1:$(( base + 103 ))"
for _ in $(seq 1 100); do
  if $cli members --node "$node1" $client_tls --json 2>/dev/null | grep -o '"state":"alive"' | wc -l | grep -q '^4$'; then break; fi
  sleep 0.2
done
sleep 2   # the replays end and their last second closes
echo "== members, as node1 sees them"
$cli members --node "$node1" $client_tls
echo
echo "== cluster top 10 hosts by bytes, asked of node1 (exact merge over all four)"
# These captures were recorded elsewhere (no --local-net), so every flow is transit: it is shipped whole
# and merged by max. Agents capturing their own traffic ship only the few rows TPUT needs.
$cli top --node "$node1" $client_tls --deadline 5000
echo
echo "== cluster top 5 services, asked of node3"
$cli top --node "$node3" $client_tls --group port --limit 5 --deadline 5000
echo
echo "== node3 alone (--local)"
$cli top --node "$node3" $client_tls --local --limit 5
echo
echo "== node4's counters"
$cli stats --node "127.0.0.1:$(( base + 104 ))" $client_tls
echo
echo "== without a certificate from the mesh's CA, nothing is answered"
$cli members --node "$node1" || true
echo
echo "== node4 frozen (SIGSTOP): the answer arrives by the deadline and names it"
kill -STOP "${pids[3]}"
$cli top --node "$node1" $client_tls --limit 3 --deadline 2000 || true
kill -CONT "${pids[3]}"
echo
echo "== stopping the mesh (each agent leaves gracefully)"
