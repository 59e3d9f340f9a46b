// Checks that the deployment runs Visibility as a non-root user on a read-only root filesystem, everywhere:
//  - Dockerfile: the final stage's USER is a numeric uid:gid other than root (Kubernetes can verify runAsNonRoot only
//    against numbers), and the data and export folders its ENV names are created for that user;
//  - compose (the configuration `docker-compose config` resolved): every service built from the Dockerfile runs as that
//    uid:gid, read_only, with cap_drop ALL, no-new-privileges and a tmpfs on /tmp, writes only to volumes on /tmp,
//    the data or the export folder, and `serve` mounts one on the export folder;
//  - Kubernetes (the rendered kustomization): every container of every pod template runs as non-root with that
//    uid:gid (fsGroup too), the RuntimeDefault seccomp profile, no privilege escalation, a read-only root filesystem
//    and all capabilities dropped, with the same rules for writable volumes.
// Usage: node hardening-check.mjs <Dockerfile> <resolved compose.yaml> <rendered k8s.yaml> [--self-test]
// Prints one line per file checked; exit 1 on any problem. --self-test instead breaks the inputs in the ways a
// regression would (each in memory, one at a time) and fails unless every one of them is reported.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parse, parseAllDocuments } from 'yaml';

const require = createRequire(import.meta.url);
const { DockerfileParser } = require('dockerfile-ast');

const [dockerfilePath, composePath, k8sPath, mode] = process.argv.slice(2);
if (!k8sPath || (mode !== undefined && mode !== '--self-test')) {
  console.error('usage: node hardening-check.mjs <Dockerfile> <resolved compose.yaml> <rendered k8s.yaml> [--self-test]');
  process.exit(2);
}

const dockerfileText = readFileSync(dockerfilePath, 'utf8');
const compose = parse(readFileSync(composePath, 'utf8'));
const k8s = parseAllDocuments(readFileSync(k8sPath, 'utf8')).map(document => document.toJS()).filter(Boolean);

// ---- the image ---------------------------------------------------------------------------------------------------

function checkImage(text) {
  const problems = [];
  const instructions = DockerfileParser.parse(text).getInstructions();
  const lastFrom = instructions.map(instruction => instruction.getKeyword()).lastIndexOf('FROM');
  const final = instructions.slice(lastFrom + 1);
  const users = final.filter(instruction => instruction.getKeyword() === 'USER');
  const user = users.length > 0 ? users[users.length - 1].getArgumentsContent().trim() : null;
  const numeric = /^(\d+):(\d+)$/.exec(user ?? '');
  let uid = null;
  let gid = null;
  if (user === null) {
    problems.push('Dockerfile: the final stage sets no USER, so the image runs as root');
  } else if (!numeric) {
    problems.push(`Dockerfile: the final stage's USER is '${user}': it must be a numeric uid:gid, so that Kubernetes can verify runAsNonRoot`);
  } else if (numeric[1] === '0' || numeric[2] === '0') {
    problems.push(`Dockerfile: the final stage's USER is '${user}': root`);
  } else {
    [uid, gid] = [Number(numeric[1]), Number(numeric[2])];
  }

  const env = {};
  for (const instruction of final.filter(i => i.getKeyword() === 'ENV')) {
    for (const property of instruction.getProperties()) {
      env[property.getName()] = property.getValue();
    }
  }

  const folders = {};
  for (const [name, key] of [['data', 'Visibility__Store__Path'], ['export', 'Visibility__Export__Directory']]) {
    const folder = env[key];
    if (!folder || !folder.startsWith('/')) {
      problems.push(`Dockerfile: the final stage must set ${key} to an absolute path (the ${name} folder)`);
      continue;
    }

    folders[name] = folder;
    // The folder is made for the user: a RUN names it together with the uid (install -o, chown).
    const made = final.some(i => i.getKeyword() === 'RUN' && i.getArgumentsContent().includes(folder)
      && uid !== null && new RegExp(`(-o ${uid}\\b|chown ${uid}\\b)`).test(i.getArgumentsContent()));
    if (uid !== null && !made) {
      problems.push(`Dockerfile: no RUN in the final stage creates ${folder} (${key}) owned by uid ${uid}`);
    }
  }

  return { problems, uid, gid, folders };
}

