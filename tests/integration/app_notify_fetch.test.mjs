// apps/notify with its outbound calls (sio.fetch), against a Node HTTP
// server this file runs: the webhook told of each delivery
// (NOTIFY_WEBHOOK_URL, signed with NOTIFY_WEBHOOK_SECRET) and token
// introspection (NOTIFY_INTROSPECT_URL) instead of the local HS256 check,
// with the real socket.io-client. The webhook goes down and comes back:
// sockets are served all along, the outage is logged once each way.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHmac } from 'node:crypto';
import { until } from './lib/server.mjs';
import { waitConnectError } from './lib/sio.mjs';
import { startNotify, assertCleanStop, notify, tab, userTab, waitHeard, notices } from './lib/notify.mjs';

const HOOK_SECRET = 'hook-secret-for-tests';
const RS_AUTH = 'Bearer resource-server-key';
const TOKENS = {
  'opaque-alice': { active: true, sub: 'alice', scope: 'notify' },
  'opaque-bob': { active: true, sub: 'bob' },
  'opaque-revoked': { active: false },
};

let svc, port;
const hook = { got: [], status: 200 };
const introspections = [];

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

before(async () => {
  svc = http.createServer(async (req, res) => {
    const body = await readBody(req);
    if (req.url === '/hook') {
      hook.got.push({ headers: req.headers, body });
      res.writeHead(hook.status, { 'content-type': 'application/json' });
      res.end('{}');
    } else if (req.url === '/introspect') {
      const params = new URLSearchParams(body);
      introspections.push({ token: params.get('token'), auth: req.headers.authorization, type: req.headers['content-type'] });
      const known = req.headers.authorization === RS_AUTH ? TOKENS[params.get('token')] : undefined;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(known ?? { active: false }));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => svc.listen(0, '127.0.0.1', resolve));
  port = svc.address().port;
});

after(() => { svc.closeAllConnections(); svc.close(); });

const ENV = () => ({
  NOTIFY_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`,
  NOTIFY_WEBHOOK_SECRET: HOOK_SECRET,
  NOTIFY_WEBHOOK_RETRY_MS: '20',
  NOTIFY_WEBHOOK_ATTEMPTS: '3',
  NOTIFY_INTROSPECT_URL: `http://127.0.0.1:${port}/introspect`,
  NOTIFY_INTROSPECT_AUTH: RS_AUTH,
});

test('introspected tokens: an active one connects as its sub, a revoked one is refused; the call is form-encoded with the client credentials', async (t) => {
  const srv = await startNotify(t, { env: ENV() });
  const me = await userTab(srv, t, 'alice', { token: 'opaque-alice' });
  assert.deepEqual(me.heard, [['ready', { user: 'alice' }]]);
  const last = introspections.at(-1);
  assert.deepEqual(last, { token: 'opaque-alice', auth: RS_AUTH, type: 'application/x-www-form-urlencoded' });
  const revoked = tab(srv, t, { auth: { token: 'opaque-revoked' } });
  const err = await waitConnectError(revoked.socket);
  assert.equal(err.message, 'Authentication error');
  assert.deepEqual(err.data, { reason: 'inactive token' });
  await assertCleanStop(srv);
});

test('each delivery reaches the sockets and then the webhook, signed; a webhook outage is retried, logged once, and ends', async (t) => {
  const srv = await startNotify(t, { env: ENV() });
  const bob = await userTab(srv, t, 'bob', { token: 'opaque-bob' });
  hook.got = [];
  hook.status = 200;
  const res = await notify(srv, { user: 'bob', event: 'notice', data: { n: 1 } });
  assert.equal(res.json.sockets, 1);
  await waitHeard(bob, (e) => e[0] === 'notice');
  assert.ok(await until(() => hook.got.length === 1));
  const { headers, body } = hook.got[0];
  const sent = JSON.parse(body);
  assert.equal(sent.user, 'bob');
  assert.equal(sent.event, 'notice');
  assert.equal(sent.sockets, 1);
  assert.equal(typeof sent.time, 'number');
  assert.equal(headers['content-type'], 'application/json');
  assert.equal(headers['x-notify-signature'], `sha256=${createHmac('sha256', HOOK_SECRET).update(body).digest('hex')}`);

  // Down: every call answers 500. Sockets still get each notification.
  hook.status = 500;
  hook.got = [];
  for (let i = 0; i < 5; i++) await notify(srv, { user: 'bob', event: 'notice', data: { i } });
  await until(() => notices(bob).length === 6);
  assert.equal(notices(bob).length, 6);
  // Each delivery is tried 3 times, then given up: 15 calls.
  assert.ok(await until(() => hook.got.length === 15, { timeoutMs: 5000 }), `${hook.got.length} calls`);
  const failing = () => srv.stderr().split('\n').filter((l) => /webhook .* is failing/.test(l));
  assert.equal(failing().length, 1, srv.stderr());
  assert.match(failing()[0], /is failing \(HTTP 500 Internal Server Error\); deliveries wait in a queue of at most 1000 and are tried 3 times/);

  // Back: the next delivery is told, and the end of the outage is logged.
  hook.status = 200;
  hook.got = [];
  await notify(srv, { user: 'bob', event: 'notice', data: { back: true } });
  assert.ok(await until(() => hook.got.length === 1));
  assert.ok(await until(() => /webhook .* answers again/.test(srv.stderr())), srv.stderr());
  assert.equal(failing().length, 1);
  await assertCleanStop(srv);
});

test('a bad setting stops the start with its reason', async (t) => {
  await assert.rejects(startNotify(t, { env: { ...ENV(), NOTIFY_WEBHOOK_QUEUE: 'lots' } }),
    /NOTIFY_WEBHOOK_QUEUE must be an integer from 1 to 1000000, got "lots"/);
});
