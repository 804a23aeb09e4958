#!/usr/bin/env bash
# Generates the TypeScript for proto/sniffmesh.proto with ts-proto (for @grpc/grpc-js) into
# src/query/generated/ (or the directory given as $1: the staleness test generates into a temp dir and
# compares). protoc is Debian's protobuf-compiler (scripts/setup.sh installs it); the plugin is the
# ts-proto npm package. Never edit the generated file by hand: change the .proto and run `npm run proto`.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-src/query/generated}"
mkdir -p "$out"
protoc \
  --plugin=protoc-gen-ts_proto=./node_modules/.bin/protoc-gen-ts_proto \
  --ts_proto_out="$out" \
  --ts_proto_opt=outputServices=grpc-js,env=node,esModuleInterop=true,importSuffix=.js,forceLong=number,useOptionals=none \
  -I proto proto/sniffmesh.proto
