// client.close() cancels the calls in flight: watches, run streams and unary calls end (with a
// CANCELLED MotionError), and a process whose calls failed or were open exits once it closed its
// client. Each "exits" case runs in a child process that must end by itself.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { MotionClient, MotionError, status } from '../dist/index.js';
import { freshCounter, live, target, conformanceTarget } from './live.js';
import { startProxy } from './proxy.js';

const DIST = new URL('../dist/index.js', import.meta.url).href;

/** Run `body` (an ES module body, with `client` connected to the live server); its stdout lines. */
function runChild(body, timeoutMs = 15_000) {
  const source = [
    `import { MotionClient } from ${JSON.stringify(DIST)};`,
    'const client = new MotionClient(process.env.MOTION_TARGET);',
    'await client.waitForReady();',
    body,
  ].join('\n');
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ['--input-type=module', '-e', source],
      { env: { ...process.env, MOTION_TARGET: target }, timeout: timeoutMs, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error?.killed) reject(new Error(`the process did not exit within ${timeoutMs} ms of close(); it printed ${stdout}`));
        else if (error) reject(new Error(`the process failed: ${stderr}`));
        else resolve(stdout.trim().split('\n'));
      },
    );
    child.stdin?.end();
  });
}

describe('close() against a live server', live, () => {
  test('a process exits after close() when a call failed while encoding its request', async () => {
    const lines = await runChild(`
      const id = 'node-${randomUUID()}';
      let props = {};
      for (let i = 0; i < 60; i++) props = { a: props };
      const report = (error) => console.log(error.name + ' ' + (error.message.split(':')[0]));
      await client.instance('Counter', id).run('add', props).catch(report);
      // A request proto-loader cannot serialize (keys must be a list), made through the internal call.
      await client.unary('GetState', { instance: { component: 'Counter', instanceId: id }, keys: 'count' }, {}).catch(report);
      client.close();
    `);
    assert.deepEqual(lines, [`TypeError props${'.a'.repeat(32)}`, 'TypeError cannot encode the GetState request']);
  });

  test('a process with an open watch exits after close(); the watch ends with CANCELLED', async () => {
    const lines = await runChild(`
      const watch = client.instance('Counter', 'node-${randomUUID()}').watchUpdates({ createIfMissing: true });
      await watch.ready;
      const reading = (async () => { for await (const item of watch); })();
      client.close();
      await reading.then(() => console.log('ended quietly'), (error) => console.log(error.name, error.codeName, error.message));
    `);
    assert.deepEqual(lines, ['MotionError CANCELLED the client was closed']);
  });

  test('a watch not yet established rejects ready when the client closes', async () => {
    const client = new MotionClient(target);
    const watch = freshCounter(client).watchUpdates({ createIfMissing: true });
    client.close();
    await assert.rejects(watch.ready, (error) => error instanceof MotionError && [status.CANCELLED, status.UNAVAILABLE].includes(error.code));
  });

  test('a run stream stops at close(): no more items, no update ids', async () => {
    const client = new MotionClient(conformanceTarget);
    const stream = client.instance('Conformance', `node-${randomUUID()}`).runStream('tokens', { n: 50 });
    const items = [];
    await assert.rejects(
      (async () => {
        for await (const item of stream) {
          items.push(item);
          client.close();
        }
      })(),
      { name: 'MotionError', code: status.CANCELLED, reason: '', message: 'the client was closed' },
    );
    assert.equal(items.length, 1);
    assert.equal(stream.updateIds, undefined);
  });

  test('a unary call in flight rejects with CANCELLED at close()', async () => {
    let arrived;
    const reached = new Promise((resolve) => (arrived = resolve));
    const proxy = await startProxy({ upstream: target, methods: ['GetState'], hook: () => arrived() }); // never answers
    try {
      const client = new MotionClient(proxy.target);
      const pending = freshCounter(client).getState();
      await reached;
      client.close();
      const stillPending = new Promise((_, reject) => setTimeout(() => reject(new Error('still pending after close()')), 5_000).unref());
      await assert.rejects(Promise.race([pending, stillPending]), { name: 'MotionError', code: status.CANCELLED, message: 'the client was closed' });
    } finally {
      proxy.close();
    }
  });
});
