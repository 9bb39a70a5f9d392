import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MotionClient, status } from '../dist/index.js';
import { freshCounter, live, target } from './live.js';

/** The next `count` events of a watch, skipping heartbeats. */
async function events(watch, count) {
  const seen = [];
  for await (const item of watch) {
    if (item.type === 'event') seen.push(item.event);
    if (seen.length === count) break;
  }
  return seen;
}

describe('watchUpdates against a live server', live, () => {
  let client;

  before(async () => {
    client = new MotionClient(target);
    await client.waitForReady();
  });
  after(() => client?.close());

  test('a run made once the watch is ready is seen in full; a resume sends only what follows', async () => {
    const counter = freshCounter(client);
    const watch = counter.watchUpdates({ createIfMissing: true });
    assert.equal(await watch.ready, '0-0'); // established: nothing can be missed from here on
    const { updateIds } = await counter.runOutcome('add', { n: 2 });
    const seen = await events(watch, 3);
    assert.deepEqual(seen.map((e) => [e.updateId, e.status]), [
      [updateIds[0], 'QUEUED'],
      [updateIds[0], 'RUNNING'],
      [updateIds[0], 'APPLIED'],
    ]);
    assert.equal(watch.lastEventId, seen[2].eventId);

    const second = await counter.runOutcome('add', { n: 3 }, { flushUpdate: true });
    const resumed = counter.watchUpdates({ after: watch.lastEventId, includeState: true });
    const next = await events(resumed, 3);
    assert.deepEqual(next.map((e) => [e.updateId, e.status]), [
      [second.updateIds[0], 'QUEUED'],
      [second.updateIds[0], 'RUNNING'],
      [second.updateIds[0], 'APPLIED'],
    ]);
    assert.deepEqual(next[2].state, { count: 5, history: [2, 3] });
  });

  test('the first item is a progress item naming the resume point', async () => {
    const counter = freshCounter(client);
    await counter.run('add', { n: 1 }, { flushUpdate: true });
    const watch = counter.watchUpdates();
    const resumePoint = await watch.ready;
    for await (const item of watch) {
      assert.deepEqual(item, { type: 'progress', latestEventId: resumePoint });
      break;
    }
    assert.notEqual(resumePoint, '0-0');
  });

  test('a watch of a missing instance rejects ready and iteration with NOT_FOUND', async () => {
    const watch = freshCounter(client).watchUpdates();
    await assert.rejects(watch.ready, { code: status.NOT_FOUND });
    await assert.rejects(events(watch, 1), { code: status.NOT_FOUND });
  });

  test('aborting the signal ends the iteration with its reason; cancel() ends it quietly', async () => {
    const counter = freshCounter(client);
    const controller = new AbortController();
    const watch = counter.watchUpdates({ createIfMissing: true, signal: controller.signal });
    await watch.ready;
    const reading = events(watch, 1);
    controller.abort(new Error('enough'));
    await assert.rejects(reading, { message: 'enough' });

    const quiet = counter.watchUpdates();
    await quiet.ready;
    const ending = events(quiet, 1);
    quiet.cancel();
    assert.deepEqual(await ending, []);
  });
});
