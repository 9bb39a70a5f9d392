// TLS, mTLS and API keys against a real `motion-grpc serve --tls-cert --tls-key --tls-client-ca
// --api-key-file` hosting examples/counter.py. tests/security/test_client_tls.py makes the
// certificates and keys, starts the server and runs this file with:
//   MOTION_TLS_TARGET  host:port of the server
//   MOTION_TLS_CA, MOTION_TLS_CERT, MOTION_TLS_KEY  PEM paths: the CA, a client certificate and its key
//   MOTION_TLS_STRANGER_CERT, MOTION_TLS_STRANGER_KEY  a client certificate from another CA
//   MOTION_ADMIN_KEY, MOTION_CLIENT_KEY  an admin and a client API key
// Without MOTION_TLS_TARGET it registers no test (npm test has no such server).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { MotionClient, status } from '../dist/index.js';

const env = process.env;
const target = env.MOTION_TLS_TARGET;
const pem = (name) => readFileSync(env[name]);
const TIMEOUT = { timeoutMs: 10_000 };

/** A client of the TLS server; `options` replaces the mTLS pair and the client key. */
function connect(options = {}) {
  const tls = { ca: pem('MOTION_TLS_CA'), cert: pem('MOTION_TLS_CERT'), key: pem('MOTION_TLS_KEY') };
  return new MotionClient(target, { tls, apiKey: env.MOTION_CLIENT_KEY, serviceConfig: null, ...options });
}

async function using(client, body) {
  try {
    return await body(client);
  } finally {
    client.close();
  }
}

if (target) {
  describe('against a TLS server with API keys', () => {
    test('mTLS with a client key runs a flow, streams and reads state', () =>
      using(connect(), async (client) => {
        const counter = client.instance('Counter', `node-tls-${randomUUID()}`);
        assert.equal(await counter.run('add', { n: 2 }, TIMEOUT), 2);
        await counter.flushUpdates(TIMEOUT);
        const items = [];
        for await (const item of counter.runStream('add', { n: 3 }, TIMEOUT)) items.push(item);
        assert.deepEqual(items, [5]);
        await counter.flushUpdates(TIMEOUT);
        assert.equal((await counter.getState(['count'], TIMEOUT)).count, 5);
      }));

    test('a client key on an admin RPC is PERMISSION_DENIED; the admin key writes', async () => {
      const instanceId = `node-tls-${randomUUID()}`;
      await using(connect(), async (client) => {
        const counter = client.instance('Counter', instanceId);
        await counter.run('add', { n: 1 }, TIMEOUT);
        await assert.rejects(counter.writeState({ count: 40 }, TIMEOUT), { code: status.PERMISSION_DENIED });
      });
      await using(connect({ apiKey: env.MOTION_ADMIN_KEY }), async (client) => {
        assert.ok((await client.instance('Counter', instanceId).writeState({ count: 40 }, TIMEOUT)) >= 2);
      });
    });

    test('no key or a wrong key is UNAUTHENTICATED', async () => {
      for (const apiKey of [undefined, 'not-a-key-0123456789abcdef']) {
        await using(connect({ apiKey }), (client) =>
          assert.rejects(client.describeComponents(TIMEOUT), { code: status.UNAUTHENTICATED }),
        );
      }
    });

    test('without a client certificate of the CA, or in plaintext, the connection is refused', async () => {
      const refused = [
        { tls: { ca: pem('MOTION_TLS_CA') } },
        { tls: { ca: pem('MOTION_TLS_CA'), cert: pem('MOTION_TLS_STRANGER_CERT'), key: pem('MOTION_TLS_STRANGER_KEY') } },
        { tls: false },
      ];
      for (const options of refused) {
        await using(connect(options), (client) =>
          assert.rejects(client.describeComponents(TIMEOUT), { code: status.UNAVAILABLE }),
        );
      }
      await using(connect(), async (client) => assert.ok((await client.describeComponents(TIMEOUT)).length > 0));
    });
  });
}
