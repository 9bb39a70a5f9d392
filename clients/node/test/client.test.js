// Runs against a live server hosting examples/counter.py: MOTION_TARGET=host:port npm test
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { MotionClient, MotionError } from '../src/index.js';

const target = process.env.MOTION_TARGET;

describe('MotionClient against a live server', { skip: target ? false : 'MOTION_TARGET is not set' }, () => {
  let client;
  const fresh = () => client.instance('Counter', `node-${randomUUID()}`);

  before(async () => {
    client = new MotionClient(target);
    await client.ready();
  });
  after(() => client?.close());

  test('run serves from the state and flush applies the update', async () => {
    const counter = fresh();
    assert.equal(await counter.run('add', { n: 3 }), 3);
    const { version, failed } = await counter.flush('add', { timeout: 10_000 });
    assert.equal(version, 2); // 1 after init_state, +1 for the update
    assert.deepEqual(failed, []);
    assert.deepEqual(await counter.getState(), { count: 3, history: [3] });
    assert.equal(await counter.version(), 2);

    const outcome = await counter.runOutcome('add', { n: 4 }, { flushUpdate: true, timeout: 10_000 });
    assert.equal(outcome.result, 7);
    assert.equal(outcome.version, 3);
    assert.equal(outcome.updateIds.length, 1);
    assert.equal(outcome.updateOutcomes[0].status, 'UPDATE_STATUS_APPLIED');
    assert.deepEqual(await counter.getState(['count']), { count: 7 });
  });

  test('writeState round-trips JSON-like values', async () => {
    const counter = fresh();
    await counter.run('add', { n: 1 });
    await counter.flush();
    const history = [1, 'two', null, true, { nested: [2.5] }];
    assert.equal(await counter.writeState({ count: 40, history }), 3);
    assert.deepEqual(await counter.getState(), { count: 40, history });
    assert.equal(await counter.run('add', { n: 2 }), 42);
  });

  test('describe lists the Counter component', async () => {
    const components = await client.describe();
    const counter = components.find((c) => c.name === 'Counter');
    assert.deepEqual(counter.flows.map((f) => f.key), ['add']);
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
});
