// Validates the operators' custom resources offline (no cluster, no internet, so not against the installed CRDs):
//  1. each Strimzi or Altinity resource against the JSON Schema written for it here (crd-strimzi.schema.json,
//     crd-altinity.schema.json: types, required fields, allowed values, no unknown fields where described), by ajv;
//     a custom resource of any other kind, or of an apiVersion these schemas do not describe, fails;
//  2. what the schemas cannot see across documents: node pools, topics and users name a Kafka that exists; the Kafka
//     has controllers and brokers (KRaft) and its metadataVersion is not above its version; topics have no more
//     replicas than there are brokers and min.insync.replicas below their replicas; the flows topic has a partition for
//     every ingest worker; Keeper has an odd number of nodes and the ClickHouse cluster points at its Service; and
//     Visibility's configuration (the rendered ConfigMap) names that Kafka's bootstrap Service, those topics and that
//     ClickHouse cluster.
// Usage: node crd-schema.mjs <label>=<file.yaml> ... [--self-test]
// Built-in kinds in the files are not schema-checked here (k8s-schema.mjs does that) but take part in 2. Prints one
// line per resource; exit 1 on any problem. --self-test instead breaks the resources in the ways a mistake would (each
// in memory, one at a time) and fails unless every break is reported.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import Ajv from 'ajv';

const here = dirname(fileURLToPath(import.meta.url));
const arguments_ = process.argv.slice(2);
const selfTest = arguments_.includes('--self-test');
const inputs = arguments_.filter(a => a !== '--self-test');
if (inputs.length === 0 || inputs.some(a => !a.includes('='))) {
  console.error('usage: node crd-schema.mjs <label>=<file.yaml> ... [--self-test]');
  process.exit(2);
}

// ---- the schemas ---------------------------------------------------------------------------------------------------

// Strict: an unknown keyword in the schemas (a typo there) is an error; `required` and other keywords may stand without their `type`
// beside them, where a sibling or a reference says it.
const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, strictTypes: false });
ajv.addKeyword('kinds');
const validators = new Map();
for (const file of ['crd-strimzi.schema.json', 'crd-altinity.schema.json']) {
  const schema = JSON.parse(readFileSync(join(here, file), 'utf8'));
  ajv.addSchema(schema);
  for (const key of Object.keys(schema.kinds)) {
    const pointer = key.replaceAll('~', '~0').replaceAll('/', '~1');
    validators.set(key, ajv.compile({ $ref: `${schema.$id}#/kinds/${encodeURIComponent(pointer)}` }));
  }
}

const groupOf = apiVersion => (apiVersion.includes('/') ? apiVersion.split('/')[0] : '');
// Custom resources: a group with a dot that is not one of Kubernetes' own (*.k8s.io).
const isCustom = document => {
  const group = groupOf(document.apiVersion ?? '');
  return group.includes('.') && !group.endsWith('.k8s.io');
};

function schemaProblems(documents) {
  const problems = [];
  for (const { label, value } of documents.filter(d => isCustom(d.value))) {
    const where = `${label}: ${value.kind}/${value.metadata?.name ?? '?'}`;
    const validate = validators.get(`${value.apiVersion} ${value.kind}`);
    if (!validate) {
      problems.push(`${where}: no schema for ${value.apiVersion} ${value.kind} (known: ${[...validators.keys()].join(', ')})`);
      continue;
    }

    if (!validate(value)) {
      for (const error of validate.errors) {
        const detail = error.keyword === 'additionalProperties' ? ` '${error.params.additionalProperty}'`
          : error.keyword === 'enum' ? ` (${error.params.allowedValues.map(v => JSON.stringify(v)).join(', ')})`
          : error.keyword === 'propertyNames' ? ` '${error.params.propertyName}'`
          : '';
        // if/then and anyOf repeat what their branches said.
        if (error.keyword !== 'if' && error.keyword !== 'anyOf') problems.push(`${where}: ${error.instancePath || '/'} ${error.message}${detail}`);
      }
    }
  }

  return problems;
}

// ---- across documents ----------------------------------------------------------------------------------------------

