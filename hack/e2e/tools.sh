#!/usr/bin/env bash
# tools.sh builds the e2e tools that cannot be downloaded here, from their Go modules, into
# ${XDG_CACHE_HOME:-$HOME/.cache}/sipws/ so fresh clones and CI reuse them:
#   helm  helm.sh/helm/v3/cmd/helm  -> sipws/helm-<ver>/helm
#   kwok  sigs.k8s.io/kwok/cmd/kwok -> sipws/kwok-<ver>/kwok and kwok-<ver>/stages/*.yaml
# Usage: hack/e2e/tools.sh [helm] [kwok]   (default: both). Prints "<name>=<path>" per tool.
# Idempotent: a tool whose directory exists is skipped. Atomic: each tool is built in a
# temporary directory next to its final one and renamed into place, so an interrupted build
# leaves nothing half-installed. Each build uses a throwaway module in a temp dir, so the
# project's go.mod is untouched.
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v3.22.0}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
CACHE=${SIPWS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sipws}
GO=${GO:-go}

log() { echo "tools: $*" >&2; }

# gomod <dir> <package@version>: a throwaway module in dir that requires the package and
# everything it imports (go.sum complete for a build).
gomod() {
	(cd "$1" && GOFLAGS=-mod=mod "$GO" mod init sipws.local/tools >/dev/null 2>&1 &&
		GOFLAGS=-mod=mod "$GO" get "$2" >&2)
}

# install <final-dir> <builder>: runs builder with a fresh staging dir, then renames it to
# final-dir. Concurrent runs: the loser of the rename drops its copy.
install() {
	local final=$1 builder=$2
	if [[ -d $final ]]; then return 0; fi
	mkdir -p "$(dirname "$final")"
	local stage work
	stage=$(mktemp -d "$final.tmp.XXXXXX")
	work=$(mktemp -d)
	# shellcheck disable=SC2064
	trap "rm -rf '$stage' '$work'" EXIT
	local start=$SECONDS
	"$builder" "$stage" "$work"
	if ! mv -T "$stage" "$final" 2>/dev/null; then
		[[ -d $final ]] || { log "cannot install $final"; exit 1; }
		rm -rf "$stage"
	fi
	rm -rf "$work"
	trap - EXIT
	log "built $final in $((SECONDS - start))s"
}

build_helm() {
	local out=$1 work=$2
	log "building helm $HELM_VERSION (cold build takes a few minutes)"
	gomod "$work" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
	# helm's Makefile derives its default Kubernetes version (what .Capabilities.KubeVersion
	# and the deprecation lint report without a cluster) from client-go v0.X -> 1.X; without
	# these flags it says v1.20 and the chart's kubeVersion check fails.
	local cg major minor
	cg=$(cd "$work" && "$GO" list -m -f '{{.Version}}' k8s.io/client-go)
	cg=${cg#v}
	major=$((${cg%%.*} + 1))
	minor=$(echo "$cg" | cut -d. -f2)
	local p=helm.sh/helm/v3
	local ldflags="-s -w -X $p/internal/version.version=$HELM_VERSION -X $p/internal/version.gitTreeState=clean"
	ldflags+=" -X $p/pkg/lint/rules.k8sVersionMajor=$major -X $p/pkg/lint/rules.k8sVersionMinor=$minor"
	ldflags+=" -X $p/pkg/chartutil.k8sVersionMajor=$major -X $p/pkg/chartutil.k8sVersionMinor=$minor"
	(cd "$work" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags "$ldflags" -o "$out/helm" "$p/cmd/helm")
	"$out/helm" version --short >&2
}

build_kwok() {
	local out=$1 work=$2
	log "building kwok $KWOK_VERSION (cold build takes a few minutes)"
	gomod "$work" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
	local p=sigs.k8s.io/kwok/pkg/consts
	(cd "$work" && CGO_ENABLED=0 "$GO" build -trimpath \
		-ldflags "-s -w -X $p.Version=${KWOK_VERSION#v} -X $p.PreRelease=GA" \
		-o "$out/kwok" sigs.k8s.io/kwok/cmd/kwok)
	# kwok only moves nodes and pods through the stages it is given; the module ships them
	# under kustomize/stage. Fast stages: nodes Ready at once with a heartbeat, pods Running
	# and Ready at once, deleted pods removed.
	local src
	src=$(cd "$work" && "$GO" list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
	mkdir -p "$out/stages"
	for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml \
		pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
		[[ -f $src/$f ]] || { log "missing stage $src/$f"; exit 1; }
		cp "$src/$f" "$out/stages/"
	done
	chmod -R u+w "$out/stages"
	"$out/kwok" --version >&2 || true
}

tools=("$@")
((${#tools[@]})) || tools=(helm kwok)
for t in "${tools[@]}"; do
	case $t in
	helm) install "$CACHE/helm-$HELM_VERSION" build_helm; echo "helm=$CACHE/helm-$HELM_VERSION/helm" ;;
	kwok) install "$CACHE/kwok-$KWOK_VERSION" build_kwok; echo "kwok=$CACHE/kwok-$KWOK_VERSION/kwok" ;;
	*) log "unknown tool $t (helm, kwok)"; exit 2 ;;
	esac
done
