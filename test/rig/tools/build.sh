#!/usr/bin/env bash
# Builds the test rig's tools from the Go module proxy at the versions pinned in src/pins.json.
#
#   bash test/rig/tools/build.sh                  # every tool, in the order below
#   bash test/rig/tools/build.sh helm skaffold    # only these
#
# Tools: helm skaffold kind kubectl actionlint k8s-server act tilt
#   - helm, skaffold, kind, kubectl (src/pins.json `tools`) and actionlint, act, tilt (`rigTools`) go into
#     $JETSCALE_TOOL_CACHE (default ~/.cache/jetscale-stack/toolcache) in @actions/tool-cache layout:
#     <tool>/<version without v>/x64/<tool> plus the marker <tool>/<version without v>/x64.complete.
#   - k8s-server: kubeadm, kubelet, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy (and
#     kubectl again) for the node image, into $JETSCALE_RIG_CACHE/k8s/<kubectl pin>/bin/ with bin/.complete
#     (default ~/.cache/jetscale-stack/rig).
#
# Each tool is built from its own Go module under test/rig/tools/<module>/ (go.mod `tool` directives, the
# upstream `replace` directives repeated, go.sum committed), so the dependency versions are exactly what the
# upstream module selects. A build is skipped when binary, marker and recipe hash (sha256 of go.mod, go.sum,
# Go version and build flags, stored in <version>/x64.recipe) are all present and current.
#
# Environment: GOFLAGS/GOPROXY as configured on the machine; RIG_TOOLS_GO_P (default 2) is `go build -p`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
pins="$repo/src/pins.json"
tool_cache="${JETSCALE_TOOL_CACHE:-$HOME/.cache/jetscale-stack/toolcache}"
rig_cache="${JETSCALE_RIG_CACHE:-$HOME/.cache/jetscale-stack/rig}"
go_p="${RIG_TOOLS_GO_P:-2}"
all_tools=(helm skaffold kind kubectl actionlint k8s-server act tilt)

command -v go >/dev/null || die "go not found on PATH; install Go 1.26 or newer (the tools modules say go 1.26)"
command -v node >/dev/null || die "node not found on PATH; it reads src/pins.json"
command -v flock >/dev/null || die "flock not found on PATH; install util-linux"

# The sum database the proxy offers does not know tilt's own modules (github.com/tilt-dev/*); their
# hashes are in the committed tilt/go.sum, which the go command checks instead.
export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}github.com/tilt-dev"
GOFLAGS="$(go env GOFLAGS) -mod=readonly -buildvcs=false"
export GOFLAGS

log() { printf '[rig:tools] %s\n' "$*"; }
die() {
  printf '[rig:tools] error: %s\n' "$*" >&2
  exit 1
}

[[ -f "$pins" ]] || die "src/pins.json not found at $pins"

# pin <section> <tool>: the pinned version (with its leading v) or a clear error.
pin() {
  # shellcheck disable=SC2016 # JavaScript template literal, not shell
  node -e '
    const [file, section, tool] = process.argv.slice(1);
    const pins = JSON.parse(require("node:fs").readFileSync(file, "utf8"));
    const v = pins[section]?.[tool]?.version;
    if (typeof v !== "string" || !/^v\d+\.\d+\.\d+$/.test(v)) {
      console.error(`src/pins.json: ${section}.${tool}.version is ${JSON.stringify(v)}; expected a version like "v1.2.3"`);
      process.exit(1);
    }
    console.log(v);
  ' "$pins" "$1" "$2" || die "cannot read the $2 pin from src/pins.json"
}

# required <module dir> <module path>: the version the tools module requires for that module.
required() {
  (cd "$here/$1" && go list -m -f '{{.Version}}' "$2") || die "cannot resolve $2 in test/rig/tools/$1/go.mod"
}