// Writable places allowed: /tmp (a tmpfs or emptyDir) and the data and export folders.
const writable = image => new Set(['/tmp', image.folders.data, image.folders.export].filter(Boolean));

// ---- compose -----------------------------------------------------------------------------------------------------

function composeVolume(volume) {
  if (typeof volume === 'string') {
    const parts = volume.split(':');
    const options = parts.length >= 3 ? parts[parts.length - 1] : 'rw';
    const target = parts.length >= 3 ? parts[parts.length - 2] : parts[parts.length - 1];
    return { target, readOnly: options.split(',').includes('ro') };
  }

  return { target: volume.target, readOnly: volume.read_only === true };
}

function checkCompose(config, image) {
  const problems = [];
  const ours = Object.entries(config.services ?? {}).filter(([, service]) => service.build);
  if (ours.length === 0) {
    problems.push('compose.yaml: no service is built from the Dockerfile');
  }

  for (const [name, service] of ours) {
    const where = `compose.yaml: service ${name}`;
    if (image.uid !== null && String(service.user ?? '') !== `${image.uid}:${image.gid}`) {
      problems.push(`${where}: user must be "${image.uid}:${image.gid}" (the image's), not ${JSON.stringify(service.user ?? null)}`);
    }

    if (service.read_only !== true) problems.push(`${where}: read_only must be true`);
    if (!(service.cap_drop ?? []).includes('ALL')) problems.push(`${where}: cap_drop must include ALL`);
    if ((service.cap_add ?? []).length > 0) problems.push(`${where}: cap_add gives back ${service.cap_add.join(', ')}`);
    if (service.privileged === true) problems.push(`${where}: privileged`);
    if (!(service.security_opt ?? []).some(o => /^no-new-privileges(:true)?$/.test(o))) {
      problems.push(`${where}: security_opt must include no-new-privileges:true`);
    }

    const tmpfs = [service.tmpfs ?? []].flat().map(t => String(t).split(':')[0]);
    if (!tmpfs.includes('/tmp')) problems.push(`${where}: /tmp must be a tmpfs (the root filesystem is read-only)`);

    const environment = service.environment ?? {};
    const folders = {
      ...image.folders,
      ...(environment.Visibility__Store__Path ? { data: environment.Visibility__Store__Path } : {}),
      ...(environment.Visibility__Export__Directory ? { export: environment.Visibility__Export__Directory } : {}),
    };
    const allowed = writable({ folders });
    const volumes = (service.volumes ?? []).map(composeVolume);
    for (const volume of volumes.filter(v => !v.readOnly && !allowed.has(v.target))) {
      problems.push(`${where}: mounts ${volume.target} writable; only ${[...allowed].join(', ')} may be (mount others :ro)`);
    }

    const command = [service.command ?? []].flat()[0];
    if (command === 'serve' && folders.export && !volumes.some(v => v.target === folders.export && !v.readOnly)) {
      problems.push(`${where}: serve needs a writable volume on the export folder ${folders.export}`);
    }
  }

  return { problems, services: ours.map(([name]) => name) };
}

// ---- Kubernetes --------------------------------------------------------------------------------------------------

function podSpecs(document) {
  const template = document.kind === 'CronJob' ? document.spec?.jobTemplate?.spec?.template : document.spec?.template;
  return template?.spec ? [template.spec] : [];
}

