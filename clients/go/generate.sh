#!/usr/bin/env bash
# Regenerate clients/go/motionpb from proto/ with the protoc bundled in grpcio-tools.
# The Go plugins are pinned (installed into clients/go/.bin unless already on
# PATH at the pinned versions), so the output changes only with the proto or a pin.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
go_version=v1.36.12 grpc_version=v1.6.2
export GOBIN="$here/.bin" PATH="$here/.bin:$PATH"
[[ "$(protoc-gen-go --version 2>/dev/null)" == *"$go_version" ]] ||
  go install "google.golang.org/protobuf/cmd/protoc-gen-go@$go_version"
[[ "$(protoc-gen-go-grpc --version 2>/dev/null)" == *"${grpc_version#v}" ]] ||
  go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$grpc_version"

rm -f "$here"/motionpb/*.pb.go
"$python" -m grpc_tools.protoc \
  -I "$root/proto" \
  --go_out="$here/motionpb" --go_opt=paths=source_relative \
  --go-grpc_out="$here/motionpb" --go-grpc_opt=paths=source_relative \
  "$root/proto/motion/v1/motion.proto"
# paths=source_relative mirrors proto/motion/v1/; the package lives flat in motionpb/.
mv "$here"/motionpb/motion/v1/*.pb.go "$here/motionpb/"
rm -r "$here/motionpb/motion"
# The retry service config every client uses by default, embedded by package motion.
cp "$root/proto/motion/v1/service_config.json" "$here/motion/service_config.json"
