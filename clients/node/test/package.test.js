// `npm pack` ships everything the package needs: installed from the tarball
// into a clean folder (offline: the folder is seeded with copies of the
// already-fetched production dependencies), it loads, type-checks from
// TypeScript, and reaches a server with the shipped proto.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { target } from './live.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let folder;
let tarball;

before(() => {
  folder = mkdtempSync(join(tmpdir(), 'motion-client-pack-'));
  // dist/ is fresh: `npm test` built it (pretest), so skip prepare here.
  const [packed] = JSON.parse(
    execFileSync(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', folder], { cwd: packageDir }),
  );
  tarball = packed;
  writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  seedDependencies(folder);
  execFileSync(npm, ['install', '--offline', '--no-audit', '--no-fund', join(folder, packed.filename)], {
    cwd: folder,
    stdio: 'pipe',
  });
});
after(() => rmSync(folder, { recursive: true, force: true }));

/** Copy this package's installed production dependencies into `folder`/node_modules. */
function seedDependencies(folder) {
  const listed = execFileSync(npm, ['ls', '--omit=dev', '--all', '--parseable'], { cwd: packageDir, encoding: 'utf8' });
  for (const path of listed.trim().split('\n').slice(1)) {
    cpSync(path, join(folder, relative(packageDir, path)), { recursive: true });
  }
}

test('the tarball holds the compiled code, its types, the proto and the service config', () => {
  const files = tarball.files.map((f) => f.path);
  for (const file of ['dist/index.js', 'dist/index.d.ts', 'proto/motion/v1/motion.proto', 'proto/motion/v1/service_config.json', 'README.md']) {
    assert.ok(files.includes(file), `${file} is not packed: ${files.join(', ')}`);
  }
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')), files.join(', '));
});

test('the installed package loads and reaches the server', () => {
  const script = `
    import { MotionClient } from '@motion-grpc/client';
    const client = new MotionClient(process.argv[1] ?? 'localhost:1');
    if (process.argv[1]) console.log((await client.describeComponents()).map((c) => c.name).join(','));
    else console.log('loaded');
    client.close();`;
  const args = ['--input-type=module', '-e', script, ...(target ? [target] : [])];
  const output = execFileSync(process.execPath, args, { cwd: folder, encoding: 'utf8' });
  assert.match(output, target ? /Counter/ : /loaded/);
});

test('TypeScript resolves the types through the exports map', () => {
  writeFileSync(
    join(folder, 'consumer.ts'),
    `import { MotionClient, MotionError, type RunOutcome } from '@motion-grpc/client';
     const client = new MotionClient('localhost:50051', { apiKey: 'k', tls: { ca: 'pem' } });
     const run: Promise<RunOutcome> = client.instance('Counter', 'u').runOutcome('add', { n: 1 }, { timeoutMs: 5 });
     const reason: string | undefined = new MotionError({ code: 5 }).reason;
     // @ts-expect-error: timeoutMs is a number
     client.instance('Counter', 'u').run('add', {}, { timeoutMs: 'soon' });
     export { run, reason };`,
  );
  const options = ['--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node'];
  execFileSync(process.execPath, [tsc, ...options, 'consumer.ts'], { cwd: folder, stdio: 'pipe' });
});
