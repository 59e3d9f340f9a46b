// Validates Kubernetes manifests offline, three ways, and stops after the first way that finds a problem:
//  1. against the Kubernetes OpenAPI schemas that kubernetes-models compiles into validators (types, required
//     fields, formats);
//  2. references: ConfigMaps and Secrets that pods read are defined, Services and PodDisruptionBudgets select pods;
//  3. strictly, with no unknown fields: each document becomes a TypeScript object literal typed with
//     kubernetes-types, and tsc's excess-property check rejects any field the API does not define (the schemas
//     above allow unknown fields, as the API server's non-strict mode does, so a misspelt key would pass them).
// Usage: node k8s-schema.mjs <label>=<file.yaml> ...   Prints one line per document; exit 1 on any problem.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));

// kubernetes-models names its modules by apiVersion ("apps/v1", "v1", "networking.k8s.io/v1"); kubernetes-types by
// group without ".k8s.io", with "core" for the core group ("apps/v1", "core/v1", "networking/v1").
function typesPath(apiVersion) {
  if (!apiVersion.includes('/')) {
    return `core/${apiVersion}`;
  }

  const [group, version] = apiVersion.split('/');
  return `${group.replace(/\.k8s\.io$/, '')}/${version}`;
}

const documents = [];
for (const argument of process.argv.slice(2)) {
  const separator = argument.indexOf('=');
  const label = argument.slice(0, separator);
  const file = argument.slice(separator + 1);
  const parsed = parseAllDocuments(readFileSync(file, 'utf8'));
  for (const document of parsed) {
    if (document.errors.length > 0) {
      console.error(`k8s-schema: ${label}: YAML: ${document.errors[0].message}`);
      process.exit(1);
    }

    const value = document.toJS();
    if (value === null || value === undefined) {
      continue;
    }

    documents.push({ label, value });
  }
}

if (documents.length === 0) {
  console.error('k8s-schema: no documents given');
  process.exit(1);
}

let failed = false;
for (const { label, value } of documents) {
  const where = `${label}: ${value.kind ?? '?'}/${value.metadata?.name ?? '?'}`;
  if (typeof value.apiVersion !== 'string' || typeof value.kind !== 'string') {
    console.error(`k8s-schema: ${where}: apiVersion and kind are required`);
    failed = true;
    continue;
  }

  let model;
  try {
    model = (await import(`kubernetes-models/${value.apiVersion}/${value.kind}`))[value.kind];
  } catch {
    console.error(`k8s-schema: ${where}: unknown apiVersion/kind ${value.apiVersion} ${value.kind}`);
    failed = true;
    continue;
  }

  try {
    new model(value).validate();
  } catch (error) {
    console.error(`k8s-schema: ${where}: ${error.message}`);
    failed = true;
  }
}

if (failed) {
  process.exit(1);
}

// References between documents: every ConfigMap and Secret a pod reads is among the documents (the example Secret
// stands in for the real one), and every Service, PodDisruptionBudget or NetworkPolicy selects some pod template.
const defined = new Set(documents.map(({ value }) => `${value.kind}/${value.metadata?.name}`));
const templates = documents.filter(({ value }) => value.spec?.template?.spec).map(({ label, value }) => ({ label, value, pod: value.spec.template }));
const matches = (selector, labels) => Object.entries(selector ?? {}).every(([key, wanted]) => labels?.[key] === wanted);
for (const { label, value, pod } of templates) {
  const wanted = [];
  for (const container of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
    for (const source of container.envFrom ?? []) {
      if (source.configMapRef && !source.configMapRef.optional) wanted.push(`ConfigMap/${source.configMapRef.name}`);
      if (source.secretRef && !source.secretRef.optional) wanted.push(`Secret/${source.secretRef.name}`);
    }

    for (const variable of container.env ?? []) {
      const from = variable.valueFrom ?? {};
      if (from.configMapKeyRef && !from.configMapKeyRef.optional) wanted.push(`ConfigMap/${from.configMapKeyRef.name}`);
      if (from.secretKeyRef && !from.secretKeyRef.optional) wanted.push(`Secret/${from.secretKeyRef.name}`);
    }
  }

  for (const volume of pod.spec.volumes ?? []) {
    if (volume.configMap && !volume.configMap.optional) wanted.push(`ConfigMap/${volume.configMap.name}`);
    if (volume.secret && !volume.secret.optional) wanted.push(`Secret/${volume.secret.secretName}`);
  }

  for (const reference of wanted.filter(r => !defined.has(r))) {
    console.error(`k8s-schema: ${label}: ${value.kind}/${value.metadata.name} reads ${reference}, which no document defines`);
    failed = true;
  }
}

for (const { label, value } of documents) {
  const selector = value.kind === 'Service' ? value.spec?.selector
    : value.kind === 'PodDisruptionBudget' ? value.spec?.selector?.matchLabels
    // A NetworkPolicy's empty selector is every pod of the namespace; a non-empty one must select some.
    : value.kind === 'NetworkPolicy' && Object.keys(value.spec?.podSelector?.matchLabels ?? {}).length > 0 ? value.spec.podSelector.matchLabels
    : undefined;
  if (selector && !templates.some(({ pod }) => matches(selector, pod.metadata?.labels))) {
    console.error(`k8s-schema: ${label}: ${value.kind}/${value.metadata.name} selects no pod template (${JSON.stringify(selector)})`);
    failed = true;
  }
}

if (failed) {
  process.exit(1);
}

// The strict pass: one TypeScript file per document, so tsc's messages name the document.
const work = mkdtempSync(join(tmpdir(), 'k8s-strict-'));
try {
  const files = documents.map(({ label, value }, index) => {
    const name = `doc${String(index).padStart(2, '0')}.ts`;
    const type = value.kind;
    const source =
      `// ${label}: ${value.kind}/${value.metadata?.name ?? ''}\n` +
      `import type { ${type} } from 'kubernetes-types/${typesPath(value.apiVersion)}';\n` +
      `export const document: ${type} = ${JSON.stringify(value, null, 2)};\n`;
    writeFileSync(join(work, name), source);
    return { name, label, value };
  });
  writeFileSync(join(work, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true,
      noEmit: true,
      module: 'preserve',
      moduleResolution: 'bundler',
      skipLibCheck: true,
      typeRoots: [],
      types: [],
      baseUrl: here,
      paths: { 'kubernetes-types/*': [join(here, 'node_modules/kubernetes-types/*')] },
    },
    files: files.map(f => f.name),
  }));
  try {
    execFileSync(process.execPath, [join(here, 'node_modules/typescript/bin/tsc'), '-p', work, '--pretty', 'false'], { encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const output = `${error.stdout ?? ''}${error.stderr ?? ''}`;
    for (const line of output.split('\n').filter(l => l.trim() !== '')) {
      const match = /^(doc\d+\.ts)\(\d+,\d+\): (.*)$/.exec(line);
      const file = match && files.find(f => f.name === match[1]);
      console.error(file
        ? `k8s-schema: ${file.label}: ${file.value.kind}/${file.value.metadata?.name ?? '?'}: ${match[2]}`
        : `k8s-schema: ${line}`);
    }

    process.exit(1);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

for (const { label, value } of documents) {
  console.log(`k8s-schema: ok ${label}: ${value.apiVersion} ${value.kind}/${value.metadata?.name ?? ''}`);
}

console.log(`k8s-schema: ${documents.length} documents valid (OpenAPI schema and strict fields)`);
