// Instance against a stand-in client that answers Run with a canned response: what run and
// runOutcome make of the update outcomes a flushUpdate run reports.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Instance, MotionError, UpdateFailedError, status } from '../dist/index.js';

/** A Run response as proto-loader decodes it, with these update outcomes. */
function runResponse(...outcomes) {
  return {
    result: { kind: 'stringValue', stringValue: 'accepted' },
    version: 1,
    cached: false,
    updateIds: outcomes.map((o) => o.updateId),
    updateOutcomes: outcomes.map((o) => ({ flow: 'f', op: 'op', errorType: '', errorMessage: '', version: 1, ...o })),
    deduplicated: false,
  };
}

const applied = { updateId: '1-0', status: 'UPDATE_STATUS_APPLIED' };
const discarded = { updateId: '2-0', status: 'UPDATE_STATUS_DISCARDED', errorType: 'expired' };
const failed = { updateId: '3-0', status: 'UPDATE_STATUS_FAILED', errorType: 'KeyError', errorMessage: "raised KeyError: 'missing'" };

/** An Instance whose Run answers `response`; `sent` collects the requests. */
function instanceAnswering(response) {
  const sent = [];
  const client = { unary: async (method, request) => (sent.push([method, request]), response) };
  return { instance: new Instance(client, 'C', 'i'), sent };
}

test('run resolves with the result when no awaited update failed (DISCARDED is no failure)', async () => {
  const { instance, sent } = instanceAnswering(runResponse(applied, discarded));
  assert.equal(await instance.run('f', {}, { flushUpdate: true }), 'accepted');
  assert.equal(sent[0][1].flushUpdate, true);
});

test('run with flushUpdate rejects with UpdateFailedError when an awaited update FAILED', async () => {
  const { instance } = instanceAnswering(runResponse(applied, failed));
  await assert.rejects(instance.run('f', {}, { flushUpdate: true }), (error) => {
    assert.ok(error instanceof UpdateFailedError);
    assert.ok(error instanceof MotionError);
    assert.equal(error.name, 'UpdateFailedError');
    assert.equal(error.code, status.UNKNOWN);
    assert.equal(error.reason, 'OP_FAILED');
    assert.equal(error.errorType, 'KeyError');
    assert.deepEqual(error.errorInfo, { reason: 'OP_FAILED', domain: 'motion-grpc', metadata: { error_type: 'KeyError' } });
    assert.equal(error.message, "update op op of flow f failed: KeyError: raised KeyError: 'missing'");
    assert.equal(error.outcome.updateId, '3-0');
    assert.equal(error.runOutcome.result, 'accepted'); // the run itself took effect
    return true;
  });
});

test('runOutcome reports a failed update among its outcomes instead of throwing', async () => {
  const { instance } = instanceAnswering(runResponse(failed));
  const outcome = await instance.runOutcome('f', {}, { flushUpdate: true });
  assert.equal(outcome.result, 'accepted');
  assert.equal(outcome.updateOutcomes[0].status, 'FAILED');
});
