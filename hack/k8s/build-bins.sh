#!/usr/bin/env bash
# Builds Kubernetes control-plane binaries and etcd from Go modules (nothing else can be
# downloaded here) into a versioned cache directory, for envtest and e2e tests:
#
#   hack/k8s/build-bins.sh [kube-apiserver|kube-controller-manager|kube-scheduler|etcd ...]
#
# Default components: kube-apiserver etcd (what envtest needs). Output directory:
# $K8S_BIN_DIR, default ${XDG_CACHE_HOME:-$HOME/.cache}/sipws/k8s-v$K8S_VERSION. A binary that is
# already there is skipped; each is linked to a temporary name and renamed, so an interrupted
# build never leaves a broken binary. Builds run one at a time (flock): linking kube-apiserver
# peaks near 2.5 GB and takes minutes on a cold Go build cache.
#
# Kubernetes components are built through a throwaway wrapper module whose replace lines pin
# every k8s.io/* staging module k8s.io/kubernetes requires (its own go.mod points them at
# ./staging) to the matching v0.x release.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
K8S_VERSION=${K8S_VERSION#v} # the Makefile passes v1.37.2
ETCD_VERSION=${ETCD_VERSION:-3.7.3}
GO=${GO:-go}
DEST=${K8S_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sipws/k8s-v$K8S_VERSION}
STAGING_VERSION=v0.${K8S_VERSION#*.}   # 1.37.2 -> v0.37.2
# Staging modules in k8s.io/kubernetes's go.mod that are examples, not dependencies.
SKIP_STAGING='^k8s\.io/(sample-cli-plugin|sample-controller)$'

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(kube-apiserver etcd)
for c in "${components[@]}"; do
  case $c in
    kube-apiserver|kube-controller-manager|kube-scheduler|etcd) ;;
    *) echo "build-bins: unknown component $c (kube-apiserver, kube-controller-manager, kube-scheduler, etcd)" >&2; exit 2 ;;
  esac
done

mkdir -p "$DEST"
log() { echo "build-bins: $*" >&2; }

missing=()
for c in "${components[@]}"; do [ -x "$DEST/$c" ] || missing+=("$c"); done
if [ ${#missing[@]} -eq 0 ]; then
  log "all present in $DEST"
  exit 0
fi

# One build at a time, across make runs and helpers sharing the cache.
exec 9>"$DEST/.build.lock"
if ! flock -n 9; then
  log "another build holds $DEST/.build.lock; waiting"
  flock 9
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sipws-k8s-build.XXXXXX")
# A half-written binary only ever has a temporary name; remove it on any exit.
trap 'rm -rf "$work"; rm -f "$DEST"/.*.tmp.$$' EXIT
export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" GOWORK=off GOTOOLCHAIN=local

# wrapper_k8s writes the wrapper module for k8s.io/kubernetes once.
k8s_ready=
wrapper_k8s() {
  [ -z "$k8s_ready" ] || return 0
  local dir=$work/k8s
  mkdir -p "$dir"
  local gomod
  gomod=$(cd "$dir" && GOFLAGS= $GO mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [ -f "$gomod" ] || { log "cannot download k8s.io/kubernetes@v$K8S_VERSION"; exit 1; }
  local mods
  mods=$(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$gomod" | grep -Ev "$SKIP_STAGING" | sort -u)
  [ -n "$mods" ] || { log "no staging replace lines in $gomod"; exit 1; }
  {
    echo "module sipws.local/k8s-build"
    echo
    echo "go $(awk '$1 == "go" {print $2; exit}' "$gomod")"
    echo
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    echo
    echo "replace ("
    for m in $mods; do echo "	$m => $m $STAGING_VERSION"; done
    echo ")"
  } >"$dir/go.mod"
  log "wrapper module pins $(wc -w <<<"$mods") staging modules to $STAGING_VERSION"
  k8s_ready=1
}

# k8s_ldflags are the -X flags hack/lib/version.sh would set, so binaries report v$K8S_VERSION.
k8s_ldflags() {
  local major=${K8S_VERSION%%.*} minor
  minor=${K8S_VERSION#*.}; minor=${minor%%.*}
  local date flags=(-s -w) pkg
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=("-X" "$pkg.gitVersion=v$K8S_VERSION" "-X" "$pkg.gitMajor=$major" "-X" "$pkg.gitMinor=$minor"
      "-X" "$pkg.gitTreeState=clean" "-X" "$pkg.buildDate=$date")
  done
  echo "${flags[*]}"
}

build() { # build <component> <wrapper dir> <package> <version> <ldflags>
  local c=$1 dir=$2 pkg=$3 version=$4 ldflags=$5 start tmp
  start=$(date +%s)
  tmp="$DEST/.$c.tmp.$$"
  log "building $c from $pkg@$version (one at a time; minutes on a cold cache)"
  (cd "$dir" && $GO get "$pkg@$version")
  if ! (cd "$dir" && $GO build -trimpath -ldflags "$ldflags" -o "$tmp" "$pkg"); then
    rm -f "$tmp"
    log "building $c failed"
    exit 1
  fi
  mv -f "$tmp" "$DEST/$c"
  log "built $DEST/$c in $(($(date +%s) - start))s"
}

for c in "${missing[@]}"; do
  [ -x "$DEST/$c" ] && continue # built by another run while we waited for the lock
  case $c in
    etcd)
      mkdir -p "$work/etcd"
      printf 'module sipws.local/etcd-build\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ETCD_VERSION" >"$work/etcd/go.mod"
      build etcd "$work/etcd" go.etcd.io/etcd/server/v3 "v$ETCD_VERSION" "-s -w"
      ;;
    *)
      wrapper_k8s
      build "$c" "$work/k8s" "k8s.io/kubernetes/cmd/$c" "v$K8S_VERSION" "$(k8s_ldflags)"
      ;;
  esac
done
