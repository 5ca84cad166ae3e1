#!/usr/bin/env bash
# Builds the pinned test/tool binaries (etcd, kube-apiserver,
# kube-controller-manager, helm, promtool) from source through the Go module
# proxy and caches them in bin/, keyed by version. See hack/README.md.
#
# Usage: hack/build-tools.sh [TARGET...]
#   etcd | kube-apiserver | kube-controller-manager | helm | promtool
#   envtest      etcd + kube-apiserver (what `make test` needs; the default)
#   all          every tool
#   --assets-dir print the KUBEBUILDER_ASSETS directory and exit
#   --versions   print the pinned version of every tool and exit
#
# Layout (relative to the repository root):
#   bin/<tool>-<version>          the binaries, one file per pinned version
#   bin/.<tool>-<version>.stamp   hash of what the binary was built from
#   bin/k8s/{etcd,kube-apiserver,kube-controller-manager} -> ../<tool>-<version>
#                                 (the KUBEBUILDER_ASSETS directory for envtest)
#   bin/helm, bin/promtool        -> <tool>-<version>
#
# A binary is rebuilt only when it is missing or when its tool module
# (hack/tools/<module>/go.mod, go.sum) or its build flags changed; otherwise the
# script only checks the symlinks and exits in a few milliseconds.
#
# Environment:
#   GO                 go command to use (default: go)
#   BUILD_TOOLS_NICE   niceness of the compiler (default: 10)
#   REDLINE_BIN        output directory (default: <repo>/bin)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="$ROOT/hack/tools"
BIN="${REDLINE_BIN:-$ROOT/bin}"
ASSETS_DIR="$BIN/k8s"
GO="${GO:-go}"
NICE="${BUILD_TOOLS_NICE:-10}"

ALL_TOOLS=(etcd kube-apiserver kube-controller-manager helm promtool)
ENVTEST_TOOLS=(etcd kube-apiserver)

log() { printf 'build-tools: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# tool_info TOOL -> sets T_DIR (tool module dir), T_MOD (module whose version
# is the tool's version), T_PKG (main package), T_LINK (symlink to maintain,
# relative to $BIN), T_ETA (rough first-build time on 2 cores).
tool_info() {
  case "$1" in
    etcd)
      T_DIR=etcd T_MOD=go.etcd.io/etcd/server/v3 T_PKG=go.etcd.io/etcd/server/v3
      T_LINK=k8s/etcd T_ETA="about 1 minute" ;;
    kube-apiserver)
      T_DIR=kube T_MOD=k8s.io/kubernetes T_PKG=k8s.io/kubernetes/cmd/kube-apiserver
      T_LINK=k8s/kube-apiserver T_ETA="3-4 minutes" ;;
    kube-controller-manager)
      T_DIR=kube T_MOD=k8s.io/kubernetes T_PKG=k8s.io/kubernetes/cmd/kube-controller-manager
      T_LINK=k8s/kube-controller-manager T_ETA="2-4 minutes" ;;
    helm)
      T_DIR=helm T_MOD=helm.sh/helm/v3 T_PKG=helm.sh/helm/v3/cmd/helm
      T_LINK=helm T_ETA="2-3 minutes" ;;
    promtool)
      T_DIR=promtool T_MOD=github.com/prometheus/prometheus T_PKG=github.com/prometheus/prometheus/cmd/promtool
      T_LINK=promtool T_ETA="3-4 minutes" ;;
    *) die "unknown tool '$1' (want one of: ${ALL_TOOLS[*]}, envtest, all)" ;;
  esac
}

# modver DIR MODULE: the version of MODULE required in hack/tools/DIR/go.mod
# (read with awk rather than `go list` so that a no-op run stays fast).
modver() {
  local v
  v="$(awk -v m="$2" '
    /=>/ { next }
    $1 == "require" && $2 == m { print $3; exit }
    $1 == m { print $2; exit }
  ' "$TOOLS_DIR/$1/go.mod")"
  [[ -n "$v" ]] || die "$2 is not required in hack/tools/$1/go.mod"
  printf '%s' "$v"
}

