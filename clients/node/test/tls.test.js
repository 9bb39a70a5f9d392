// TLS, mTLS and the API key on the wire: a TLS proxy that requires a client
// certificate from a test CA forwards to the live server and records the
// authorization header it received.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { MotionClient, status } from '../dist/index.js';
import { live, target } from './live.js';
import { startProxy } from './proxy.js';

/** A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM buffers. */
function makeCertificates(dir) {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=test-ca', '-days', '1');
  for (const [name, extension] of [['server', 'subjectAltName=IP:127.0.0.1'], ['client', 'extendedKeyUsage=clientAuth']]) {
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    const ext = `${name}.ext`;
    execFileSync('sh', ['-c', `printf '%s\\n' '${extension}' > ${ext}`], { cwd: dir });
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', ext, '-out', `${name}.pem`);
  }
  const read = (file) => readFileSync(join(dir, file));
  return { ca: read('ca.pem'), serverCert: read('server.pem'), serverKey: read('server.key'), cert: read('client.pem'), key: read('client.key') };
}

describe('TLS, mTLS and API keys', live, () => {
  let dir;
  let pem;
  let proxy;
  const authorizations = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'motion-client-tls-'));
    pem = makeCertificates(dir);
    const credentials = grpc.ServerCredentials.createSsl(pem.ca, [{ cert_chain: pem.serverCert, private_key: pem.serverKey }], true);
    const hook = (method, call, forward, callback) => {
      authorizations.push(call.metadata.get('authorization')[0]);
      forward(callback);
    };
    proxy = await startProxy({ upstream: target, methods: ['DescribeComponents'], hook, credentials });
  });
  after(() => {
    proxy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('mTLS with the client certificate and the API key as a bearer token', async () => {
    const client = new MotionClient(proxy.target, { tls: { ca: pem.ca, cert: pem.cert, key: pem.key }, apiKey: 'key-123' });
    try {
      const components = await client.describeComponents({ timeoutMs: 10_000 });
      assert.ok(components.some((c) => c.name === 'Counter'));
      assert.equal(authorizations.at(-1), 'Bearer key-123');
    } finally {
      client.close();
    }
  });

  test('without the client certificate the handshake is refused', async () => {
    const client = new MotionClient(proxy.target, { tls: { ca: pem.ca }, serviceConfig: null });
    try {
      await assert.rejects(client.describeComponents({ timeoutMs: 10_000 }), { code: status.UNAVAILABLE });
    } finally {
      client.close();
    }
  });

  test('a plaintext client cannot talk to a TLS server', async () => {
    const client = new MotionClient(proxy.target, { serviceConfig: null });
    try {
      await assert.rejects(client.describeComponents({ timeoutMs: 10_000 }), { code: status.UNAVAILABLE });
    } finally {
      client.close();
    }
  });

  test('half an mTLS pair and an API key that cannot be a header are refused at once', () => {
    assert.throws(() => new MotionClient('localhost:1', { tls: { cert: pem.cert } }), { name: 'TypeError', message: /cert and tls.key go together/ });
    assert.throws(() => new MotionClient('localhost:1', { apiKey: 'two words' }), { name: 'TypeError', message: /apiKey/ });
  });
});
