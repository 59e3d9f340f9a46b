#!/usr/bin/env bash
# Validates everything in infra/deploy without a Docker engine, a Kubernetes cluster or the internet, and fails
# loudly on the first problem. Prints "validated: <file> (<how>)" for each check that passed and ends with
# "validate: N files OK". Installs what it needs first, idempotently: Debian packages (docker-compose v1,
# libxml2-utils, kubectl, npm, curl), nginx's binary unpacked from its Debian package (never installed as a service),
# and the npm tools pinned in tools/package-lock.json, into a cache outside the repository.
#   infra/deploy/validate.sh                 # install if needed, validate
#   infra/deploy/validate.sh --install-only  # install if needed (infra/setup/install-deps.sh calls this)
#   infra/deploy/validate.sh --build         # also run the Dockerfile's build stage without Docker (about a minute):
#                                            # the .dockerignore'd context copied out, its RUN commands run there
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${VISIBILITY_CACHE:-${HOME}/.cache/visibility}/deploy-tools"

fail() {
  echo "validate: FAILED: $*" >&2
  exit 1
}

declare -A validated=()
ok() {
  validated["$1"]=1
  echo "validated: $1 ($2)"
}

# ---- tools -----------------------------------------------------------------------------------------------------

as_root() {
  if [[ "$(id -u)" == 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    fail "need root or sudo to run: $*"
  fi
}

need=()
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v xmllint >/dev/null || need+=(libxml2-utils)
command -v kubectl >/dev/null || need+=(kubectl)
command -v npm >/dev/null || need+=(npm)
command -v curl >/dev/null || need+=(curl)
command -v flock >/dev/null || need+=(util-linux)
if ((${#need[@]} > 0)); then
  echo "validate: installing ${need[*]}" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need[@]}" >/dev/null \
    || fail "could not install ${need[*]} (kubectl comes from the Google Cloud apt repository on this kind of machine)"
fi

mkdir -p "$cache"
exec 9>"$cache/.install.lock"
flock 9

# nginx, to check the proxy configuration: the binary alone, unpacked from Debian's package, so that no nginx
# service is installed or started on the machine.
nginx="$cache/nginx/usr/sbin/nginx"
if [[ ! -x "$nginx" ]]; then
  work="$(mktemp -d "$cache/.nginx.XXXXXX")"
  # apt's download sandbox user cannot write into a private temporary directory.
  chmod 755 "$work"
  if ! (cd "$work" && apt-get download -qq nginx >/dev/null 2>&1); then
    as_root apt-get update -qq
    (cd "$work" && apt-get download -qq nginx >/dev/null) || fail "could not download Debian's nginx package"
  fi
  dpkg-deb -x "$work"/nginx_*.deb "$work/root"
  rm -rf "$cache/nginx"
  mv "$work/root" "$cache/nginx"
  rm -rf "$work"
fi
"$nginx" -v 2>/dev/null || fail "$nginx does not run (missing libraries?)"

# npm tools and the scripts that use them (which run from beside their node_modules), keyed by the content of
# tools/, so that a change installs afresh and checkouts with different scripts do not overwrite each other's.
key="$(cat "$here"/tools/* | sha256sum | cut -c1-16)"
tools="$cache/node-$key"
if [[ ! -f "$tools/.installed" ]]; then
  rm -rf "$tools"
  mkdir -p "$tools"
  cp "$here"/tools/* "$tools/"
  (cd "$tools" && npm ci --no-audit --no-fund --silent) || fail "npm ci of infra/deploy/tools failed"
  touch "$tools/.installed"
fi
flock -u 9

mode="${1:-}"
case "$mode" in
  --install-only) exit 0 ;;
  "" | --build) ;;
  *) fail "unknown option '${mode}' (--install-only, --build)" ;;
esac

tmp="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# ---- compose ---------------------------------------------------------------------------------------------------

cd "$here"
cp .env.example "$tmp/.env"
compose=(docker-compose --project-directory "$here" --env-file "$tmp/.env" -f "$here/compose.yaml")

# docker-compose v1 checks the file against its schema (unknown keys fail) after interpolating .env.example.
"${compose[@]}" config -q || fail "compose.yaml: docker-compose config"
ok compose.yaml "docker-compose $(docker-compose version --short) config: schema and interpolation"

# The current Compose Specification schema and lint rules (dclint); ordering rules off, see tools/dclint.json.
node "$tools/node_modules/dclint/bin/dclint.cjs" -c "$tools/dclint.json" --color false --max-warnings 0 compose.yaml \
  || fail "compose.yaml: dclint"
ok compose.yaml "dclint: Compose Specification schema and lint"

# Every variable the file requires is in .env.example, and the example sets nothing the file does not read.
uncommented="$(grep -vE '^\s*#' compose.yaml)"
required="$(grep -oE '\$\{[A-Z_]+:\?' <<<"$uncommented" | sed -E 's/\$\{([A-Z_]+):\?/\1/' | sort -u)"
for var in $required; do
  grep -qE "^${var}=" .env.example || fail ".env.example lacks ${var}, which compose.yaml requires"
done
for var in $(grep -oE '^[A-Z_]+=' .env.example | tr -d '='); do
  [[ "$var" == COMPOSE_PROJECT_NAME ]] && continue
  grep -qE "\\\$\\{${var}(:|\\})" <<<"$uncommented" || fail ".env.example sets ${var}, which compose.yaml never reads"
done
ok .env.example "sets every variable compose.yaml requires, and only those it reads"

# Bind-mounted files exist, and every ClickHouse host the configuration names is a service here.
config="$("${compose[@]}" config)"
while read -r source; do
  [[ -e "$source" ]] || fail "compose.yaml mounts ${source}, which does not exist"
done < <(grep -oE "^    - ${here}/[^:]+" <<<"$config" | sed -E 's/^    - //')
services="$("${compose[@]}" config --services)"
# One service's lines of the resolved configuration.
service_block() { awk -v s="  $1:" '$0 == s {on = 1; next} /^  [^ ]/ {on = 0} on' <<<"$config"; }

# ---- ClickHouse ------------------------------------------------------------------------------------------------

xcount() { xmllint --xpath "count($2)" "$1"; }
xvalues() { xmllint --xpath "$2/text()" "$1" | grep -v '^$' || true; }

cluster=clickhouse/config.d/cluster.xml
keeper=clickhouse/keeper/keeper_config.xml
xmllint --noout "$cluster" "$keeper" || fail "ClickHouse configuration is not well-formed XML"
[[ "$(xcount "$cluster" '/clickhouse/remote_servers/visibility/shard/replica')" -ge 2 ]] \
  || fail "$cluster: cluster 'visibility' needs at least two replicas"
[[ "$(xcount "$cluster" '/clickhouse/macros/shard[@from_env]') $(xcount "$cluster" '/clickhouse/macros/replica[@from_env]')" == "1 1" ]] \
  || fail "$cluster: macros shard and replica must come from the environment"
for host in $(xvalues "$cluster" '/clickhouse/remote_servers/visibility/shard/replica/host') \
            $(xvalues "$cluster" '/clickhouse/zookeeper/node/host'); do
  grep -qx "$host" <<<"$services" || fail "$cluster names host ${host}, which is no service in compose.yaml"
done
for var in $(xmllint --xpath '//@from_env' "$cluster" | grep -oE '"[A-Z_]+"' | tr -d '"'); do
  for server in $(xvalues "$cluster" '/clickhouse/remote_servers/visibility/shard/replica/host'); do
    grep -q "${var}:" <<<"$(service_block "$server")" \
      || fail "compose.yaml: service ${server} does not set ${var}, which $cluster reads"
  done
done
ok "$cluster" "xmllint well-formed; cluster visibility, macros from the environment, hosts are compose services"

keepers="$(xvalues "$cluster" '/clickhouse/zookeeper/node/host' | sort)"
raft="$(xvalues "$keeper" '/clickhouse/keeper_server/raft_configuration/server/hostname' | sort)"
[[ "$keepers" == "$raft" ]] || fail "$cluster's keeper nodes (${keepers//$'\n'/ }) differ from $keeper's raft servers (${raft//$'\n'/ })"
ids="$(xvalues "$keeper" '/clickhouse/keeper_server/raft_configuration/server/id' | sort -n | tr '\n' ' ')"
for host in $raft; do
  id="$(service_block "$host" | grep -oE "KEEPER_SERVER_ID: '?[0-9]+" | grep -oE '[0-9]+$')"
  [[ " $ids" == *" ${id} "* ]] || fail "compose.yaml: ${host}'s KEEPER_SERVER_ID '${id}' is no raft server id of $keeper (${ids})"
done
((($(wc -w <<<"$ids") % 2) == 1)) || fail "$keeper: a Raft quorum needs an odd number of servers"
ok "$keeper" "xmllint well-formed; raft servers match the cluster's keeper nodes and compose's server ids"

# ---- Dockerfile and build context ------------------------------------------------------------------------------

node "$tools/dockerfile-check.mjs" "$root" "$here/Dockerfile" || fail "Dockerfile"
ok Dockerfile "dockerfile-utils lint; COPY sources present in the build context"
ok ../../.dockerignore "@balena/dockerignore: context keeps the COPY sources, excludes secrets and build output"
grep -q -- '-p:VisibilityFetchChdb=false' Dockerfile || fail "Dockerfile: the publish must skip fetching the embedded engine"

# --build: the build stage's RUN commands, run in a copy of the build context with /src and /app moved under a
# temporary directory and an empty engine cache, which must stay empty (the publish fetches no embedded engine).
if [[ "$mode" == --build ]]; then
  context="$tmp/context"
  mkdir -p "$context" "$tmp/engine-cache"
  node "$tools/dockerfile-check.mjs" "$root" "$here/Dockerfile" --context | (cd "$root" && tar -cf - -T -) | tar -xf - -C "$context"
  while read -r command; do
    command="${command//\/app/$tmp/app}"
    echo "validate: build stage: ${command}" >&2
    (cd "$context" && VISIBILITY_CACHE="$tmp/engine-cache" bash -euo pipefail -c "$command" >"$tmp/build.log" 2>&1) \
      || { tail -30 "$tmp/build.log" >&2; fail "Dockerfile: build stage command failed: ${command}"; }
  done < <(node "$tools/dockerfile-check.mjs" "$root" "$here/Dockerfile" --build-runs)
  [[ -f "$tmp/app/visibility.dll" && -f "$tmp/app/appsettings.json" ]] || fail "Dockerfile: the build stage produced no visibility.dll"
  [[ -z "$(ls -A "$tmp/engine-cache")" ]] || fail "Dockerfile: the build stage fetched the embedded engine"
  [[ -z "$(find "$tmp/app" -name 'libchdb*')" ]] || fail "Dockerfile: the image would ship libchdb"
  ok Dockerfile "build stage run without Docker: $(du -sh "$tmp/app" | cut -f1) published, no embedded engine fetched"
fi
grep -q "'\$(VisibilityFetchChdb)' == 'true'" "$root/web/Visibility.Web.csproj" \
  || fail "web/Visibility.Web.csproj: the FetchChdb target no longer honours VisibilityFetchChdb"

# The image's health probe, against a local HTTP server: 200 passes, anything else or no answer fails.
bash -n healthcheck.sh || fail "healthcheck.sh: syntax"
[[ -x healthcheck.sh ]] || fail "healthcheck.sh must be executable (the image copies its mode)"
port="$(free_port)"
node -e '
  require("http").createServer((req, res) => { res.statusCode = req.url === "/readyz" ? 200 : 503; res.end(); })
    .listen(Number(process.argv[1]), "127.0.0.1", () => console.log("listening"));' "$port" >"$tmp/stub.log" &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$tmp/stub.log" && break; sleep 0.1; done
./healthcheck.sh "http://127.0.0.1:${port}/readyz" || fail "healthcheck.sh: a 200 answer failed"
if ./healthcheck.sh "http://127.0.0.1:${port}/other" 2>/dev/null; then fail "healthcheck.sh: a 503 answer passed"; fi
kill "${pids[-1]}"
wait "${pids[-1]}" 2>/dev/null || true
if ./healthcheck.sh "http://127.0.0.1:${port}/readyz" 2>/dev/null; then fail "healthcheck.sh: a closed port passed"; fi
set +e; ./healthcheck.sh "not-a-url" 2>/dev/null; status=$?; set -e
[[ $status == 2 ]] || fail "healthcheck.sh: a malformed URL exited ${status}, not 2"
ok healthcheck.sh "bash -n; 200 passes, 503 and a closed port fail, a bad URL is a usage error"

# ---- the authenticating proxy ----------------------------------------------------------------------------------

# nginx -t on the configuration as shipped, inside a minimal http block like the image's.
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/test.conf" <<EOF
pid $tmp/nginx/nginx.pid;
events {}
http {
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    include $here/k8s/proxy.conf;
}
EOF
"$nginx" -t -q -e stderr -p "$tmp/nginx" -c "$tmp/nginx/test.conf" || fail "k8s/proxy.conf: nginx -t"

# Then run it, on free ports in front of a stub API, and check what it lets through.
proxy_port="$(free_port)"
api_port="$(free_port)"
printf 'analyst:%s\n' "$(openssl passwd -apr1 correct-horse)" >"$tmp/nginx/htpasswd"
sed -e "s/listen 8080;/listen 127.0.0.1:${proxy_port};/" \
    -e "s#http://127.0.0.1:5080#http://127.0.0.1:${api_port}#" \
    -e "s#/run/secrets/htpasswd#$tmp/nginx/htpasswd#" k8s/proxy.conf >"$tmp/nginx/proxy.conf"
sed -e "s#include $here/k8s/proxy.conf;#include $tmp/nginx/proxy.conf;#" "$tmp/nginx/test.conf" >"$tmp/nginx/run.conf"
# Workers run as the invoking user so that they can read the private temporary directory.
if [[ "$(id -u)" == 0 ]]; then sed -i "1i user root;" "$tmp/nginx/run.conf"; fi
node -e '
  require("http").createServer((req, res) => {
    res.setHeader("x-saw-authorization", req.headers.authorization ? "yes" : "no");
    res.setHeader("x-saw-user", req.headers["x-forwarded-user"] ?? "");
    res.end("api\n");
  }).listen(Number(process.argv[1]), "127.0.0.1", () => console.log("listening"));' "$api_port" >"$tmp/api.log" &
pids+=($!)
"$nginx" -e "$tmp/nginx/error.log" -p "$tmp/nginx" -c "$tmp/nginx/run.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 50); do
  grep -q listening "$tmp/api.log" && curl -s -o /dev/null "http://127.0.0.1:${proxy_port}/proxy-healthz" && break
  sleep 0.1
done
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
proxy_fail() {
  cat "$tmp/nginx/error.log" >&2 || true
  fail "$@"
}
base="http://127.0.0.1:${proxy_port}"
[[ "$(code "$base/api/v1/graph")" == 401 ]] || proxy_fail "proxy: an anonymous API request was not refused"
[[ "$(code -u analyst:wrong "$base/api/v1/graph")" == 401 ]] || proxy_fail "proxy: a wrong password was not refused"
[[ "$(code "$base/metrics")" == 401 ]] || proxy_fail "proxy: anonymous /metrics was not refused"
[[ "$(code -u analyst:correct-horse "$base/api/v1/graph")" == 200 ]] || proxy_fail "proxy: a valid user did not reach the API"
headers="$(curl -s -D - -o /dev/null -u analyst:correct-horse "$base/api/v1/graph")"
grep -qi '^x-saw-authorization: no' <<<"$headers" || proxy_fail "proxy: credentials were forwarded to the API"
grep -qi '^x-saw-user: analyst' <<<"$headers" || proxy_fail "proxy: X-Forwarded-User was not set"
for path in /healthz /readyz /proxy-healthz; do
  [[ "$(code "$base$path")" == 200 ]] || proxy_fail "proxy: ${path} needs no credentials and should answer 200"
done
ok k8s/proxy.conf "nginx $("$nginx" -v 2>&1 | sed 's#.*/##') -t; live: 401 without or with wrong credentials, 200 with, credentials not forwarded, probes open"

# ---- Kubernetes ------------------------------------------------------------------------------------------------

kubectl kustomize "$here/k8s" >"$tmp/rendered.yaml" || fail "k8s: kubectl kustomize"
node "$tools/k8s-schema.mjs" "k8s (rendered)=$tmp/rendered.yaml" "k8s/secret.example.yaml=$here/k8s/secret.example.yaml" \
  || fail "k8s: schema"
documents="$(grep -c '^kind:' "$tmp/rendered.yaml")"
ok k8s/kustomization.yaml "kubectl kustomize $(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p'): renders ${documents} documents"
for resource in $(node -e '
  const { parse } = require(process.argv[1]);
  console.log(parse(require("fs").readFileSync(process.argv[2], "utf8")).resources.join("\n"));' \
  "$tools/node_modules/yaml/dist/index.js" "$here/k8s/kustomization.yaml"); do
  ok "k8s/$resource" "rendered; Kubernetes OpenAPI schema (kubernetes-models), strict fields (kubernetes-types + tsc), references"
done
ok k8s/config.env "rendered into ConfigMap visibility-config; schema"
ok k8s/secret.example.yaml "Kubernetes OpenAPI schema, strict fields; defines the Secrets the pods read"
grep -q "image: registry.example.com/visibility:" "$tmp/rendered.yaml" || fail "k8s: the image name was not set by kustomize"
if grep -qE '^kind: Secret' "$tmp/rendered.yaml"; then fail "k8s: kustomization.yaml must not ship a Secret"; fi

# ---- every file here is covered ----------------------------------------------------------------------------------

cd "$here"
while read -r file; do
  [[ -n "${validated[$file]:-}" ]] || fail "${file} is in infra/deploy but nothing validated it: add a check here"
done < <(git -C "$here" ls-files --cached --others --exclude-standard -- '*.yaml' '*.yml' '*.xml' '*.conf' '*.env' '*.example' 'Dockerfile' '*.sh' \
  | grep -v '^tools/' | grep -vx 'validate.sh')
echo "validate: ${#validated[@]} files OK"
