#!/usr/bin/env bash
# Installs the reference Go tsshd and tssh at the versions pinned in
# interop/peers.env into .peers/bin (or $1), for the interop tests.
# `go install MODULE@VERSION` asks the module proxy for the module's version
# list to look up deprecations, which the proxy here refuses; so each peer is
# built from a throwaway module that requires exactly the pinned version
# (`go get` then `go install`), which resolves the same dependency versions.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=/dev/null
. interop/peers.env
bin="$(realpath -m "${1:-.peers/bin}")"
mkdir -p "$bin"
# Go is installed under /usr/local/go on these machines, which a plain PATH may lack.
case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) [ -x /usr/local/go/bin/go ] && PATH="$PATH:/usr/local/go/bin" ;; esac
if ! command -v go >/dev/null 2>&1; then
  echo "install-go-peers: go is not on PATH; install Go 1.25 or newer" >&2
  exit 1
fi
install_peer() { # name module version package
  local name=$1 module=$2 version=$3 pkg=$4
  if [ -x "$bin/$name" ] && [ "$(cat "$bin/$name.version" 2>/dev/null)" = "$module@$version" ]; then
    return 0
  fi
  local work
  work="$(mktemp -d)"
  (
    cd "$work"
    go mod init "peer-$name" >/dev/null 2>&1
    { GOFLAGS=-mod=mod go get "$pkg@$version" && GOBIN="$bin" go install "$pkg"; } >go.log 2>&1 ||
      { cat go.log >&2; echo "install-go-peers: could not build $pkg@$version (above)" >&2; exit 1; }
  )
  rm -rf "$work"
  echo "$module@$version" > "$bin/$name.version"
  echo "install-go-peers: $name $module@$version in $bin"
}
install_peer tsshd "$TSSHD_MODULE" "$TSSHD_VERSION" "$TSSHD_MODULE/cmd/tsshd"
install_peer tssh "$TSSH_MODULE" "$TSSH_VERSION" "$TSSH_MODULE/cmd/tssh"
