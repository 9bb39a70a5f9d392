// A Run whose answer is lost is retried by the published service config with
// the same request id, so the server enqueues its update once. A proxy in
// front of the live server forwards each Run, but answers the first attempt
// of every request id with UNAVAILABLE (the server did run it).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import protobuf from 'protobufjs';
import { MotionClient, PROTO_DIR, status } from '../dist/index.js';
import { freshCounter, live, target } from './live.js';
import { startProxy } from './proxy.js';

const RunRequest = protobuf.loadSync(`${PROTO_DIR}/motion/v1/motion.proto`).lookupType('motion.v1.RunRequest');

/** A proxy that forwards Run to `upstream` and loses the first answer per request id. */
async function startLossyProxy(upstream) {
  const attempts = []; // the request id of every attempt that reached the proxy
  const hook = (method, call, forward, callback) => {
    const { requestId } = RunRequest.decode(call.request);
    const first = !attempts.includes(requestId);
    attempts.push(requestId);
    forward((error, response) => {
      if (first) callback({ code: status.UNAVAILABLE, details: 'answer lost on the way back' });
      else callback(error, response);
    });
  };
  return { attempts, ...(await startProxy({ upstream, methods: ['Run'], hook })) };
}

describe('retries through a proxy that loses answers', live, () => {
  let proxy;
  let direct;

  before(async () => {
    proxy = await startLossyProxy(target);
    direct = new MotionClient(target);
  });
  after(() => {
    proxy?.close();
    direct?.close();
  });

  test('the service config retries Run with the same request id, and the update is applied once', async () => {
    const client = new MotionClient(proxy.target);
    try {
      const counter = client.instance('Counter', freshCounter(direct).instanceId);
      const outcome = await counter.runOutcome('add', { n: 5 }, { timeoutMs: 10_000 });
      assert.deepEqual(proxy.attempts.filter((id) => id === outcome.requestId).length, 2);
      assert.equal(outcome.deduplicated, true); // the second attempt found the first one's enqueue
      const { version } = await direct.instance('Counter', counter.instanceId).flushUpdates({ timeoutMs: 10_000 });
      assert.equal(version, 2);
      assert.deepEqual(await direct.instance('Counter', counter.instanceId).getState(), { count: 5, history: [5] });
    } finally {
      client.close();
    }
  });

  test('without the service config the lost answer is an UNAVAILABLE error', async () => {
    const client = new MotionClient(proxy.target, { serviceConfig: null });
    try {
      await assert.rejects(freshCounter(client).run('add', { n: 1 }, { timeoutMs: 10_000 }), { code: status.UNAVAILABLE });
    } finally {
      client.close();
    }
  });
});
