// Checks what compose.yaml promises about Kafka, the topics and the order services start in, on the configuration
// `docker-compose config` resolved:
//  - at least three Kafka nodes, each a broker and a KRaft controller, all in one controller quorum with distinct node
//    ids, advertising their own name, with replication factor 3 and min.insync.replicas 2 for every topic (the internal
//    ones too), no automatic topic creation and no unclean leader election;
//  - kafka-init creates flows and flows-dlq with replication factor 3, min.insync.replicas 2 and a retention in time
//    and in bytes, and refuses fewer partitions than ingest workers (and .env.example has enough);
//  - migrate runs `migrate` once (restart "no") after every ClickHouse server is healthy; every other service built
//    here waits for it to complete, ingest also for kafka-init; every Visibility process names every broker and
//    reaches ClickHouse through clickhouse-lb.
// Usage: node compose-check.mjs <resolved compose.yaml> <.env.example> [--self-test]
// Exit 1 on any problem. --self-test instead breaks the configuration in the ways a regression would (each in memory,
// one at a time) and fails unless every break is reported.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

const [composePath, envPath, mode] = process.argv.slice(2);
if (!envPath || (mode !== undefined && mode !== '--self-test')) {
  console.error('usage: node compose-check.mjs <resolved compose.yaml> <.env.example> [--self-test]');
  process.exit(2);
}

const compose = parse(readFileSync(composePath, 'utf8'));
const envText = readFileSync(envPath, 'utf8');

