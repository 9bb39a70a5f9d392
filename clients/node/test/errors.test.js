import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metadata, status } from '@grpc/grpc-js';
import { decodeErrorInfo, MotionError } from '../dist/index.js';
import { encodeStatusDetails } from '../dist/errors.js';

test('MotionError reads the ErrorInfo reason and the op error type from the trailers', () => {
  const metadata = new Metadata();
  const info = { reason: 'OP_FAILED', domain: 'motion-grpc', metadata: { error_type: 'ValueError' } };
  metadata.set('grpc-status-details-bin', encodeStatusDetails(status.UNKNOWN, 'boom', info));
  metadata.set('motion-error-type', 'ValueError');
  const error = new MotionError({ code: status.UNKNOWN, details: 'boom', metadata });
  assert.equal(error.code, status.UNKNOWN);
  assert.equal(error.codeName, 'UNKNOWN');
  assert.equal(error.reason, 'OP_FAILED');
  assert.equal(error.errorType, 'ValueError');
  assert.deepEqual(error.errorInfo, info);
  assert.equal(error.message, 'boom');
  assert.ok(error instanceof Error);
});

test('a missing or malformed status trailer leaves reason empty', () => {
  const bare = new MotionError({ code: status.NOT_FOUND, details: 'x', metadata: new Metadata() });
  assert.equal(bare.reason, ''); // conformance/README.md: empty when a status carries none
  assert.equal(bare.errorInfo, undefined);
  assert.equal(new MotionError({ code: status.NOT_FOUND }).reason, '');
  const metadata = new Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from([0xff, 0xff, 0xff]));
  assert.equal(decodeErrorInfo(metadata), undefined);
  assert.equal(new MotionError({ code: status.INTERNAL, details: 'x', metadata }).reason, '');
});
