// Shared by the suites that need a live server hosting examples/counter.py:
// MOTION_TARGET=host:port npm test
import { randomUUID } from 'node:crypto';

export const target = process.env.MOTION_TARGET;
export const live = { skip: target ? false : 'MOTION_TARGET is not set' };

/** A Counter instance no other test uses. */
export const freshCounter = (client) => client.instance('Counter', `node-${randomUUID()}`);

/** Where conformance/app.py is served: MOTION_CONFORMANCE_TARGET when apart, else MOTION_TARGET. */
export const conformanceTarget = process.env.MOTION_CONFORMANCE_TARGET || target;
