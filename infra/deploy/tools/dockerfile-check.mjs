// Checks a Dockerfile without a Docker engine: dockerfile-utils' linter (the checks of the Dockerfile language
// server), then that every COPY from the build context names files that the context holds once .dockerignore
// (Docker's own matching rules, @balena/dockerignore) has filtered the repository's files.
// Usage: node dockerfile-check.mjs <repository root> <Dockerfile> [--context | --build-runs]   Exit 1 on any problem.
//   --context     print the build context's files instead, one per line
//   --build-runs  print the RUN commands of the build stage (named build) instead, one per line, for validate.sh --build
import { readFileSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { validate } from 'dockerfile-utils';

const require = createRequire(import.meta.url);
const { DockerfileParser } = require('dockerfile-ast');
const dockerignore = require('@balena/dockerignore');

const [root, dockerfile, mode] = process.argv.slice(2);
const text = readFileSync(dockerfile, 'utf8');
const instructions = DockerfileParser.parse(text).getInstructions();
if (mode === '--build-runs') {
  // The stage named "build" (the .NET publish); the first stage when none is named so.
  const stages = instructions.filter(instruction => instruction.getKeyword() === 'FROM');
  const index = Math.max(0, stages.findIndex(from => /\s+AS\s+build\s*$/i.test(from.getArgumentsContent())));
  const start = stages[index].getRange().start.line;
  const end = index + 1 < stages.length ? stages[index + 1].getRange().start.line : Infinity;
  for (const instruction of instructions) {
    const line = instruction.getRange().start.line;
    if (instruction.getKeyword() === 'RUN' && line > start && line < end) {
      console.log(instruction.getArgumentsContent());
    }
  }

  process.exit(0);
}

const label = relative(root, dockerfile);
let failed = false;

for (const diagnostic of mode ? [] : validate(text, {})) {
  // Severity 1 is an error, 2 a warning: both fail, so the file stays clean.
  console.error(`dockerfile-check: ${label}:${diagnostic.range.start.line + 1}: ${diagnostic.message}`);
  failed = true;
}

// The context: the repository's files (tracked, or new and not git-ignored), less what .dockerignore excludes.
const listed = execFileSync('git', ['-C', root, 'ls-files', '--cached', '--others', '--exclude-standard', '-z'], { encoding: 'utf8' })
  .split('\0')
  .filter(path => path !== '' && existsSync(join(root, path)));
const ignorePath = join(root, '.dockerignore');
if (!existsSync(ignorePath)) {
  console.error('dockerfile-check: .dockerignore is missing at the context root');
  process.exit(1);
}

const filter = dockerignore({ ignorecase: false }).add(readFileSync(ignorePath, 'utf8'));
const context = listed.filter(path => !filter.ignores(path));
if (mode === '--context') {
  console.log(context.join('\n'));
  process.exit(0);
}

let copies = 0;
for (const instruction of instructions) {
  const keyword = instruction.getKeyword();
  if (keyword !== 'COPY' && keyword !== 'ADD') {
    continue;
  }

  if (instruction.getFlags().some(flag => flag.getName() === 'from')) {
    continue;
  }

  const values = instruction.getArguments().map(argument => argument.getValue());
  for (const source of values.slice(0, -1)) {
    const path = source.replace(/^\.\//, '').replace(/\/+$/, '');
    const present = path === '' || path === '.'
      ? context.length > 0
      : context.some(file => file === path || file.startsWith(`${path}/`));
    if (!present) {
      console.error(`dockerfile-check: ${label}:${instruction.getRange().start.line + 1}: ${keyword} ${source}: not in the build context (missing, or excluded by .dockerignore)`);
      failed = true;
    }

    copies++;
  }
}

// What must never reach the context: local secrets and build output.
for (const file of context) {
  if (/(^|\/)(\.env$|secrets\/|bin\/|obj\/|node_modules\/)/.test(file)) {
    console.error(`dockerfile-check: the build context includes ${file}`);
    failed = true;
  }
}

if (failed) {
  process.exit(1);
}

console.log(`dockerfile-check: ok ${label}: lint clean, ${copies} COPY sources in a context of ${context.length} files`);
