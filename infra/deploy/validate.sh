#!/usr/bin/env bash
# Validates everything in infra/deploy without a Docker engine, a Kubernetes cluster or the internet, and fails
# loudly on the first problem. Prints "validated: <file> (<how>)" for each check that passed and ends with
# "validate: N files OK". Installs what it needs first, idempotently: Debian packages (docker-compose v1,
# libxml2-utils, kubectl, npm, curl, haproxy for its configuration check) and the npm tools pinned in
# tools/package-lock.json, into a cache outside the repository.
#   infra/deploy/validate.sh                 # install if needed, validate
#   infra/deploy/validate.sh --install-only  # install if needed (infra/setup/install-deps.sh calls this)
#   infra/deploy/validate.sh --build         # also run the Dockerfile's build stage without Docker (about a minute):
#                                            # the .dockerignore'd context copied out, its RUN commands run there
#   infra/deploy/validate.sh --crd FILE...   # only the custom-resource check (tools/crd-schema.mjs) of these files
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
command -v haproxy >/dev/null || need+=(haproxy)
if ((${#need[@]} > 0)); then
  echo "validate: installing ${need[*]}" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need[@]}" >/dev/null \
    || fail "could not install ${need[*]} (kubectl comes from the Google Cloud apt repository on this kind of machine)"
fi

mkdir -p "$cache"
exec 9>"$cache/.install.lock"
flock 9

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
  --crd)
    shift
    (($# > 0)) || fail "--crd needs the files to check"
    files=()
    for file in "$@"; do files+=("${file}=${file}"); done
    exec node "$tools/crd-schema.mjs" "${files[@]}"
    ;;
  "" | --build) ;;
  *) fail "unknown option '${mode}' (--install-only, --build, --crd)" ;;
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
# Two shards of two replicas, each server's macros matching its place: CLICKHOUSE_SHARD is the shard's number and
# CLICKHOUSE_REPLICA its host name (a server with another shard's macro would join that shard's replication).
shards="$(xcount "$cluster" '/clickhouse/remote_servers/visibility/shard')"
[[ "$shards" -ge 2 ]] || fail "$cluster: cluster 'visibility' needs at least two shards, has ${shards}"
for ((shard = 1; shard <= shards; shard++)); do
  replicas="$(xvalues "$cluster" "/clickhouse/remote_servers/visibility/shard[${shard}]/replica/host")"
  [[ "$(wc -l <<<"$replicas")" -ge 2 ]] || fail "$cluster: shard ${shard} needs at least two replicas"
  [[ "$(xvalues "$cluster" "/clickhouse/remote_servers/visibility/shard[${shard}]/internal_replication")" == true ]] \
    || fail "$cluster: shard ${shard} must set internal_replication (the replicas copy each other's parts)"
  for host in $replicas; do
    block="$(service_block "$host")"
    [[ "$(grep -oE "CLICKHOUSE_SHARD: '?[0-9]+" <<<"$block" | grep -oE '[0-9]+$' | sed 's/^0*//')" == "$shard" ]] \
      || fail "compose.yaml: ${host} is in shard ${shard} of $cluster but its CLICKHOUSE_SHARD says otherwise"
    grep -qE "CLICKHOUSE_REPLICA: '?${host}'?$" <<<"$block" || fail "compose.yaml: ${host}'s CLICKHOUSE_REPLICA must be its host name"
  done
done
all_servers="$(xvalues "$cluster" '/clickhouse/remote_servers/visibility/shard/replica/host')"
[[ "$(sort <<<"$all_servers" | uniq -d)" == "" ]] || fail "$cluster: a server is in two places of the cluster"
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
ok "$cluster" "xmllint well-formed; cluster visibility of ${shards} shards x 2 replicas, macros from the environment matching each server's shard and host, hosts are compose services"

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

# The proxy every Visibility process reaches ClickHouse through: haproxy's own configuration check (the servers'
# names resolve only on the compose network, which init-addr none allows), and its servers are the cluster's.
lb=haproxy/haproxy.cfg
haproxy -c -f "$lb" >"$tmp/haproxy.log" 2>&1 || { cat "$tmp/haproxy.log" >&2; fail "$lb: haproxy -c"; }
if grep -E '\[(WARNING|ALERT)\]' "$tmp/haproxy.log" | grep -v 'could not resolve address' >&2; then fail "$lb: haproxy -c warns (above)"; fi
lb_servers="$(grep -oE '^\s+server \S+ \S+:8123' "$lb" | awk '{print $3}' | cut -d: -f1 | sort)"
[[ "$lb_servers" == "$(sort <<<"$all_servers")" ]] || fail "$lb: its servers (${lb_servers//$'\n'/ }) are not the cluster's (${all_servers//$'\n'/ })"
grep -q 'option httpchk GET /ping' "$lb" || fail "$lb: servers must be health-checked on /ping"
grep -q -- "- ${here}/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" <<<"$(service_block clickhouse-lb)" \
  || fail "compose.yaml: clickhouse-lb must mount $lb"
ok "$lb" "haproxy $(haproxy -v | head -1 | awk '{print $3}') -c; its servers are the cluster's, checked on /ping"

# Kafka, the topics, the schema migration and the order the services start in (tools/compose-check.mjs, with a
# self-test that breaks each rule in turn).
printf '%s\n' "$config" >"$tmp/compose.resolved.yaml"
node "$tools/compose-check.mjs" "$tmp/compose.resolved.yaml" "$here/.env.example" || fail "compose.yaml: Kafka, topics, migrate (above)"
node "$tools/compose-check.mjs" "$tmp/compose.resolved.yaml" "$here/.env.example" --self-test || fail "tools/compose-check.mjs misses a regression"
ok compose.yaml "Kafka: three KRaft nodes in one quorum, replication factor 3, min.insync.replicas 2; kafka-init creates flows and flows-dlq with those and retention, partitions >= workers; migrate runs before ingest and api; every Visibility process on every broker and on clickhouse-lb"

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

# The compose healthchecks of the Visibility services: bash's /dev/tcp asks the management listener's /readyz (the
# runtime image has no curl). Each one, taken from the resolved configuration and pointed at a local HTTP server,
# passes on 200 and fails on 503 and on a closed port.
port="$(free_port)"
node -e '
  require("http").createServer((req, res) => {
    res.statusCode = req.url === "/readyz" && process.env.STUB_STATUS !== "503" ? 200 : 503;
    res.end();
  }).listen(Number(process.argv[1]), "127.0.0.1", () => console.log("listening"));' "$port" >"$tmp/stub.log" &
pids+=($!)
node -e '
  require("http").createServer((req, res) => { res.statusCode = 503; res.end(); })
    .listen(Number(process.argv[1]), "127.0.0.1", () => console.log("listening"));' "$((port + 1))" >"$tmp/stub503.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$tmp/stub.log" && grep -q listening "$tmp/stub503.log" && break; sleep 0.1; done
for service in ingest api; do
  probe="$(node -e '
    const { parse } = require(process.argv[1]);
    const test = parse(require("fs").readFileSync(process.argv[2], "utf8")).services[process.argv[3]]?.healthcheck?.test ?? [];
    if (test[0] !== "CMD" || test[1] !== "bash" || test[2] !== "-c") process.exit(1);
    console.log(test[3]);' "$tools/node_modules/yaml/dist/index.js" <(printf '%s\n' "$config") "$service")" \
    || fail "compose.yaml: the ${service} healthcheck must be [CMD, bash, -c, <probe>] (no curl in the image)"
  probe="${probe//\$\$/\$}" # compose's own escape, as Docker receives it
  [[ "$probe" == *"/dev/tcp/127.0.0.1/5081"*"GET /readyz "* ]] || fail "compose.yaml: the ${service} healthcheck must ask the management listener's /readyz"
  bash -c "${probe//5081/$port}" || fail "compose.yaml: the ${service} healthcheck failed against a 200"
  if bash -c "${probe//5081/$((port + 1))}" 2>/dev/null; then fail "compose.yaml: the ${service} healthcheck passed a 503"; fi
  if bash -c "${probe//5081/$(free_port)}" 2>/dev/null; then fail "compose.yaml: the ${service} healthcheck passed a closed port"; fi
done
ok compose.yaml "ingest and api healthchecks: the management listener's /readyz without a key through bash's /dev/tcp; 200 passes, 503 and a closed port fail"

# ---- the API: authenticates requests itself, listens where its port is published -------------------------------

# serve refuses Visibility__Auth__Disabled=true unless every listen address is loopback, and here none is.
api="$(service_block api)"
grep -qx '      Visibility__Http__Urls: http://0.0.0.0:5080' <<<"$api" || fail "compose.yaml: the api service must listen on http://0.0.0.0:5080"
grep -qE '^    - ([0-9.]+:)?[0-9]+:5080/tcp$' <<<"$api" || fail "compose.yaml: the api service must publish its port 5080"
if grep -qiE 'Visibility__Auth__Disabled: .?true' <<<"$config"; then fail "compose.yaml: Auth:Disabled is refused off loopback"; fi
if grep -rqi htpasswd compose.yaml .env.example k8s; then fail "htpasswd is still referenced: the API authenticates itself"; fi
if grep -rqE 'VISIBILITY_API_KEY|visibility-healthcheck|visibility-probe-key' compose.yaml .env.example k8s Dockerfile; then
  fail "the probe key and the bash probe script are gone: probes use the management listener without a key"
fi
grep -qx '      Visibility__Management__Urls: http://0.0.0.0:5081' <<<"$(service_block ingest)" \
  || fail "compose.yaml: the ingest workers' management listener must be on http://0.0.0.0:5081 (for a Prometheus on the compose network)"
ok compose.yaml "api: listens on 0.0.0.0:5080 and publishes it, authentication on; no probe key anywhere"

# ---- Kubernetes ------------------------------------------------------------------------------------------------

kubectl kustomize "$here/k8s" >"$tmp/rendered.yaml" || fail "k8s: kubectl kustomize"
node "$tools/k8s-schema.mjs" "k8s (rendered)=$tmp/rendered.yaml" "k8s/secret.example.yaml=$here/k8s/secret.example.yaml" \
  || fail "k8s: schema"
kustomize_version="$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p')"
documents="$(grep -c '^kind:' "$tmp/rendered.yaml")"
ok k8s/kustomization.yaml "kubectl kustomize ${kustomize_version}: renders ${documents} documents"
resources() {
  node -e '
    const { parse } = require(process.argv[1]);
    console.log(parse(require("fs").readFileSync(process.argv[2], "utf8")).resources.join("\n"));' \
    "$tools/node_modules/yaml/dist/index.js" "$1"
}
for resource in $(resources "$here/k8s/kustomization.yaml"); do
  ok "k8s/$resource" "rendered; Kubernetes OpenAPI schema (kubernetes-models), strict fields (kubernetes-types + tsc), references"
done

# The operators' resources (Strimzi in k8s/kafka, Altinity's ClickHouse operator in k8s/clickhouse): rendered, then
# checked against the JSON Schemas in tools/ (written from the operators' CRDs) and against each other and the
# Visibility configuration (tools/crd-schema.mjs), whose self-test breaks each rule in turn.
for operator in kafka clickhouse; do
  kubectl kustomize "$here/k8s/$operator" >"$tmp/rendered-$operator.yaml" || fail "k8s/$operator: kubectl kustomize"
done
crd=(node "$tools/crd-schema.mjs" "k8s (rendered)=$tmp/rendered.yaml" "k8s/kafka (rendered)=$tmp/rendered-kafka.yaml" "k8s/clickhouse (rendered)=$tmp/rendered-clickhouse.yaml")
"${crd[@]}" || fail "k8s: custom resources"
"${crd[@]}" --self-test || fail "tools/crd-schema.mjs misses a regression"
for operator in kafka clickhouse; do
  ok "k8s/$operator/kustomization.yaml" "kubectl kustomize ${kustomize_version}: renders $(grep -c '^kind:' "$tmp/rendered-$operator.yaml") custom resources"
  for resource in $(resources "$here/k8s/$operator/kustomization.yaml"); do
    ok "k8s/$operator/$resource" "rendered; JSON Schema of its kinds (tools/crd-*.schema.json, ajv), references to the other resources and to config.env"
  done
done
ok k8s/config.env "rendered into ConfigMap visibility-config; schema"
ok k8s/secret.example.yaml "Kubernetes OpenAPI schema, strict fields; defines the Secrets the pods read"
grep -q "image: registry.example.com/visibility:" "$tmp/rendered.yaml" || fail "k8s: the image name was not set by kustomize"
if grep -A1 'name: Visibility__Auth__Disabled' "$tmp/rendered.yaml" | grep -qi true \
  || grep -qiE '^Visibility__Auth__Disabled=.?true' k8s/config.env; then
  fail "k8s: Auth:Disabled is refused off loopback"
fi
grep -A1 'name: Visibility__Http__Urls' "$tmp/rendered.yaml" | grep -q 'value: http://0.0.0.0:5080' \
  || fail "k8s: the API must listen on http://0.0.0.0:5080, where its Service and probes reach it"
if grep -qE '^kind: Secret' "$tmp/rendered.yaml"; then fail "k8s: kustomization.yaml must not ship a Secret"; fi

# Probes: kubelet's httpGet on the management listener (no key, no exec), which every Visibility pod opens on the
# pod's address and Prometheus scrapes through the annotations; a NetworkPolicy for each component.
node -e '
  const { parseAllDocuments } = require(process.argv[1]);
  const documents = parseAllDocuments(require("fs").readFileSync(process.argv[2], "utf8")).map(d => d.toJS());
  const problems = [];
  const workloads = documents.filter(d => d?.kind === "Deployment" || d?.kind === "StatefulSet");
  for (const workload of workloads) {
    const pod = workload.spec.template;
    const where = `${workload.kind}/${workload.metadata.name}`;
    const annotations = pod.metadata.annotations ?? {};
    if (annotations["prometheus.io/scrape"] !== "true" || annotations["prometheus.io/port"] !== "5081" || annotations["prometheus.io/path"] !== "/metrics") {
      problems.push(`${where}: the pod template needs prometheus.io/scrape "true", port "5081", path /metrics`);
    }
    for (const container of pod.spec.containers) {
      const management = (container.env ?? []).find(e => e.name === "Visibility__Management__Urls")?.value;
      if (management !== "http://0.0.0.0:5081") problems.push(`${where}/${container.name}: Visibility__Management__Urls must be http://0.0.0.0:5081`);
      const port = (container.ports ?? []).find(p => p.name === "management");
      if (port?.containerPort !== 5081) problems.push(`${where}/${container.name}: needs port "management" 5081`);
      for (const [kind, path] of [["startupProbe", "/healthz"], ["livenessProbe", "/healthz"], ["readinessProbe", "/readyz"]]) {
        const probe = container[kind];
        if (probe?.httpGet?.path !== path || probe.httpGet.port !== "management" || probe.exec) {
          problems.push(`${where}/${container.name}: ${kind} must be httpGet ${path} on port management`);
        }
      }
    }
    const components = documents.filter(d => d?.kind === "NetworkPolicy"
      && d.spec.podSelector?.matchLabels?.["app.kubernetes.io/component"] === pod.metadata.labels["app.kubernetes.io/component"]);
    const scrape = components.some(p => (p.spec.ingress ?? []).some(rule => (rule.ports ?? []).some(q => q.port === "management") && (rule.from ?? []).length > 0));
    if (!scrape) problems.push(`${where}: no NetworkPolicy lets a chosen source (Prometheus) reach its management port`);
  }
  if (!documents.some(d => d?.kind === "NetworkPolicy" && Object.keys(d.spec.podSelector ?? {}).length === 0 && (d.spec.ingress ?? []).length === 0)) {
    problems.push("no default-deny ingress NetworkPolicy for the namespace");
  }
  if (workloads.length === 0) problems.push("no Deployment rendered");

  // Ingest: a StatefulSet whose pod name is the Kafka group.instance.id (static membership). Ingest and API: pod
  // anti-affinity on the node and a PodDisruptionBudget each. The migration: a Job running `migrate` that is not
  // restarted in place forever.
  const component = name => workloads.find(w => w.spec.template.metadata.labels["app.kubernetes.io/component"] === name);
  const ingest = component("ingest");
  if (ingest?.kind !== "StatefulSet") problems.push("the ingest workers must be a StatefulSet (stable pod names for static group membership)");
  const instance = (ingest?.spec.template.spec.containers[0].env ?? []).find(e => e.name === "Visibility__Kafka__GroupInstanceId");
  if (instance?.valueFrom?.fieldRef?.fieldPath !== "metadata.name") problems.push("ingest: Visibility__Kafka__GroupInstanceId must come from the pod name (fieldRef metadata.name)");
  if (ingest && !documents.some(d => d?.kind === "Service" && d.metadata.name === ingest.spec.serviceName && d.spec.clusterIP === "None")) {
    problems.push(`ingest: the serviceName of the StatefulSet, ${ingest.spec.serviceName}, must be a headless Service`);
  }
  for (const name of ["ingest", "api"]) {
    const workload = component(name);
    const anti = workload?.spec.template.spec.affinity?.podAntiAffinity ?? {};
    const terms = [...(anti.requiredDuringSchedulingIgnoredDuringExecution ?? []), ...(anti.preferredDuringSchedulingIgnoredDuringExecution ?? []).map(t => t.podAffinityTerm)];
    if (!terms.some(t => t.topologyKey === "kubernetes.io/hostname" && t.labelSelector?.matchLabels?.["app.kubernetes.io/component"] === name)) {
      problems.push(`${name}: needs podAntiAffinity against its own pods on kubernetes.io/hostname`);
    }
    if (!documents.some(d => d?.kind === "PodDisruptionBudget" && d.spec.selector?.matchLabels?.["app.kubernetes.io/component"] === name)) {
      problems.push(`${name}: needs a PodDisruptionBudget`);
    }
  }
  const migrate = documents.find(d => d?.kind === "Job" && d.spec.template.metadata.labels["app.kubernetes.io/component"] === "migrate");
  if (JSON.stringify(migrate?.spec.template.spec.containers[0].args) !== "[\"migrate\"]") problems.push("a Job must run `migrate` (args [migrate])");
  if (migrate && migrate.spec.template.spec.restartPolicy !== "Never") problems.push("the migrate Job: restartPolicy Never (each try a pod of its own, bounded by backoffLimit)");
  for (const problem of problems) console.error(`k8s: ${problem}`);
  process.exit(problems.length > 0 ? 1 : 0);' "$tools/node_modules/yaml/dist/index.js" "$tmp/rendered.yaml" \
  || fail "k8s: probes, scrape annotations, network policies, static membership, anti-affinity, disruption budgets, the migrate Job"
ok k8s/networkpolicy.yaml "default-deny ingress; each component's management port open to a chosen source only"
ok k8s/ingest.yaml "a StatefulSet with a headless Service; group.instance.id from the pod name; podAntiAffinity; a PodDisruptionBudget"
ok k8s/migrate.yaml "a Job running migrate, restartPolicy Never"

# ---- non-root on a read-only root filesystem, everywhere ----------------------------------------------------------

# The image's numeric USER, the user, read_only, cap_drop, no-new-privileges and tmpfs of the compose services built
# from it, the security contexts of every Kubernetes container, and which volumes may be writable
# (tools/hardening-check.mjs). The self-test breaks each of these in memory and fails unless every break is reported.
printf '%s\n' "$config" >"$tmp/compose.resolved.yaml"
hardening=(node "$tools/hardening-check.mjs" "$here/Dockerfile" "$tmp/compose.resolved.yaml" "$tmp/rendered.yaml")
"${hardening[@]}" || fail "non-root and read-only: see above"
"${hardening[@]}" --self-test || fail "tools/hardening-check.mjs misses a regression"
ok Dockerfile "final stage USER numeric uid:gid, not root; data and export folders created for it"
ok compose.yaml "services built here: that uid:gid, read_only, cap_drop ALL, no-new-privileges, tmpfs /tmp, writable volumes only on the data and export folders"
for manifest in $(grep -lE '^kind: (Deployment|StatefulSet|DaemonSet|Job|CronJob)$' k8s/*.yaml); do
  ok "$manifest" "every container: runAsNonRoot as the image's uid:gid, RuntimeDefault seccomp, no privilege escalation, read-only root filesystem, capabilities dropped, writable volumes only on /tmp and the data and export folders"
done

# ---- every file here is covered ----------------------------------------------------------------------------------

cd "$here"
while read -r file; do
  [[ -n "${validated[$file]:-}" ]] || fail "${file} is in infra/deploy but nothing validated it: add a check here"
done < <(git -C "$here" ls-files --cached --others --exclude-standard -- '*.yaml' '*.yml' '*.xml' '*.conf' '*.cfg' '*.env' '*.example' 'Dockerfile' '*.sh' \
  | grep -v '^tools/' | grep -vx 'validate.sh')
echo "validate: ${#validated[@]} files OK"