function check(services, env) {
  const problems = [];
  const brokers = Object.entries(services).filter(([, s]) => s.environment?.KAFKA_PROCESS_ROLES !== undefined);
  if (brokers.length < 3) problems.push(`${brokers.length} Kafka node(s): replication factor 3 needs three`);
  const voters = new Set(brokers.map(([name, s]) => `${s.environment.KAFKA_NODE_ID}@${name}:9093`));
  const ids = brokers.map(([, s]) => String(s.environment.KAFKA_NODE_ID));
  if (new Set(ids).size !== ids.length) problems.push(`Kafka node ids repeat: ${ids.join(', ')}`);
  const wanted = {
    KAFKA_PROCESS_ROLES: 'broker,controller',
    KAFKA_DEFAULT_REPLICATION_FACTOR: '3',
    KAFKA_MIN_INSYNC_REPLICAS: '2',
    KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '3',
    KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '3',
    KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '2',
    KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
    KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE: 'false',
  };
  const clusterIds = new Set(brokers.map(([, s]) => s.environment.CLUSTER_ID));
  if (clusterIds.size > 1) problems.push(`Kafka nodes with different CLUSTER_IDs: ${[...clusterIds].join(', ')}`);
  for (const [name, service] of brokers) {
    const e = service.environment;
    for (const [key, value] of Object.entries(wanted)) {
      if (String(e[key]) !== value) problems.push(`${name}: ${key} must be ${value}, is ${e[key]}`);
    }

    if (!/^\d+$/.test(String(e.KAFKA_NUM_PARTITIONS))) problems.push(`${name}: KAFKA_NUM_PARTITIONS must be a number`);
    if (!String(e.KAFKA_ADVERTISED_LISTENERS ?? '').split(',').includes(`INTERNAL://${name}:9092`)) problems.push(`${name}: must advertise INTERNAL://${name}:9092`);
    const named = new Set(String(e.KAFKA_CONTROLLER_QUORUM_VOTERS ?? '').split(','));
    if (named.size !== voters.size || [...voters].some(v => !named.has(v))) {
      problems.push(`${name}: KAFKA_CONTROLLER_QUORUM_VOTERS must be the ${voters.size} nodes (${[...voters].join(',')})`);
    }
  }

  const published = brokers.flatMap(([, s]) => (s.ports ?? []).map(p => (typeof p === 'string' ? p.split(':').slice(0, -1).join(':') : `${p.host_ip ?? ''}:${p.published}`)));
  if (new Set(published).size !== published.length) problems.push(`Kafka nodes publish one host port twice: ${published.join(', ')}`);

  const script = [services['kafka-init']?.command ?? []].flat().join('\n');
  for (const topic of ['flows', 'flows-dlq']) {
    // A creation is the kafka-topics call naming the topic, with its continuation lines.
    const create = script.split(/\n(?=\s*\$+\w+ )/).find(c => c.includes('--create') && c.includes(`--topic ${topic} `));
    if (!create) {
      problems.push(`kafka-init creates no topic ${topic}`);
      continue;
    }

    for (const option of ['--replication-factor 3', '--config min.insync.replicas=2', '--config retention.ms=', '--config retention.bytes=']) {
      if (!create.includes(option)) problems.push(`kafka-init: topic ${topic} is created without ${option}`);
    }
  }

  if (!/PARTITIONS"? -lt "?\$\$WORKERS/.test(script)) problems.push('kafka-init must refuse fewer partitions than ingest workers');
  const vars = Object.fromEntries(env.split('\n').filter(l => /^[A-Z_]+=/.test(l)).map(l => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  if (!(Number(vars.KAFKA_PARTITIONS) >= Number(vars.VISIBILITY_INGEST_WORKERS))) {
    problems.push(`.env.example: KAFKA_PARTITIONS (${vars.KAFKA_PARTITIONS}) must be >= VISIBILITY_INGEST_WORKERS (${vars.VISIBILITY_INGEST_WORKERS})`);
  }

  const migrate = services.migrate;
  if (JSON.stringify(migrate?.command) !== '["migrate"]') problems.push('migrate: command must be ["migrate"]');
  if (migrate && migrate.restart !== 'no') problems.push(`migrate: restart must be "no" (a one-shot), is ${JSON.stringify(migrate.restart)}`);
  const servers = Object.entries(services).filter(([, s]) => s.environment?.CLICKHOUSE_SHARD !== undefined).map(([name]) => name);
  for (const server of servers) {
    if (migrate?.depends_on?.[server]?.condition !== 'service_healthy') problems.push(`migrate: must wait for ${server} to be healthy (ON CLUSTER DDL needs every server)`);
  }

  const bootstrap = brokers.map(([name]) => `${name}:9092`).join(',');
  for (const [name, service] of Object.entries(services).filter(([, s]) => s.build)) {
    const e = service.environment ?? {};
    if (e.Visibility__Kafka__BootstrapServers !== bootstrap) problems.push(`${name}: Visibility__Kafka__BootstrapServers must name every Kafka node (${bootstrap})`);
    if (!/^Host=clickhouse-lb;/.test(e.Visibility__Store__ConnectionString ?? '')) problems.push(`${name}: must reach ClickHouse through clickhouse-lb, not one server`);
    if (name !== 'migrate' && service.depends_on?.migrate?.condition !== 'service_completed_successfully') {
      problems.push(`${name}: must start after migrate completed (depends_on condition service_completed_successfully)`);
    }
  }

  if (services.ingest?.depends_on?.['kafka-init']?.condition !== 'service_completed_successfully') problems.push('ingest: must start after kafka-init completed');
  return problems;
}

if (mode !== '--self-test') {
  const problems = check(compose.services, envText);
  for (const problem of problems) console.error(`compose-check: compose.yaml: ${problem}`);
  if (problems.length > 0) process.exit(1);
  console.log('compose-check: ok compose.yaml: Kafka quorum and topics, migrate first, every process on every broker and on clickhouse-lb');
  process.exit(0);
}

const initScript = s => s['kafka-init'].command;
const regressions = [
  ['two Kafka nodes', s => { delete s['kafka-3']; }, '2 Kafka node(s)'],
  ['replication factor 1', s => { s['kafka-2'].environment.KAFKA_DEFAULT_REPLICATION_FACTOR = '1'; }, 'KAFKA_DEFAULT_REPLICATION_FACTOR must be 3'],
  ['min.insync.replicas 1', s => { s['kafka-1'].environment.KAFKA_MIN_INSYNC_REPLICAS = '1'; }, 'KAFKA_MIN_INSYNC_REPLICAS must be 2'],
  ['offsets topic not replicated', s => { s['kafka-3'].environment.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR = '1'; }, 'KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR'],
  ['automatic topics', s => { s['kafka-1'].environment.KAFKA_AUTO_CREATE_TOPICS_ENABLE = 'true'; }, 'KAFKA_AUTO_CREATE_TOPICS_ENABLE'],
  ['a node outside the quorum', s => { s['kafka-3'].environment.KAFKA_CONTROLLER_QUORUM_VOTERS = '1@kafka-1:9093,2@kafka-2:9093'; }, 'KAFKA_CONTROLLER_QUORUM_VOTERS'],
  ['repeated node id', s => { s['kafka-3'].environment.KAFKA_NODE_ID = '2'; }, 'node ids repeat'],
  ['advertises another node', s => { s['kafka-2'].environment.KAFKA_ADVERTISED_LISTENERS = 'INTERNAL://kafka-1:9092,HOST://127.0.0.1:29093'; }, 'must advertise INTERNAL://kafka-2:9092'],
  ['one host port twice', s => { s['kafka-2'].ports = s['kafka-1'].ports; }, 'one host port twice'],
  ['flows not replicated', s => { s['kafka-init'].command = initScript(s).map(c => c.replace('--topic flows --partitions "$$PARTITIONS" \\\n  --replication-factor 3', '--topic flows --partitions "$$PARTITIONS" \\\n  --replication-factor 1')); }, 'topic flows is created without --replication-factor 3'],
  ['flows without retention', s => { s['kafka-init'].command = initScript(s).map(c => c.replace('--config retention.ms="$$RETENTION_MS" ', '')); }, 'topic flows is created without --config retention.ms='],
  ['no dead-letter topic', s => { s['kafka-init'].command = initScript(s).map(c => c.replaceAll('--topic flows-dlq', '--topic dlq')); }, 'creates no topic flows-dlq'],
  ['partitions not checked', s => { s['kafka-init'].command = initScript(s).map(c => c.replace('-lt', '-gt')); }, 'refuse fewer partitions'],
  ['migrate restarts', s => { s.migrate.restart = 'unless-stopped'; }, 'restart must be "no"'],
  ['migrate before ClickHouse', s => { delete s.migrate.depends_on['clickhouse-4']; }, 'must wait for clickhouse-4'],
  ['api without migrate', s => { delete s.api.depends_on.migrate; }, 'api: must start after migrate completed'],
  ['ingest only started after migrate', s => { s.ingest.depends_on.migrate.condition = 'service_started'; }, 'ingest: must start after migrate completed'],
  ['ingest before the topics', s => { delete s.ingest.depends_on['kafka-init']; }, 'ingest: must start after kafka-init'],
  ['one ClickHouse node', s => { s.ingest.environment.Visibility__Store__ConnectionString = s.ingest.environment.Visibility__Store__ConnectionString.replace('clickhouse-lb', 'clickhouse-1'); }, 'ingest: must reach ClickHouse through clickhouse-lb'],
  ['one broker', s => { s.api.environment.Visibility__Kafka__BootstrapServers = 'kafka-1:9092'; }, 'api: Visibility__Kafka__BootstrapServers must name every Kafka node'],
];

const baseline = check(compose.services, envText);
if (baseline.length > 0) {
  for (const problem of baseline) console.error(`compose-check: self-test: the unbroken input already fails: ${problem}`);
  process.exit(1);
}

let missed = 0;
for (const [name, breakIt, expected] of regressions) {
  const services = structuredClone(compose.services);
  breakIt(services);
  const problems = check(services, envText);
  if (!problems.some(p => p.includes(expected))) {
    console.error(`compose-check: self-test: '${name}' was not reported (expected '${expected}'; got: ${problems.join(' | ') || 'nothing'})`);
    missed++;
  }
}

const fewer = check(compose.services, envText.replace(/^KAFKA_PARTITIONS=.*$/m, 'KAFKA_PARTITIONS=1'));
if (!fewer.some(p => p.includes('KAFKA_PARTITIONS (1) must be >='))) {
  console.error("compose-check: self-test: '.env.example with fewer partitions than workers' was not reported");
  missed++;
}

if (missed > 0) process.exit(1);
console.log(`compose-check: self-test ok: all ${regressions.length + 1} regressions reported`);
