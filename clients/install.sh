#!/usr/bin/env bash
# Fetch the dependencies of the Node, Go and Java clients, so their test
# suites (tests/conformance/test_clients.py) can run offline. Idempotent, and
# quick when everything is already installed. A language whose toolchain is
# missing is skipped with a note.
#
#   clients/install.sh             # every language
#   clients/install.sh node go     # some of them
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

have() {
  command -v "$1" >/dev/null 2>&1 || { echo "install.sh: $1 not found, skipping $2" >&2; return 1; }
}

install_node() {
  have npm node || return 0
  cd "$here/node"
  # npm ci wipes node_modules, so only run it when the lockfile changed since.
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
  fi
}

install_go() {
  have go go || return 0
  cd "$here/go"
  go mod download
}

install_java() {
  have mvn java || return 0
  cd "$here/java"
  [ target/.installed -nt pom.xml ] && return 0
  # go-offline misses protoc, the grpc-java plugin, surefire's JUnit provider
  # and the source/javadoc plugins; a package run without MOTION_TARGET
  # fetches them (its live tests skip).
  env -u MOTION_TARGET mvn -q -B dependency:go-offline package
  touch target/.installed
}

languages=("$@")
[ $# -gt 0 ] || languages=(node go java)
for language in "${languages[@]}"; do
  case "$language" in
    node | go | java) echo "install.sh: $language" >&2; "install_$language" ;;
    *) echo "install.sh: unknown language $language (node, go, java)" >&2; exit 2 ;;
  esac
done
