// The README's example runs as written against a server hosting examples/counter.py.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { live } from './live.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

test('the README example runs as written', live, () => {
  const readme = readFileSync(`${packageDir}/README.md`, 'utf8');
  const example = readme.split('## Example')[1].match(/```js\n([\s\S]*?)```/)[1];
  assert.ok(example.split('\n').length <= 12, 'the example stays about 10 lines');
  // Inside the package folder, '@motion-grpc/client' resolves to this package (self-reference).
  const file = `${packageDir}/.readme-example.mjs`;
  writeFileSync(file, example);
  try {
    const output = execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(output, '3\n{ count: 3 }\n');
  } finally {
    rmSync(file, { force: true });
  }
});
