// Socket.IO v2 clients (socket.io-client@2, Engine.IO v3) against siolua
// with allowEIO3: both transports, events, acks both ways, binary, a
// custom namespace, a refusal; and without allowEIO3 the same client is
// refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { startServer } from './lib/server.mjs';

const require = createRequire(import.meta.url);
const ioV2 = require('socket.io-client-v2');
const APP = join(process.env.SIOLUA_ROOT || join(import.meta.dirname, '..', '..'), 'tests', 'apps', 'eio3');

let srv;
before(async () => { srv = await startServer({ appDir: APP }); });
after(async () => { await srv?.stop(); });

function connect(path, opts) {
  const s = ioV2(srv.url + path, { forceNew: true, reconnection: false, ...opts });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no connect within 5 s')), 5000);
    s.on('connect', () => { clearTimeout(timer); resolve(s); });
    s.on('error', (e) => { clearTimeout(timer); s.close(); reject(new Error(`error: ${e}`)); });
    s.on('connect_error', (e) => { clearTimeout(timer); s.close(); reject(e); });
  });
}

function next(s, event) {
  return new Promise((resolve) => s.once(event, (...args) => resolve(args)));
}

for (const transports of [['polling'], ['websocket'], ['polling', 'websocket']]) {
  const name = transports.join('+');

  test(`${name}: a v2 client connects to "/", gets the welcome and echoes with an ack`, async () => {
    const s = ioV2(srv.url, { forceNew: true, reconnection: false, transports, query: { who: 'v2' } });
    try {
      const welcome = await next(s, 'welcome');
      assert.deepEqual(welcome, ['/', 'v2']);
      const reply = await new Promise((resolve) => s.emit('echo', 1, 'two', { three: [true, null] }, (...a) => resolve(a)));
      assert.deepEqual(reply, [1, 'two', { three: [true, null] }]);
    } finally {
      s.close();
    }
  });

  test(`${name}: binary goes both ways with a v2 client`, async () => {
    const s = await connect('/', { transports });
    try {
      const bytes = Buffer.from([0, 1, 2, 250, 255]);
      const reply = await new Promise((resolve) => s.emit('echo', { nested: [bytes] }, 'x', (...a) => resolve(a)));
      assert.ok(Buffer.isBuffer(reply[0].nested[0]), `got ${JSON.stringify(reply)}`);
      assert.deepEqual([...reply[0].nested[0]], [...bytes]);
      assert.equal(reply[1], 'x');
    } finally {
      s.close();
    }
  });

  test(`${name}: the server waits for a v2 client's ack (emit_with_ack)`, async () => {
    const s = await connect('/', { transports });
    try {
      s.on('question', (q, cb) => cb(`answer to ${q}`));
      const reply = await new Promise((resolve) => s.emit('ask', 'q', (...a) => resolve(a)));
      assert.deepEqual(reply, ['answer to q']);
    } finally {
      s.close();
    }
  });
}

test('a v2 client joins a custom namespace and is refused by a middleware with its message', async () => {
  const s = ioV2(srv.url + '/v2', { forceNew: true, reconnection: false, transports: ['websocket'] });
  try {
    assert.deepEqual(await next(s, 'welcome'), ['/v2', null]);
  } finally {
    s.close();
  }
  const r = ioV2(srv.url + '/closed', { forceNew: true, reconnection: false, transports: ['websocket'] });
  try {
    const [err] = await next(r, 'error');
    assert.equal(err, 'not for you');
  } finally {
    r.close();
  }
});

test('without allowEIO3 a v2 client is refused with "Unsupported protocol version"', async () => {
  const strict = await startServer({ appDir: APP, args: ['--set', 'allowEIO3=false'] });
  try {
    const res = await fetch(`${strict.url}/socket.io/?EIO=3&transport=polling`);
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { code: 5, message: 'Unsupported protocol version' });
  } finally {
    await strict.stop();
  }
});
