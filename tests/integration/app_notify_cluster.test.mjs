// apps/notify in a cluster: two siolua instances (A and B, each on its own
// port) of the unchanged app, in production mode (NOTIFY_SECRET and
// NOTIFY_API_KEY set), share one real redis-server through --redis. A
// backend may POST /api/notify to either instance: the notification reaches
// every socket of the user on both, once each, and with ?wait=1 the
// `sockets` count in the answer counts them on both (fetch_sockets is
// cluster-wide); without it the answer is 202 at once.
//
// "Nothing else arrived" checks use a barrier notification POSTed to the
// same instance afterwards: it crosses through the same Redis connection,
// so it arrives after anything that instance published before.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rawTexts, waitConnectError } from './lib/sio.mjs';
import { until } from './lib/server.mjs';
import { NOTIFY_DIR, SECRET, API_KEY, assertCleanStop, notify as post, tab, userTab, waitHeard, notices, tokenFor } from './lib/notify.mjs';
import { SKIP, startCluster } from './lib/cluster.mjs';

const skip = SKIP;

// POST /api/notify?wait=1: in a cluster only then does the answer count the
// user's sockets on every instance (without it: 202, see the last test).
const notify = (srv, body, opts = {}) => post(srv, body, { wait: true, ...opts });

function notifyCluster(t) {
  return startCluster(t, {
    appDir: NOTIFY_DIR,
    namespaces: ['/', '/notice'],
    env: { NOTIFY_SECRET: SECRET, NOTIFY_API_KEY: API_KEY },
  });
}

// POSTs a barrier event for `user` to srv and waits until every tab heard it.
let seq = 0;
async function barrier(srv, user, tabs) {
  const n = ++seq;
  const res = await notify(srv, { user, event: 'barrier', data: n });
  assert.equal(res.status, 200, res.text);
  for (const me of tabs) await waitHeard(me, (e) => e[0] === 'barrier' && e[1] === n);
  return res.json;
}

test('cluster notify: user 42 connected to B only; POST /api/notify on A delivers to it on B, once, and answers sockets 1; another user hears nothing', { skip }, async (t) => {
  const { a, b } = await notifyCluster(t);
  const me = await userTab(b, t, '42');
  const other = await userTab(b, t, '7');
  const otherA = await userTab(a, t, '7');
  const res = await notify(a, { user: '42', event: 'notice', data: { text: 'hello from A', n: [1, 2.5, null, true] } });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, { delivered: true, user: '42', event: 'notice', sockets: 1 });
  const got = await waitHeard(me, (e) => e[0] === 'notice');
  assert.deepEqual(got, ['notice', { text: 'hello from A', n: [1, 2.5, null, true] }]);
  assert.ok(rawTexts(me.socket).includes('2/notice,["notice",{"text":"hello from A","n":[1,2.5,null,true]}]'),
    JSON.stringify(rawTexts(me.socket)));
  // An integer user id in the body is the same user.
  const res2 = await notify(a, { user: 42, event: 'second' });
  assert.equal(res2.json.sockets, 1);
  await waitHeard(me, (e) => e[0] === 'second');
  await barrier(a, '42', [me]);
  await barrier(a, '7', [other, otherA]);
  assert.deepEqual(notices(me).map((e) => e[0]), ['notice', 'second', 'barrier']);
  assert.deepEqual(notices(other), [['barrier', seq]]);
  assert.deepEqual(notices(otherA), [['barrier', seq]]);
  await assertCleanStop(a);
  await assertCleanStop(b);
});

