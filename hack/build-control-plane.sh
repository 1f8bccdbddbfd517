#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and kubectl from the k8s.io/kubernetes Go
# module at a pinned release. k8s.io/kubernetes cannot be `go install`ed (its go.mod uses
# replace directives onto ./staging), so we build through a wrapper module that requires it and
# replaces every staging module with its published v0.X.Y twin (kubernetes/kubernetes#79384).
#
# Output: $GRIDVM_CACHE/kube-<version>/bin/{kube-apiserver,kube-controller-manager,kubectl}.
# The cache lives outside the work tree so a fresh clone (CI) on the same machine reuses it; a
# stamp file makes the second run cost nothing.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.35.4}"
GRIDVM_CACHE="${GRIDVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gridvm}"
out="$GRIDVM_CACHE/kube-$KUBE_VERSION"
bins=(kube-apiserver kube-controller-manager kubectl)
stamp="$out/bin/.complete"

if [[ -f "$stamp" ]]; then
  echo "control plane $KUBE_VERSION: cached in $out/bin"
  exit 0
fi

command -v go >/dev/null || { echo "build-control-plane: go is not on PATH (need Go >= 1.25)" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

minor="${KUBE_VERSION#v1.}"            # 35.4
staging_version="v0.${minor}"          # v0.35.4
wrap="$out/src"
mkdir -p "$wrap" "$out/bin"
started=$(date +%s)

echo "control plane $KUBE_VERSION: fetching module metadata"
go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" >"$wrap/download.json"
upstream_mod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' "$wrap/download.json")
[[ -f "$upstream_mod" ]] || { echo "build-control-plane: no go.mod for k8s.io/kubernetes@$KUBE_VERSION" >&2; exit 1; }

# Every `k8s.io/x => ./staging/src/k8s.io/x` replace becomes `k8s.io/x => k8s.io/x v0.X.Y`.
{
  echo "module gridvm.io/kube-build"
  echo
  echo "go 1.25.0"
  echo
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  echo
  echo "replace ("
  sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*$#\t\1 => \1 '"$staging_version"'#p' "$upstream_mod"
  echo ")"
} >"$wrap/go.mod"
cat >"$wrap/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF

cd "$wrap"
echo "control plane $KUBE_VERSION: resolving dependencies"
go mod tidy -e >/dev/null 2>"$wrap/tidy.log" || { cat "$wrap/tidy.log" >&2; exit 1; }

pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor%%.*}"
ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
for b in "${bins[@]}"; do
  echo "control plane $KUBE_VERSION: building $b"
  go build -trimpath -ldflags "$ldflags" -o "$out/bin/$b" "k8s.io/kubernetes/cmd/$b"
done

"$out/bin/kubectl" version --client >/dev/null
touch "$stamp"
echo "control plane $KUBE_VERSION: built in $(( $(date +%s) - started ))s into $out/bin ($(du -sh "$out/bin" | cut -f1))"