function checkKubernetes(documents, image) {
  const problems = [];
  let containers = 0;
  for (const document of documents) {
    for (const pod of podSpecs(document)) {
      const workload = `k8s: ${document.kind}/${document.metadata?.name}`;
      const podContext = pod.securityContext ?? {};
      if (image.gid !== null && podContext.fsGroup !== image.gid) {
        problems.push(`${workload}: securityContext.fsGroup must be ${image.gid} (the image's gid), so volumes are writable to it`);
      }

      const volumes = new Map((pod.volumes ?? []).map(volume => [volume.name, volume]));
      for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
        containers++;
        const where = `${workload} container ${container.name}`;
        const context = container.securityContext ?? {};
        const effective = key => context[key] ?? podContext[key];
        if (effective('runAsNonRoot') !== true) problems.push(`${where}: runAsNonRoot must be true`);
        if (image.uid !== null && effective('runAsUser') !== image.uid) {
          problems.push(`${where}: runAsUser must be ${image.uid} (the image's uid), not ${effective('runAsUser') ?? 'unset'}`);
        }

        if (image.gid !== null && effective('runAsGroup') !== image.gid) {
          problems.push(`${where}: runAsGroup must be ${image.gid} (the image's gid), not ${effective('runAsGroup') ?? 'unset'}`);
        }

        if (effective('seccompProfile')?.type !== 'RuntimeDefault') problems.push(`${where}: seccompProfile must be RuntimeDefault`);
        if (context.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation must be false`);
        if (context.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem must be true`);
        if (context.privileged === true) problems.push(`${where}: privileged`);
        if (!(context.capabilities?.drop ?? []).includes('ALL')) problems.push(`${where}: capabilities.drop must include ALL`);
        if ((context.capabilities?.add ?? []).length > 0) problems.push(`${where}: capabilities.add gives back ${context.capabilities.add.join(', ')}`);

        const environment = Object.fromEntries((container.env ?? []).filter(e => 'value' in e).map(e => [e.name, e.value]));
        const folders = {
          ...image.folders,
          ...(environment.Visibility__Store__Path ? { data: environment.Visibility__Store__Path } : {}),
          ...(environment.Visibility__Export__Directory ? { export: environment.Visibility__Export__Directory } : {}),
        };
        const allowed = writable({ folders });
        const mounts = container.volumeMounts ?? [];
        const tmp = mounts.find(mount => mount.mountPath === '/tmp');
        if (!tmp || !volumes.get(tmp.name)?.emptyDir) problems.push(`${where}: /tmp must be an emptyDir (the root filesystem is read-only)`);
        for (const mount of mounts.filter(m => m.readOnly !== true && !allowed.has(m.mountPath))) {
          problems.push(`${where}: mounts ${mount.mountPath} writable; only ${[...allowed].join(', ')} may be (readOnly: true for others)`);
        }

        const command = [...(container.command ?? []), ...(container.args ?? [])].find(word => word === 'serve' || word === 'ingest');
        if (command === 'serve' && folders.export && !mounts.some(m => m.mountPath === folders.export && m.readOnly !== true)) {
          problems.push(`${where}: serve needs a writable volume on the export folder ${folders.export}`);
        }
      }
    }
  }

  if (containers === 0) {
    problems.push('k8s: no pod templates found');
  }

  return { problems, containers };
}

function checkAll(text, config, documents) {
  const image = checkImage(text);
  const composed = checkCompose(config, image);
  const kubernetes = checkKubernetes(documents, image);
  return { image, composed, kubernetes, problems: [...image.problems, ...composed.problems, ...kubernetes.problems] };
}

// ---- the checks, or the self-test --------------------------------------------------------------------------------

if (mode !== '--self-test') {
  const { image, composed, kubernetes, problems } = checkAll(dockerfileText, compose, k8s);
  for (const problem of problems) {
    console.error(`hardening-check: ${problem}`);
  }

  if (problems.length > 0) {
    process.exit(1);
  }

  console.log(`hardening-check: ok Dockerfile: USER ${image.uid}:${image.gid}; data ${image.folders.data}, export ${image.folders.export} made for it`);
  console.log(`hardening-check: ok compose.yaml: ${composed.services.join(', ')} as ${image.uid}:${image.gid}, read_only, cap_drop ALL, no-new-privileges, tmpfs /tmp, writable volumes only on the data and export folders`);
  console.log(`hardening-check: ok k8s: ${kubernetes.containers} containers runAsNonRoot as ${image.uid}:${image.gid}, RuntimeDefault seccomp, no privilege escalation, read-only root, capabilities dropped, writable volumes only on /tmp and the data and export folders`);
  process.exit(0);
}