test('cluster notify: a user with one tab on A and one on B gets a notification POSTed to either instance on both tabs, once each; sockets is 2', { skip }, async (t) => {
  const { a, b } = await notifyCluster(t);
  const tabA = await userTab(a, t, 'u-both');
  const tabB = await userTab(b, t, 'u-both');
  for (const [srv, event] of [[a, 'via-a'], [b, 'via-b']]) {
    const res = await notify(srv, { user: 'u-both', event, data: { from: event } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.sockets, 2, `POST to ${event}: ${res.text}`);
    for (const me of [tabA, tabB]) {
      assert.deepEqual(await waitHeard(me, (e) => e[0] === event), [event, { from: event }]);
    }
  }
  await barrier(a, 'u-both', [tabA, tabB]);
  await barrier(b, 'u-both', [tabA, tabB]);
  for (const me of [tabA, tabB]) {
    assert.deepEqual(notices(me).map((e) => e[0]), ['via-a', 'via-b', 'barrier', 'barrier'], JSON.stringify(me.heard));
  }
  await assertCleanStop(a);
  await assertCleanStop(b);
});

test('cluster notify: sockets counts every tab on both instances and both namespaces (/notice and the path /notice), and drops a tab that closed on the other instance', { skip }, async (t) => {
  const { a, b } = await notifyCluster(t);
  const tabs = [
    await userTab(a, t, '42'),
    await userTab(b, t, '42'),
    await userTab(b, t, '42'),
    await userTab(b, t, '42', { nsp: '/', path: '/notice' }),
    await userTab(a, t, '42', { nsp: '/', transports: ['polling'] }),
  ];
  const res = await notify(a, { user: 42, event: 'count', data: 'all' });
  assert.equal(res.json.sockets, 5, res.text);
  for (const me of tabs) await waitHeard(me, (e) => e[0] === 'count');
  assert.equal((await notify(b, { user: 42, event: 'count2' })).json.sockets, 5);
  for (const me of tabs) await waitHeard(me, (e) => e[0] === 'count2');
  // Two tabs on B close: A counts three at once (B has left the rooms).
  tabs[1].socket.disconnect();
  tabs[3].socket.disconnect();
  await until(() => !tabs[1].socket.connected && !tabs[3].socket.connected);
  const after = await until(async () => {
    const r = await notify(a, { user: 42, event: 'after-close' });
    return r.json.sockets === 3 ? r : null;
  }, { timeoutMs: 3000, stepMs: 50 });
  assert.ok(after, 'A still counts the closed tabs on B');
  // A user nobody connected as: not delivered, sockets 0, nobody hears it.
  const none = await notify(b, { user: 'nobody', event: 'void' });
  assert.deepEqual(none.json, { delivered: false, user: 'nobody', event: 'void', sockets: 0 });
  await barrier(b, 42, [tabs[0], tabs[2], tabs[4]]);
  for (const me of tabs) assert.ok(!me.heard.some((e) => e[0] === 'void'));
  await assertCleanStop(a);
  await assertCleanStop(b);
});

test('cluster notify: auth and API refusals are per instance as before: a bad token on B is refused, a wrong key on A gets 401 and delivers nothing to B', { skip }, async (t) => {
  const { a, b } = await notifyCluster(t);
  const me = await userTab(b, t, '42');
  const wrong = await notify(a, { user: '42', event: 'evil' }, { key: 'not-the-key' });
  assert.equal(wrong.status, 401);
  // A token signed with another secret is refused on B, and is in no room.
  const forged = tab(b, t, { auth: { token: tokenFor('42', { secret: 'another-secret' }) } });
  const err = await waitConnectError(forged.socket);
  assert.equal(err.message, 'Authentication error');
  assert.deepEqual(err.data, { reason: 'bad signature' });
  const res = await barrier(a, '42', [me]);
  assert.equal(res.sockets, 1, 'the refused socket is counted nowhere');
  assert.deepEqual(notices(me).map((e) => e[0]), ['barrier']);
  await assertCleanStop(a);
  await assertCleanStop(b);
});

test('cluster notify without ?wait=1: 202 at once, delivered and sockets unknown (null), and the notification still reaches the tab on the other instance', { skip }, async (t) => {
  const { a, b } = await notifyCluster(t);
  const me = await userTab(b, t, '42');
  const res = await post(a, { user: '42', event: 'fast', data: 1 });
  assert.equal(res.status, 202, res.text);
  assert.deepEqual(res.json, { delivered: null, user: '42', event: 'fast', sockets: null });
  assert.deepEqual(await waitHeard(me, (e) => e[0] === 'fast'), ['fast', 1]);
  const nobody = await post(b, { user: 'nobody', event: 'void' });
  assert.equal(nobody.status, 202);
  assert.equal(nobody.json.delivered, null);
  await assertCleanStop(a);
  await assertCleanStop(b);
});