function crossProblems(documents) {
  const problems = [];
  const all = documents.map(d => d.value);
  const of = kind => all.filter(d => d.kind === kind);
  const namespace = d => d.metadata?.namespace ?? '';
  const cluster = d => d.metadata?.labels?.['strimzi.io/cluster'];
  const config = Object.assign({}, ...of('ConfigMap').filter(c => c.metadata?.name?.startsWith('visibility-config')).map(c => c.data ?? {}));

  for (const kafka of of('Kafka')) {
    const pools = of('KafkaNodePool').filter(p => cluster(p) === kafka.metadata.name && namespace(p) === namespace(kafka));
    const where = `Kafka/${kafka.metadata.name}`;
    for (const role of ['controller', 'broker']) {
      const nodes = pools.filter(p => (p.spec?.roles ?? []).includes(role)).reduce((sum, p) => sum + (p.spec?.replicas ?? 0), 0);
      if (nodes === 0) problems.push(`${where}: no KafkaNodePool with role ${role} (KRaft needs both)`);
      if (role === 'controller' && nodes > 0 && nodes % 2 === 0) problems.push(`${where}: ${nodes} controllers: a KRaft quorum needs an odd number`);
    }

    const version = /^(\d+)\.(\d+)/.exec(kafka.spec?.kafka?.version ?? '');
    const metadata = /^(\d+)\.(\d+)-IV/.exec(kafka.spec?.kafka?.metadataVersion ?? '');
    if (version && metadata && (Number(metadata[1]) * 1000 + Number(metadata[2]) > Number(version[1]) * 1000 + Number(version[2]))) {
      problems.push(`${where}: metadataVersion ${kafka.spec.kafka.metadataVersion} is above Kafka ${kafka.spec.kafka.version}`);
    }

    const brokers = pools.filter(p => (p.spec?.roles ?? []).includes('broker')).reduce((sum, p) => sum + (p.spec?.replicas ?? 0), 0);
    const defaultIsr = Number(kafka.spec?.kafka?.config?.['min.insync.replicas'] ?? 1);
    for (const topic of of('KafkaTopic').filter(t => cluster(t) === kafka.metadata.name && namespace(t) === namespace(kafka))) {
      const replicas = topic.spec?.replicas;
      const isr = Number(topic.spec?.config?.['min.insync.replicas'] ?? defaultIsr);
      if (Number.isInteger(replicas) && replicas > brokers) problems.push(`KafkaTopic/${topic.metadata.name}: ${replicas} replicas but ${brokers} brokers`);
      if (Number.isInteger(replicas) && isr >= replicas) problems.push(`KafkaTopic/${topic.metadata.name}: min.insync.replicas ${isr} leaves no replica to lose of ${replicas}: writes stop when one broker does`);
    }

    const bootstrap = config.Visibility__Kafka__BootstrapServers;
    if (bootstrap !== undefined) {
      const service = `${kafka.metadata.name}-kafka-bootstrap.${namespace(kafka)}.svc`;
      const ports = (kafka.spec?.kafka?.listeners ?? []).map(l => l.port);
      const named = bootstrap.split(',').map(s => s.trim());
      if (!named.some(s => ports.some(p => s === `${service}:${p}` || s === `${service}.cluster.local:${p}`))) {
        problems.push(`Visibility__Kafka__BootstrapServers (${bootstrap}) names no listener of Kafka/${kafka.metadata.name} (${service}:<${ports.join('|')}>)`);
      }
    }
  }

  const kafkas = new Set(of('Kafka').map(k => `${namespace(k)}/${k.metadata.name}`));
  for (const kind of ['KafkaNodePool', 'KafkaTopic', 'KafkaUser']) {
    for (const resource of of(kind).filter(r => cluster(r) !== undefined && !kafkas.has(`${namespace(r)}/${cluster(r)}`))) {
      problems.push(`${kind}/${resource.metadata.name}: strimzi.io/cluster '${cluster(resource)}' is no Kafka in namespace ${namespace(resource)}`);
    }
  }

  const topics = new Map(of('KafkaTopic').map(t => [t.spec?.topicName ?? t.metadata.name, t]));
  if (topics.size > 0) {
    for (const key of ['Visibility__Kafka__Topic', 'Visibility__Kafka__DeadLetterTopic']) {
      if (config[key] !== undefined && !topics.has(config[key])) problems.push(`${key} is '${config[key]}', for which there is no KafkaTopic`);
    }

    const flows = topics.get(config.Visibility__Kafka__Topic ?? 'flows');
    const consumers = Number(config.Visibility__Ingest__Consumers ?? 1);
    for (const workers of all.filter(d => ['StatefulSet', 'Deployment'].includes(d.kind) && d.spec?.template?.metadata?.labels?.['app.kubernetes.io/component'] === 'ingest')) {
      const wanted = (workers.spec?.replicas ?? 1) * consumers;
      if (flows && Number.isInteger(flows.spec?.partitions) && flows.spec.partitions < wanted) {
        problems.push(`KafkaTopic/${flows.metadata.name}: ${flows.spec.partitions} partitions for ${wanted} ingest consumers (${workers.kind}/${workers.metadata.name}): some would get none`);
      }
    }
  }

  const keepers = of('ClickHouseKeeperInstallation');
  for (const keeper of keepers) {
    for (const c of keeper.spec?.configuration?.clusters ?? []) {
      const replicas = c.layout?.replicasCount ?? 1;
      if (Number.isInteger(replicas) && replicas % 2 === 0) problems.push(`ClickHouseKeeperInstallation/${keeper.metadata.name}: ${replicas} Keeper nodes: a Raft quorum needs an odd number`);
    }
  }

  for (const chi of of('ClickHouseInstallation')) {
    const where = `ClickHouseInstallation/${chi.metadata.name}`;
    const services = new Set(keepers.filter(k => namespace(k) === namespace(chi)).flatMap(k => {
      const service = `keeper-${k.metadata.name}`;
      return [service, `${service}.${namespace(k)}`, `${service}.${namespace(k)}.svc`, `${service}.${namespace(k)}.svc.cluster.local`];
    }));
    const nodes = chi.spec?.configuration?.zookeeper?.nodes ?? [];
    const clusters = chi.spec?.configuration?.clusters ?? [];
    const replicated = clusters.some(c => (c.layout?.replicasCount ?? 1) > 1);
    if (replicated && nodes.length === 0) problems.push(`${where}: replicas without a Keeper (spec.configuration.zookeeper.nodes)`);
    for (const node of nodes.filter(n => !services.has(n.host))) {
      problems.push(`${where}: zookeeper node ${node.host} is no ClickHouseKeeperInstallation's Service here (${[...services].filter(s => !s.includes('.')).join(', ') || 'none'})`);
    }

    const storeCluster = config.Visibility__Store__Cluster;
    if (storeCluster !== undefined && !clusters.some(c => c.name === storeCluster)) {
      problems.push(`Visibility__Store__Cluster is '${storeCluster}', which is no cluster of ${where} (${clusters.map(c => c.name).join(', ')})`);
    }
  }

  return problems;
}