const copy = value => structuredClone(value);
const service = (config, name) => config.services[name];
const pod = (documents, name) => documents.find(d => d.metadata?.name === name && podSpecs(d).length > 0).spec.template.spec;
const regressions = [
  ['USER removed', t => t.replace(/^USER .*$/m, ''), null, null, 'sets no USER'],
  ['USER root', t => t.replace(/^USER .*$/m, 'USER 0:0'), null, null, 'root'],
  ['USER by name', t => t.replace(/^USER .*$/m, 'USER visibility'), null, null, 'numeric uid:gid'],
  ['USER from a variable', t => t.replace(/^USER .*$/m, 'USER $APP_UID'), null, null, 'numeric uid:gid'],
  ['export folder not made for the user', t => t.replace(/-o (\d+) -g (\d+) -m 0750/, '-m 0755'), null, null, 'owned by uid'],
  ['compose: user dropped', null, c => { delete service(c, 'api').user; }, null, 'user must be'],
  ['compose: user root', null, c => { service(c, 'ingest').user = '0:0'; }, null, 'user must be'],
  ['compose: read_only dropped', null, c => { delete service(c, 'api').read_only; }, null, 'read_only'],
  ['compose: cap_drop dropped', null, c => { delete service(c, 'ingest').cap_drop; }, null, 'cap_drop'],
  ['compose: cap_add', null, c => { service(c, 'api').cap_add = ['NET_ADMIN']; }, null, 'cap_add'],
  ['compose: no-new-privileges dropped', null, c => { service(c, 'api').security_opt = []; }, null, 'no-new-privileges'],
  ['compose: tmpfs dropped', null, c => { delete service(c, 'ingest').tmpfs; }, null, '/tmp must be a tmpfs'],
  ['compose: export volume dropped', null, c => { service(c, 'api').volumes = []; }, null, 'export folder'],
  ['compose: writable bind mount', null, c => { (service(c, 'ingest').volumes ??= []).push('/srv:/app:rw'); }, null, 'mounts /app writable'],
  ['k8s: runAsNonRoot false', null, null, d => { pod(d, 'visibility-api').securityContext.runAsNonRoot = false; pod(d, 'visibility-api').containers[0].securityContext.runAsNonRoot = false; }, 'runAsNonRoot'],
  ['k8s: runAsUser 0', null, null, d => { pod(d, 'visibility-ingest').securityContext.runAsUser = 0; }, 'runAsUser'],
  ['k8s: fsGroup dropped', null, null, d => { delete pod(d, 'visibility-api').securityContext.fsGroup; }, 'fsGroup'],
  ['k8s: seccomp dropped', null, null, d => { delete pod(d, 'visibility-ingest').securityContext.seccompProfile; }, 'seccompProfile'],
  ['k8s: privilege escalation', null, null, d => { pod(d, 'visibility-api').containers[0].securityContext.allowPrivilegeEscalation = true; }, 'allowPrivilegeEscalation'],
  ['k8s: writable root filesystem', null, null, d => { delete pod(d, 'visibility-ingest').containers[0].securityContext.readOnlyRootFilesystem; }, 'readOnlyRootFilesystem'],
  ['k8s: capabilities kept', null, null, d => { pod(d, 'visibility-api').containers[0].securityContext.capabilities.drop = []; }, 'capabilities.drop'],
  ['k8s: capability added', null, null, d => { pod(d, 'visibility-api').containers[0].securityContext.capabilities.add = ['NET_RAW']; }, 'capabilities.add'],
  ['k8s: /tmp dropped', null, null, d => { const c = pod(d, 'visibility-ingest').containers[0]; c.volumeMounts = c.volumeMounts.filter(m => m.mountPath !== '/tmp'); }, '/tmp must be an emptyDir'],
  ['k8s: export volume dropped', null, null, d => { const c = pod(d, 'visibility-api').containers[0]; c.volumeMounts = c.volumeMounts.filter(m => m.mountPath === '/tmp'); }, 'export folder'],
  ['k8s: writable mount elsewhere', null, null, d => { pod(d, 'visibility-api').containers[0].volumeMounts.push({ name: 'tmp', mountPath: '/app' }); }, 'mounts /app writable'],
];

let missed = 0;
for (const [name, breakDockerfile, breakCompose, breakK8s, expected] of regressions) {
  const config = copy(compose);
  const documents = copy(k8s);
  breakCompose?.(config);
  breakK8s?.(documents);
  const { problems } = checkAll(breakDockerfile ? breakDockerfile(dockerfileText) : dockerfileText, config, documents);
  if (!problems.some(problem => problem.includes(expected))) {
    console.error(`hardening-check: self-test: '${name}' was not reported (expected '${expected}'; got: ${problems.join(' | ') || 'nothing'})`);
    missed++;
  }
}

if (missed > 0) {
  process.exit(1);
}

console.log(`hardening-check: self-test ok: all ${regressions.length} regressions reported`);
