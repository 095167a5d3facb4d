// Helpers for the app_notify*.test.mjs files: start apps/notify in
// production mode (NOTIFY_SECRET / NOTIFY_API_KEY set) or development mode
// (both unset), mint HS256 tokens here with node:crypto (independently of
// the app's own tools), POST /api/notify, and record what a socket hears.

import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import assert from 'node:assert/strict';
import { startServer, request, SIOLUA_ROOT, until } from './server.mjs';
import { client, waitConnect, errorLines, stopProblems } from './sio.mjs';

// NOTIFY_APP_DIR: run the tests against another copy of the app.
export const NOTIFY_DIR = process.env.NOTIFY_APP_DIR || join(SIOLUA_ROOT, 'apps', 'notify');
export const SECRET = 'test-secret-0123456789abcdef-notify';
export const API_KEY = 'test-api-key-k3y';
// The app's built-in development values (apps/notify/notify/*.lua).
export const DEV_SECRET = 'dev-secret-change-me';
export const DEV_KEY = 'dev-key-change-me';

// Starts `siolua run apps/notify`; killed when the test t ends.
//   dev: true runs without NOTIFY_SECRET / NOTIFY_API_KEY (set to "", so a
//   value in the caller's environment cannot leak in).
export function startNotify(t, { dev = false, secret = SECRET, apiKey = API_KEY, env = {}, ...opts } = {}) {
  const vars = dev ? { NOTIFY_SECRET: '', NOTIFY_API_KEY: '' } : { NOTIFY_SECRET: secret, NOTIFY_API_KEY: apiKey };
  return startServer({ appDir: NOTIFY_DIR, t, env: { ...vars, ...env }, ...opts });
}

// Stops the server and fails on a crash, a sanitizer report or any error
// line in its log (a Lua error in a handler is logged, not fatal).
export async function assertCleanStop(srv) {
  const problems = await stopProblems(srv);
  assert.deepEqual(problems, [], srv.stderr());
  assert.deepEqual(errorLines(srv.stderr()), [], srv.stderr());
}

// ---------------------------------------------------------------------------
// Tokens

export const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
export const nowSec = () => Math.floor(Date.now() / 1000);

// header.payload.signature with an HMAC-SHA256 signature over the first two
// parts; header and payload are objects (JSON-encoded) or raw strings.
export function signJwt(payload, { secret = SECRET, header = { alg: 'HS256', typ: 'JWT' } } = {}) {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

// A valid token for user, ttl seconds from now.
export function tokenFor(user, { ttl = 600, secret = SECRET, claims = {} } = {}) {
  return signJwt({ sub: user, exp: nowSec() + ttl, ...claims }, { secret });
}

export function decodeJwt(token) {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
  };
}

// ---------------------------------------------------------------------------
// POST /api/notify. body: an object (JSON-encoded) or a raw string.
// key: the Bearer key (null: no Authorization header); wait: ?wait=1 (in a
// cluster, every instance counts the user's sockets). Resolves {status,
// json (or undefined), text, headers}.
export async function notify(srv, body, { key = API_KEY, headers = {}, wait = false } = {}) {
  const h = { 'Content-Type': 'application/json', ...headers };
  if (key !== null) h.Authorization = `Bearer ${key}`;
  const res = await request(`${srv.url}/api/notify${wait ? '?wait=1' : ''}`, {
    method: 'POST',
    headers: h,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  let json;
  try { json = JSON.parse(res.text); } catch { json = undefined; }
  return { status: res.status, json, text: res.text, headers: res.headers };
}

// ---------------------------------------------------------------------------
// Sockets

// A socket.io-client socket on /notice (or opts.nsp) that records every
// event it hears, in order, as [event, ...args] in `heard` (registered
// before connecting, so "ready" is in it too). Not yet connected.
export function tab(srv, t, { nsp = '/notice', ...opts } = {}) {
  const socket = client(srv, nsp, { t, ...opts });
  const heard = [];
  socket.onAny((event, ...args) => heard.push([event, ...args]));
  return { socket, heard };
}

// A tab of user (token minted here) that has connected and heard "ready".
export async function userTab(srv, t, user, { token, auth, ...opts } = {}) {
  const tok = token ?? tokenFor(user);
  const me = tab(srv, t, { auth: auth ?? { token: tok }, ...opts });
  await waitConnect(me.socket);
  await waitHeard(me, (e) => e[0] === 'ready');
  return me;
}

// Waits until a tab has heard an event matching pred; returns it.
export async function waitHeard(me, pred, timeoutMs = 3000) {
  const found = await until(() => me.heard.find(pred), { timeoutMs });
  if (!found) throw new Error(`not heard within ${timeoutMs} ms; heard: ${JSON.stringify(me.heard)}`);
  return found;
}

// The events a tab heard other than "ready".
export const notices = (me) => me.heard.filter((e) => e[0] !== 'ready');