# module_date <module dir> <module path>: the module version's commit time, used as a reproducible build date.
module_date() {
  (cd "$here/$1" && go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' "$2")
}

# check_pin <tool> <module dir> <module path> <pinned version>
check_pin() {
  local got
  got="$(required "$2" "$3")"
  [[ "$got" == "$4" ]] ||
    die "$1: src/pins.json pins $4 but test/rig/tools/$2/go.mod requires $3 $got; update the module with: (cd test/rig/tools/$2 && go get -tool <package>@$4)"
}

recipe_hash() { # <module dir> <flags...>
  local dir="$here/$1"
  shift
  {
    cat "$dir/go.mod" "$dir/go.sum"
    # files laid over the upstream module's source before building (only tilt has them)
    if [[ -d "$dir/overlay" ]]; then find "$dir/overlay" -type f | LC_ALL=C sort | xargs cat; fi
    go env GOVERSION GOOS GOARCH
    printf '%s\n' "$@"
  } | sha256sum | cut -d' ' -f1
}

# go_build <module dir> <out> <package> <cgo> <tags> <ldflags>
go_build() {
  (cd "$here/$1" && CGO_ENABLED="$4" go build -p "$go_p" -trimpath -tags "$5" -ldflags "$6" -o "$2" "$3")
}

# install_tool <tool> <version> <module dir> <module path> <package> <cgo> <tags> <ldflags>
install_tool() {
  local tool=$1 version=$2 dir=$3 module=$4 package=$5 cgo=$6 tags=$7 ldflags=$8
  local vdir="$tool_cache/$tool/${version#v}"
  local bin="$vdir/x64/$tool" marker="$vdir/x64.complete" recipe="$vdir/x64.recipe"
  local hash start
  check_pin "$tool" "$dir" "$module" "$version"
  hash="$(recipe_hash "$dir" "$package" "$cgo" "$tags" "$ldflags")"
  mkdir -p "$vdir/x64"
  exec 9>"$vdir/.lock"
  flock 9
  if [[ -x "$bin" && -f "$marker" && "$(cat "$recipe" 2>/dev/null)" == "$hash" ]]; then
    log "$tool $version cached ($bin)"
    exec 9>&-
    return
  fi
  start=$SECONDS
  log "$tool $version building from $module (test/rig/tools/$dir) ..."
  rm -f "$marker" "$recipe"
  go_build "$dir" "$bin.tmp" "$package" "$cgo" "$tags" "$ldflags" || die "$tool $version: go build $package failed (see above)"
  mv -f "$bin.tmp" "$bin"
  printf '%s\n' "$hash" >"$recipe"
  : >"$marker"
  exec 9>&-
  log "$tool $version built in $((SECONDS - start))s ($bin)"
}

kube_ldflags() { # <version> <module dir>
  local v=$1 minor date
  minor="$(cut -d. -f2 <<<"$v")"
  date="$(module_date "$2" k8s.io/kubernetes)"
  local flags="-s -w -buildid="
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    [[ -n "$date" ]] && flags+=" -X $pkg.buildDate=$date"
  done
  printf '%s' "$flags"
}

build_helm() {
  local v k8s
  v="$(pin tools helm)"
  k8s="$(required helm k8s.io/client-go)" # helm's Makefile: default Kubernetes version = client-go's, major+1
  local major minor
  major=$(($(cut -d. -f1 <<<"${k8s#v}") + 1))
  minor="$(cut -d. -f2 <<<"$k8s")"
  install_tool helm "$v" helm helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm 0 "" \
    "-s -w -buildid= -X helm.sh/helm/v3/internal/version.version=$v -X helm.sh/helm/v3/internal/version.gitTreeState=clean -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$major -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$major -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
}

build_skaffold() {
  local v date p=github.com/GoogleContainerTools/skaffold/v2
  v="$(pin tools skaffold)"
  date="$(module_date skaffold "$p")"
  install_tool skaffold "$v" skaffold "$p" "$p/cmd/skaffold" 0 "timetzdata osusergo netgo" \
    "-s -w -buildid= -X $p/pkg/skaffold/version.version=$v -X $p/pkg/skaffold/version.buildDate=$date"
}

build_kind() {
  local v
  v="$(pin tools kind)" # kind's version is a constant in its source; no stamp needed
  install_tool kind "$v" kind sigs.k8s.io/kind sigs.k8s.io/kind 0 "" "-s -w -buildid="
}

build_kubectl() {
  local v
  v="$(pin tools kubectl)"
  install_tool kubectl "$v" kubernetes k8s.io/kubernetes k8s.io/kubernetes/cmd/kubectl 0 "" "$(kube_ldflags "$v" kubernetes)"
}

build_actionlint() {
  local v
  v="$(pin rigTools actionlint)"
  install_tool actionlint "$v" actionlint github.com/rhysd/actionlint github.com/rhysd/actionlint/cmd/actionlint 0 "" \
    "-s -w -buildid= -X github.com/rhysd/actionlint.version=$v"
}

build_act() {
  local v
  v="$(pin rigTools act)"
  install_tool act "$v" act github.com/nektos/act github.com/nektos/act 0 "" "-s -w -buildid= -X main.version=$v"
}

# tilt serves its web UI from files embedded from pkg/assets/build, which tilt's release build fills with
# `make build-js` (a Node build of web/). The module holds only a placeholder there, and a binary built
# from it refuses to start (`tilt up`/`tilt ci`: "running in prod mode, but JS/CSS files are not
# available"). go build -overlay may not touch the module cache, so the build uses a copy of the module
# with tilt/overlay/ laid over it (pkg/assets/build/index.html: a page saying this binary has no web UI),
# through a temporary go.mod (-modfile) that repeats ours plus a replace to that copy. Everything else is
# tilt v0.34.0 as released, without a UI to show.
build_tilt() {
  local v date src work
  v="$(pin rigTools tilt)"
  date="$(module_date tilt github.com/tilt-dev/tilt | cut -c1-10)"
  src="$(cd "$here/tilt" && go mod download -json github.com/tilt-dev/tilt | node -e 'console.log(JSON.parse(require("node:fs").readFileSync(0, "utf8")).Dir ?? "")')"
  [[ -n "$src" && -d "$src" ]] || die "tilt: cannot download github.com/tilt-dev/tilt $v into the Go module cache"
  work="$(mktemp -d)"
  cp -R "$src" "$work/tilt"
  chmod -R u+w "$work/tilt"
  cp -R "$here/tilt/overlay/." "$work/tilt/"
  { cat "$here/tilt/go.mod"; printf '\nreplace github.com/tilt-dev/tilt => %s\n' "$work/tilt"; } >"$work/go.mod"
  cp "$here/tilt/go.sum" "$work/go.sum"
  GOFLAGS="$GOFLAGS -modfile=$work/go.mod" install_tool tilt "$v" tilt github.com/tilt-dev/tilt github.com/tilt-dev/tilt/cmd/tilt 1 osusergo \
    "-s -w -buildid= -X main.version=${v#v} -X main.date=$date"
  rm -rf "$work"
}

build_k8s_server() {
  local v ldflags hash start cmd
  v="$(pin tools kubectl)"
  check_pin k8s-server kubernetes k8s.io/kubernetes "$v"
  local cmds=(kubeadm kubelet kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubectl)
  local out="$rig_cache/k8s/$v/bin"
  ldflags="$(kube_ldflags "$v" kubernetes)"
  hash="$(recipe_hash kubernetes "${cmds[*]}" 0 "" "$ldflags")"
  mkdir -p "$out"
  exec 9>"$out/.lock"
  flock 9
  local have=1
  for cmd in "${cmds[@]}"; do [[ -x "$out/$cmd" ]] || have=0; done
  if [[ $have == 1 && -f "$out/.complete" && "$(cat "$out/.recipe" 2>/dev/null)" == "$hash" ]]; then
    log "k8s-server $v cached ($out)"
    exec 9>&-
    return
  fi
  start=$SECONDS
  rm -f "$out/.complete" "$out/.recipe"
  for cmd in "${cmds[@]}"; do
    local t=$SECONDS
    log "k8s-server $v building $cmd ..."
    go_build kubernetes "$out/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" 0 "" "$ldflags" ||
      die "k8s-server $v: go build k8s.io/kubernetes/cmd/$cmd failed (see above)"
    mv -f "$out/$cmd.tmp" "$out/$cmd"
    log "k8s-server $v $cmd built in $((SECONDS - t))s"
  done
  printf '%s\n' "$hash" >"$out/.recipe"
  : >"$out/.complete"
  exec 9>&-
  log "k8s-server $v built in $((SECONDS - start))s ($out)"
}

tools=("$@")
[[ ${#tools[@]} -gt 0 ]] || tools=("${all_tools[@]}")
for tool in "${tools[@]}"; do
  case "$tool" in
  helm | skaffold | kind | kubectl | actionlint | act | tilt) ;;
  k8s-server) ;;
  *) die "unknown tool '$tool'; accepted: ${all_tools[*]}" ;;
  esac
done
total=$SECONDS
for tool in "${tools[@]}"; do
  "build_${tool//-/_}"
done
log "done in $((SECONDS - total))s: ${tools[*]}"
