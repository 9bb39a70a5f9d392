import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { MotionClient, MotionError, UpdateFailedError, status } from '../dist/index.js';
import { conformanceTarget, freshCounter, live, target } from './live.js';

describe('MotionClient against a live server', live, () => {
  let client;
  const fresh = () => freshCounter(client);

  before(async () => {
    client = new MotionClient(target);
    await client.waitForReady();
  });
  after(() => client?.close());

  test('run serves from the state and flushUpdates applies the update', async () => {
    const counter = fresh();
    assert.equal(await counter.run('add', { n: 3 }), 3);
    const { version, failed } = await counter.flushUpdates({ flow: 'add', timeoutMs: 10_000 });
    assert.equal(version, 2); // 1 after init_state, +1 for the update
    assert.deepEqual(failed, []);
    assert.deepEqual(await counter.getState(), { count: 3, history: [3] });
    assert.equal(await counter.version(), 2);

    const outcome = await counter.runOutcome('add', { n: 4 }, { flushUpdate: true, timeoutMs: 10_000 });
    assert.equal(outcome.result, 7);
    assert.equal(outcome.version, 3);
    assert.equal(outcome.updateIds.length, 1);
    assert.equal(outcome.updateOutcomes[0].status, 'APPLIED');
    assert.deepEqual(await counter.getState(['count']), { count: 7 });
  });

  test('every run carries a fresh request id unless given one', async () => {
    const counter = fresh();
    const first = await counter.runOutcome('add', { n: 1 });
    const second = await counter.runOutcome('add', { n: 1 });
    assert.match(first.requestId, /^[0-9a-f-]{36}$/);
    assert.notEqual(first.requestId, second.requestId);
    assert.equal((await counter.runOutcome('add', { n: 1 }, { requestId: 'mine-1' })).requestId, 'mine-1');
  });

  test('writeState round-trips JSON-like values', async () => {
    const counter = fresh();
    await counter.run('add', { n: 1 });
    await counter.flushUpdates();
    const history = [1, 'two', null, true, { nested: [2.5] }];
    assert.equal(await counter.writeState({ count: 40, history }), 3);
    assert.deepEqual(await counter.getState(), { count: 40, history });
    assert.equal(await counter.run('add', { n: 2 }), 42);
  });

  test('runStream of a plain serve op yields its result, then the update ids', async () => {
    const counter = fresh();
    const stream = counter.runStream('add', { n: 5 });
    const items = [];
    for await (const item of stream) items.push(item);
    assert.deepEqual(items, [5]);
    assert.equal(stream.updateIds.length, 1);
    assert.equal(stream.version, 1);
  });

  test('describeComponents lists the Counter component', async () => {
    const components = await client.describeComponents();
    const counter = components.find((c) => c.name === 'Counter');
    assert.deepEqual(counter.flows.map((f) => f.key), ['add']);
    assert.equal(counter.flows[0].updateOps[0].discardPolicy, 'NONE');
  });

  test('listInstances pages through every instance; deleteInstance removes one', async () => {
    const counters = [fresh(), fresh(), fresh()];
    for (const counter of counters) await counter.run('add', { n: 1 });
    const seen = [];
    for await (const id of client.listInstances('Counter', { pageSize: 1 })) seen.push(id);
    for (const counter of counters) assert.ok(seen.includes(counter.instanceId), `${counter.instanceId} not listed`);
    const page = await client.listInstancesPage('Counter', { pageSize: 1 });
    assert.equal(page.instanceIds.length, 1);
    assert.notEqual(page.nextPageToken, '');

    assert.equal(await counters[0].delete(), true);
    assert.equal(await client.deleteInstance('Counter', counters[0].instanceId), false);
    await assert.rejects(counters[0].getState(), { code: status.NOT_FOUND });
  });

  test('an unknown flow is NOT_FOUND', async () => {
    await assert.rejects(fresh().run('nope'), (error) => {
      assert.ok(error instanceof MotionError);
      assert.equal(error.code, status.NOT_FOUND);
      assert.match(error.details, /nope/);
      return true;
    });
  });

  test('an empty instance id is INVALID_ARGUMENT', async () => {
    await assert.rejects(client.instance('Counter', '').run('add', { n: 1 }), { code: status.INVALID_ARGUMENT });
  });

  test('a serve op that raises carries its exception type', async () => {
    await assert.rejects(fresh().run('add', { n: 'x' }), { code: status.UNKNOWN, errorType: 'TypeError' });
  });

  test('props JSON cannot carry are refused before anything is sent', async () => {
    const counter = fresh();
    await assert.rejects(counter.run('add', { n: () => 1 }), { name: 'TypeError', message: /props\.n/ });
    await assert.rejects(counter.getState(), { code: status.NOT_FOUND }); // nothing reached the server
  });

  test('props nested deeper than the server takes, or with a lone surrogate, are refused before anything is sent', async () => {
    const counter = fresh();
    let props = { n: 1 };
    for (let i = 0; i < 60; i++) props = { a: props };
    await assert.rejects(counter.run('add', props), { name: 'TypeError', message: /^props(\.a){32}: nests arrays and objects more than 32 deep/ });
    await assert.rejects(counter.run('add', { n: 1, s: 'x\ud800' }), { name: 'TypeError', message: /^props\.s: .*lone surrogate/ });
    await assert.rejects(counter.getState(), { code: status.NOT_FOUND }); // nothing reached the server
  });

  test('run with flushUpdate rejects when an update it waited for failed; runOutcome reports it', async () => {
    const conformance = new MotionClient(conformanceTarget);
    try {
      const instance = conformance.instance('Conformance', `node-${randomUUID()}`);
      await assert.rejects(instance.run('update_fails', {}, { flushUpdate: true, timeoutMs: 10_000 }), (error) => {
        assert.ok(error instanceof UpdateFailedError && error instanceof MotionError);
        assert.equal(error.code, status.UNKNOWN);
        assert.equal(error.reason, 'OP_FAILED');
        assert.equal(error.errorType, 'KeyError');
        assert.match(error.message, /^update op update_fails of flow update_fails failed: KeyError: .*missing/);
        return true;
      });
      const outcome = await instance.runOutcome('update_fails', {}, { flushUpdate: true, timeoutMs: 10_000 });
      assert.equal(outcome.result, 'accepted');
      assert.equal(outcome.updateOutcomes[0].status, 'FAILED');
      assert.equal(await instance.run('update_fails', {}), 'accepted'); // without flushUpdate nothing is awaited
    } finally {
      conformance.close();
    }
  });

  test('a deadline already passed is DEADLINE_EXCEEDED', async () => {
    const counter = fresh();
    await assert.rejects(counter.run('add', {}, { deadline: Date.now() - 1 }), { code: status.DEADLINE_EXCEEDED });
    await assert.rejects(counter.flushUpdates({ timeoutMs: 0 }), { code: status.DEADLINE_EXCEEDED });
  });

  test('an aborted signal cancels the call and rejects with its reason', async () => {
    const reason = new Error('caller gave up');
    await assert.rejects(fresh().run('add', { n: 1 }, { signal: AbortSignal.abort(reason) }), reason);
  });
});