# ldflags TOOL VERSION: linker flags (always -s -w, plus version stamps so
# that the binaries report their real version instead of a placeholder).
ldflags() {
  local tool="$1" ver="$2" flags="-s -w" p
  case "$tool" in
    kube-apiserver|kube-controller-manager)
      # What kubernetes' hack/lib/version.sh sets; without it the binaries
      # report v0.0.0-master+$Format:%H$.
      local mm="${ver#v}"; local major="${mm%%.*}"; mm="${mm#*.}"; local minor="${mm%%.*}"
      for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $p.gitVersion=$ver -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
      done ;;
    helm)
      # As helm's Makefile: the version, and the default Kubernetes version of
      # `helm template`/`helm lint` derived from the client-go it is built with.
      local cg; cg="$(modver helm k8s.io/client-go)"; cg="${cg#v}"
      local cgmajor="${cg%%.*}"; cg="${cg#*.}"; local cgminor="${cg%%.*}"
      flags+=" -X helm.sh/helm/v3/internal/version.version=$ver -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
      for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
        flags+=" -X $p.k8sVersionMajor=$((cgmajor + 1)) -X $p.k8sVersionMinor=$cgminor"
      done ;;
    promtool)
      # Prometheus 3.X.Y is published as the Go module version v0.3XX.Y.
      local mm="${ver#v0.}"; local mid="${mm%%.*}"; local patch="${mm#*.}"
      local pver="${mid:0:1}.$((10#${mid:1})).$patch"
      flags+=" -X github.com/prometheus/common/version.Version=$pver" ;;
  esac
  printf '%s' "$flags"
}

# link LINK TARGET: atomically point $BIN/LINK at TARGET (a relative path).
link() {
  local l="$BIN/$1" t="$2"
  [[ -L "$l" && "$(readlink "$l")" == "$t" ]] && return 0
  mkdir -p "$(dirname "$l")"
  ln -s "$t" "$l.tmp.$$"
  mv -Tf "$l.tmp.$$" "$l"
}

# ensure TOOL: build bin/TOOL-VERSION unless it is up to date; update its link.
ensure() {
  local tool="$1"
  tool_info "$tool"
  local ver; ver="$(modver "$T_DIR" "$T_MOD")"
  local name="$tool-$ver" flags; flags="$(ldflags "$tool" "$ver")"
  local out="$BIN/$name" stampf="$BIN/.$name.stamp"
  local recipe="$T_PKG|$flags|-trimpath|CGO_ENABLED=0"
  local stamp
  stamp="$( { cat "$TOOLS_DIR/$T_DIR/go.mod" "$TOOLS_DIR/$T_DIR/go.sum"; printf '%s\n' "$recipe"; } | sha256sum)"
  stamp="${stamp%% *}"

  if [[ ! -x "$out" || ! -f "$stampf" || "$(<"$stampf")" != "$stamp" ]]; then
    mkdir -p "$BIN"
    # Serialize builds (concurrent runs wait, then find the binary built).
    exec {lockfd}>"$BIN/.build-tools.lock"
    if command -v flock >/dev/null 2>&1; then flock "$lockfd"; fi
    if [[ ! -x "$out" || ! -f "$stampf" || "$(<"$stampf")" != "$stamp" ]]; then
      command -v "$GO" >/dev/null 2>&1 || die "'$GO' not found; install Go (see go.mod) first"
      log "building $tool $ver (takes $T_ETA on first run)..."
      local start=$SECONDS tmp="$BIN/.$name.tmp.$$"
      # GOWORK=off: the tool modules must never be resolved through a go.work.
      if ! (cd "$TOOLS_DIR/$T_DIR" && GOWORK=off CGO_ENABLED=0 \
              nice -n "$NICE" "$GO" build -trimpath -ldflags="$flags" -o "$tmp" "$T_PKG"); then
        rm -f "$tmp"
        die "building $tool $ver failed"
      fi
      mv -f "$tmp" "$out"
      printf '%s\n' "$stamp" >"$stampf.tmp.$$" && mv -f "$stampf.tmp.$$" "$stampf"
      log "built $tool $ver in $((SECONDS - start))s: ${out#"$ROOT"/} ($(du -h "$out" | cut -f1))"
    fi
    exec {lockfd}>&-
  fi

  # Symlink targets are relative so that bin/ can be moved.
  case "$T_LINK" in
    */*) link "$T_LINK" "../$name" ;;
    *)   link "$T_LINK" "$name" ;;
  esac
}

targets=()
for arg in "${@:-envtest}"; do
  case "$arg" in
    --assets-dir) printf '%s\n' "$ASSETS_DIR"; exit 0 ;;
    --versions)
      for t in "${ALL_TOOLS[@]}"; do tool_info "$t"; printf '%s %s\n' "$t" "$(modver "$T_DIR" "$T_MOD")"; done
      exit 0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    envtest) targets+=("${ENVTEST_TOOLS[@]}") ;;
    all) targets+=("${ALL_TOOLS[@]}") ;;
    -*) die "unknown option '$arg' (see --help)" ;;
    *) tool_info "$arg"; targets+=("$arg") ;;
  esac
done

for t in "${targets[@]}"; do
  ensure "$t"
done
