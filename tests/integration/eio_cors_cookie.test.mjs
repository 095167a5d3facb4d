// CORS and the sid cookie on the Engine.IO endpoint, compared with what
// Node's engine.io answers through the `cors` package (defaults: methods
// GET,HEAD,PUT,PATCH,POST,DELETE, preflight 204 with Content-Length 0,
// request headers reflected, origin reflected when it is in the list) and the
// `cookie` option (io=<sid>; Path=/; HttpOnly; SameSite=Lax).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, request, eioUrl, eioHandshake, eioPost, eioGet } from './lib/server.mjs';
import { openRawWs, wsUrl } from './lib/eio.mjs';

const ALLOWED = 'http://allowed.example';
const OTHER = 'http://other.example:8080';
const EVIL = 'http://evil.example';

let listed; // origin list + credentials + cookie=true
let star; // origin * + methods GET,POST + cookie=mysid
let plain; // no cors, no cookie
before(async () => {
  [listed, star, plain] = await Promise.all([
    startServer({ args: ['--eio-echo', '/engine.io/', '--set', `cors.origin=${ALLOWED},${OTHER}`, '--set', 'cors.credentials=true', '--set', 'cookie=true'] }),
    startServer({ args: ['--eio-echo', '/engine.io/', '--set', 'cors.origin=*', '--set', 'cors.methods=GET,POST', '--set', 'cookie=mysid'] }),
    startServer({ args: ['--eio-echo', '/engine.io/'] }),
  ]);
});
after(async () => {
  await Promise.all([listed?.stop(), star?.stop(), plain?.stop()]);
});

function preflight(srv, origin, extra = {}) {
  return request(eioUrl(srv.url), {
    method: 'OPTIONS',
    headers: {
      Origin: origin,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'content-type,x-requested-with',
      ...extra,
    },
  });
}

function varyList(res) {
  return (res.headers.vary || '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
}

test('preflight from a listed origin answers 204 with the origin reflected, credentials, default methods and the requested headers', async () => {
  const res = await preflight(listed, OTHER);
  assert.equal(res.status, 204);
  assert.equal(res.body.length, 0);
  assert.equal(res.headers['access-control-allow-origin'], OTHER);
  assert.equal(res.headers['access-control-allow-credentials'], 'true');
  assert.equal(res.headers['access-control-allow-methods'], 'GET,HEAD,PUT,PATCH,POST,DELETE');
  assert.equal(res.headers['access-control-allow-headers'], 'content-type,x-requested-with');
  const vary = varyList(res);
  assert.ok(vary.includes('origin'), `Vary: ${res.headers.vary}`);
  assert.ok(vary.includes('access-control-request-headers'), `Vary: ${res.headers.vary}`);
  if (res.headers['content-length'] !== undefined) assert.equal(res.headers['content-length'], '0');
});

test('preflight from an origin that is not listed gets no Access-Control-Allow-Origin (Node still answers 204)', async () => {
  const res = await preflight(listed, EVIL);
  assert.equal(res.status, 204);
  assert.equal(res.headers['access-control-allow-origin'], undefined);
});

test('handshake from a listed origin reflects it with credentials and Vary: Origin', async () => {
  const res = await request(eioUrl(listed.url), { headers: { Origin: ALLOWED } });
  assert.equal(res.status, 200);
  assert.equal(res.text[0], '0');
  assert.equal(res.headers['access-control-allow-origin'], ALLOWED);
  assert.equal(res.headers['access-control-allow-credentials'], 'true');
  assert.ok(varyList(res).includes('origin'), `Vary: ${res.headers.vary}`);
});

test('handshake from an origin that is not listed still opens (as Node does) but without Access-Control-Allow-Origin', async () => {
  const res = await request(eioUrl(listed.url), { headers: { Origin: EVIL } });
  assert.equal(res.status, 200);
  assert.equal(res.text[0], '0');
  assert.equal(res.headers['access-control-allow-origin'], undefined);
});

test('POST and GET of an open session carry the CORS headers for a listed origin too', async () => {
  const { sid } = await eioHandshake(listed.url, { headers: { Origin: ALLOWED } });
  const p = await eioPost(listed.url, sid, '4x', { headers: { Origin: ALLOWED } });
  assert.equal(p.status, 200);
  assert.equal(p.headers['access-control-allow-origin'], ALLOWED);
  assert.equal(p.headers['access-control-allow-credentials'], 'true');
  const g = await eioGet(listed.url, sid, { headers: { Origin: ALLOWED } });
  assert.equal(g.text, '4x');
  assert.equal(g.headers['access-control-allow-origin'], ALLOWED);
});

test('error answers carry the CORS headers too (so a browser can read them)', async () => {
  const res = await request(eioUrl(listed.url, '/engine.io/', { transport: 'abc' }), { headers: { Origin: ALLOWED } });
  assert.equal(res.status, 400);
  assert.deepEqual(JSON.parse(res.text), { code: 0, message: 'Transport unknown' });
  assert.equal(res.headers['access-control-allow-origin'], ALLOWED);
});

test('websocket 101 answer to a listed origin carries Access-Control-Allow-Origin', async (t) => {
  const c = await openRawWs(wsUrl(listed), { t, origin: ALLOWED });
  assert.equal(c.headers['access-control-allow-origin'], ALLOWED);
});

test('cookie=true: the handshake sets io=<sid>; Path=/; HttpOnly; SameSite=Lax', async () => {
  const { sid, response } = await eioHandshake(listed.url);
  assert.deepEqual(response.headers['set-cookie'], [`io=${sid}; Path=/; HttpOnly; SameSite=Lax`]);
});

test('cookie=true: requests after the handshake set no cookie', async () => {
  const { sid } = await eioHandshake(listed.url);
  const p = await eioPost(listed.url, sid, '4c');
  assert.equal(p.headers['set-cookie'], undefined);
  const g = await eioGet(listed.url, sid);
  assert.equal(g.text, '4c');
  assert.equal(g.headers['set-cookie'], undefined);
});

test('cors.origin=* answers Access-Control-Allow-Origin: * to any origin, without credentials', async () => {
  const res = await request(eioUrl(star.url), { headers: { Origin: EVIL } });
  assert.equal(res.status, 200);
  assert.equal(res.headers['access-control-allow-origin'], '*');
  assert.equal(res.headers['access-control-allow-credentials'], undefined);
});

test('cors.methods sets Access-Control-Allow-Methods on the preflight', async () => {
  const res = await preflight(star, ALLOWED);
  assert.equal(res.status, 204);
  assert.equal(res.headers['access-control-allow-origin'], '*');
  assert.equal(res.headers['access-control-allow-methods'], 'GET,POST');
});

test('cookie=<name> sets that cookie name with the same attributes', async () => {
  const { sid, response } = await eioHandshake(star.url);
  assert.deepEqual(response.headers['set-cookie'], [`mysid=${sid}; Path=/; HttpOnly; SameSite=Lax`]);
});

test('without cors options no Access-Control-Allow-Origin is sent, and without cookie no Set-Cookie', async () => {
  const res = await request(eioUrl(plain.url), { headers: { Origin: ALLOWED } });
  assert.equal(res.status, 200);
  assert.equal(res.headers['access-control-allow-origin'], undefined);
  assert.equal(res.headers['set-cookie'], undefined);
});

test('without cors options an OPTIONS request is just a non-GET handshake: 400 code 2', async () => {
  const res = await preflight(plain, ALLOWED);
  assert.equal(res.status, 400);
  assert.deepEqual(JSON.parse(res.text), { code: 2, message: 'Bad handshake method' });
});