// ---- run -------------------------------------------------------------------------------------------------------------

const documents = [];
for (const input of inputs) {
  const separator = input.indexOf('=');
  const label = input.slice(0, separator);
  for (const document of parseAllDocuments(readFileSync(input.slice(separator + 1), 'utf8'))) {
    if (document.errors.length > 0) {
      console.error(`crd-schema: ${label}: YAML: ${document.errors[0].message}`);
      process.exit(1);
    }

    const value = document.toJS();
    if (value) documents.push({ label, value });
  }
}

const custom = documents.filter(d => isCustom(d.value));
if (custom.length === 0) {
  console.error('crd-schema: no custom resources given');
  process.exit(1);
}

const check = docs => [...schemaProblems(docs), ...crossProblems(docs)];

if (!selfTest) {
  const problems = check(documents);
  for (const problem of problems) console.error(`crd-schema: ${problem}`);
  if (problems.length > 0) process.exit(1);
  for (const { label, value } of custom) console.log(`crd-schema: ok ${label}: ${value.apiVersion} ${value.kind}/${value.metadata.name}`);
  console.log(`crd-schema: ${custom.length} custom resources valid (JSON Schema and cross-references)`);
  process.exit(0);
}

// Each break is applied to a copy of the documents; the check must report it with the expected words.
const find = (docs, kind, name) => {
  const found = docs.find(d => d.value.kind === kind && (name === undefined || d.value.metadata?.name === name));
  if (!found) throw new Error(`self-test: no ${kind}/${name ?? '*'} in the input`);
  return found.value;
};
const configMap = docs => find(docs, 'ConfigMap').data;
const regressions = [
  ['node pool replicas as a string', d => { find(d, 'KafkaNodePool', 'brokers').spec.replicas = '3'; }, '/spec/replicas must be integer'],
  ['unknown listener type', d => { find(d, 'Kafka').spec.kafka.listeners[0].type = 'internel'; }, '/spec/kafka/listeners/0/type must be equal to one of the allowed values'],
  ['listener name too long', d => { find(d, 'Kafka').spec.kafka.listeners[0].name = 'plaintext-listener'; }, '/spec/kafka/listeners/0/name must match pattern'],
  ['listener without tls', d => { delete find(d, 'Kafka').spec.kafka.listeners[0].tls; }, "must have required property 'tls'"],
  ['unsupported Kafka version', d => { find(d, 'Kafka').spec.kafka.version = '3.9.0'; }, '/spec/kafka/version must be equal to one of the allowed values'],
  ['metadataVersion above the version', d => { find(d, 'Kafka').spec.kafka.metadataVersion = '4.3-IV0'; }, 'is above Kafka'],
  ['misspelt field', d => { const k = find(d, 'Kafka').spec.kafka; k.listners = k.listeners; }, "must NOT have additional properties 'listners'"],
  ['broker config Strimzi manages', d => { find(d, 'Kafka').spec.kafka.config['advertised.listeners'] = 'PLAINTEXT://x:9092'; }, "property name must be valid 'advertised.listeners'"],
  ['no controllers', d => { find(d, 'KafkaNodePool', 'controllers').spec.roles = ['broker']; }, 'no KafkaNodePool with role controller'],
  ['even controller quorum', d => { find(d, 'KafkaNodePool', 'controllers').spec.replicas = 2; }, 'a KRaft quorum needs an odd number'],
  ['unknown node role', d => { find(d, 'KafkaNodePool', 'brokers').spec.roles = ['broker', 'zookeeper']; }, '/spec/roles/1 must be equal to one of the allowed values'],
  ['persistent claim without size', d => { delete find(d, 'KafkaNodePool', 'controllers').spec.storage.size; }, "must have required property 'size'"],
  ['pool of no cluster', d => { find(d, 'KafkaNodePool', 'brokers').metadata.labels['strimzi.io/cluster'] = 'other'; }, "strimzi.io/cluster 'other' is no Kafka"],
  ['topic without cluster label', d => { delete find(d, 'KafkaTopic', 'flows').metadata.labels['strimzi.io/cluster']; }, "must have required property 'strimzi.io/cluster'"],
  ['topic with no partitions', d => { find(d, 'KafkaTopic', 'flows').spec.partitions = 0; }, '/spec/partitions must be >= 1'],
  ['topic replicas as a string', d => { find(d, 'KafkaTopic', 'flows-dlq').spec.replicas = 'three'; }, '/spec/replicas must be integer'],
  ['more replicas than brokers', d => { find(d, 'KafkaTopic', 'flows').spec.replicas = 4; }, '4 replicas but 3 brokers'],
  ['min.insync.replicas = replicas', d => { find(d, 'KafkaTopic', 'flows').spec.config['min.insync.replicas'] = 3; }, 'leaves no replica to lose'],
  ['retention as text', d => { find(d, 'KafkaTopic', 'flows').spec.config['retention.ms'] = '3 days'; }, "/spec/config/retention.ms must be integer"],
  ['fewer partitions than workers', d => { find(d, 'KafkaTopic', 'flows').spec.partitions = 2; }, 'partitions for 3 ingest consumers'],
  ['configured topic missing', d => { configMap(d).Visibility__Kafka__DeadLetterTopic = 'dead-letters'; }, "no KafkaTopic"],
  ['bootstrap names another cluster', d => { configMap(d).Visibility__Kafka__BootstrapServers = 'kafka.kafka.svc:9092'; }, 'names no listener of Kafka/visibility'],
  ['unknown user authentication', d => { find(d, 'KafkaUser').spec.authentication.type = 'scram-sha-256'; }, '/spec/authentication/type must be equal to one of the allowed values'],
  ['shardsCount as a string', d => { find(d, 'ClickHouseInstallation').spec.configuration.clusters[0].layout.shardsCount = '2'; }, '/layout/shardsCount must be integer'],
  ['no replicas', d => { find(d, 'ClickHouseInstallation').spec.configuration.clusters[0].layout.replicasCount = 0; }, '/layout/replicasCount must be >= 1'],
  ['cluster name too long', d => { find(d, 'ClickHouseInstallation').spec.configuration.clusters[0].name = 'visibility-production'; }, '/name must match pattern'],
  ['plaintext password', d => { find(d, 'ClickHouseInstallation').spec.configuration.users['visibility/password'] = 'secret'; }, '/users/visibility~1password must be object'],
  ['unknown pod distribution', d => { find(d, 'ClickHouseInstallation').spec.templates.podTemplates[0].podDistribution[0].type = 'ShardAntiAffinty'; }, '/podDistribution/0/type must be equal to one of the allowed values'],
  ['unknown reclaim policy', d => { find(d, 'ClickHouseInstallation').spec.templates.volumeClaimTemplates[0].reclaimPolicy = 'Keep'; }, '/reclaimPolicy must be equal to one of the allowed values'],
  ['switch as a boolean', d => { find(d, 'ClickHouseInstallation').spec.configuration.clusters[0].secret.auto = true; }, '/secret/auto must be equal to one of the allowed values'],
  ['Keeper not the installation\'s', d => { find(d, 'ClickHouseInstallation').spec.configuration.zookeeper.nodes[0].host = 'zookeeper'; }, 'zookeeper node zookeeper is no ClickHouseKeeperInstallation'],
  ['even Keeper quorum', d => { find(d, 'ClickHouseKeeperInstallation').spec.configuration.clusters[0].layout.replicasCount = 2; }, '2 Keeper nodes'],
  ['Keeper replicas as a string', d => { find(d, 'ClickHouseKeeperInstallation').spec.configuration.clusters[0].layout.replicasCount = '3'; }, '/layout/replicasCount must be integer'],
  ['store cluster not there', d => { configMap(d).Visibility__Store__Cluster = 'analytics'; }, "Visibility__Store__Cluster is 'analytics'"],
  ['custom resource without a schema', d => { d.push({ label: 'planted', value: { apiVersion: 'kafka.strimzi.io/v1', kind: 'KafkaConnect', metadata: { name: 'c' }, spec: {} } }); }, 'no schema for kafka.strimzi.io/v1 KafkaConnect'],
  ['old apiVersion', d => { find(d, 'Kafka').apiVersion = 'kafka.strimzi.io/v1beta2'; }, 'no schema for kafka.strimzi.io/v1beta2 Kafka'],
];

const baseline = check(documents);
if (baseline.length > 0) {
  for (const problem of baseline) console.error(`crd-schema: self-test: the unbroken input already fails: ${problem}`);
  process.exit(1);
}

let missed = 0;
for (const [name, breakIt, expected] of regressions) {
  const copy = structuredClone(documents);
  breakIt(copy);
  const problems = check(copy);
  if (!problems.some(p => p.includes(expected))) {
    console.error(`crd-schema: self-test: '${name}' was not reported (expected '${expected}'; got: ${problems.join(' | ') || 'nothing'})`);
    missed++;
  }
}

if (missed > 0) process.exit(1);
console.log(`crd-schema: self-test ok: all ${regressions.length} broken resources reported`);
