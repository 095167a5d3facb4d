// Helpers for the admin_*.test.mjs files: the Node reference server
// (node-admin-server.cjs: socket.io 4.8 + @socket.io/admin-ui's
// instrument), a dashboard's connection that records everything the
// server sends it, and a normal form of those events (ids, dates and
// ports replaced by names) so siolua's and Node's can be compared field by
// field.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { io } from 'socket.io-client';
import { startServer, SIOLUA_ROOT, until } from './server.mjs';

export const APP_DIR = join(SIOLUA_ROOT, 'tests', 'apps', 'admin');
export const CREDENTIALS = { username: 'admin', password: 'changeit' };

// siolua running tests/apps/admin with env (ADMIN_* variables).
export function startSiolua(t, { env = {}, args = [] } = {}) {
  return startServer({ appDir: APP_DIR, t, env, args: ['--no-reload', ...args] });
}

// The Node reference with the same app and env; redisUrl: in a cluster.
// Killed when t ends. Returns {url, port, proc, output()}.
export async function startNode(t, { env = {}, redisUrl } = {}) {
  const argv = [join(import.meta.dirname, 'node-admin-server.cjs')];
  if (redisUrl) argv.push(redisUrl);
  const proc = spawn(process.execPath, argv, {
    env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], cwd: join(SIOLUA_ROOT, 'tests'),
  });
  let out = '';
  proc.stderr.setEncoding('utf8').on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node admin server did not start: ${out}`)), 10000);
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = /^listening (\d+)/.exec(line);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    exited.then((code) => { clearTimeout(timer); reject(new Error(`node admin server exited (${code}): ${out}`)); });
  });
  return { url: `http://127.0.0.1:${port}`, port, proc, output: () => out };
}

// A dashboard's connection to url + nsp, as the UI opens it, recording
// every event in order (onAny sees those sent before the CONNECT too).
// Returns {socket, events, waitFor(name, pred), since(i)}: events is the
// list of [name, ...args]; waitFor resolves with the args of the first
// event named name (after index `from`) for which pred(args) holds.
export function dashboard(t, url, { auth = CREDENTIALS, nsp = '/admin', transports = ['websocket'], ...opts } = {}) {
  const socket = io(url + nsp, { forceNew: true, reconnection: false, transports, auth, ...opts });
  const events = [];
  socket.onAny((...args) => events.push(args));
  t.after(() => { socket.disconnect(); });
  const find = (name, pred, from) => events.findIndex((e, i) => i >= from && e[0] === name && pred(e.slice(1)));
  return {
    socket,
    events,
    async waitFor(name, pred = () => true, { from = 0, timeoutMs = 6000 } = {}) {
      const ok = await until(() => find(name, pred, from) >= 0, { timeoutMs });
      if (!ok) {
        throw new Error(`no "${name}" matching within ${timeoutMs} ms; got:\n${events.map((e) => JSON.stringify(e).slice(0, 300)).join('\n')}`);
      }
      return events[find(name, pred, from)].slice(1);
    },
    // The index of the next event from now (for waitFor's from).
    mark() { return events.length; },
  };
}

export function connectError(socket, timeoutMs = 8000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no connect_error')), timeoutMs);
    socket.once('connect_error', (err) => { clearTimeout(timer); resolve(err); });
    socket.once('connect', () => { clearTimeout(timer); reject(new Error('connected')); });
  });
}

export function waitConnected(socket, timeoutMs = 8000) {
  if (socket.connected) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('not connected')), timeoutMs);
    socket.once('connect', () => { clearTimeout(timer); resolve(socket); });
    socket.once('connect_error', (err) => { clearTimeout(timer); reject(new Error(`connect_error: ${err.message}`)); });
  });
}

const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

// The events with what differs from run to run named instead: the ids in
// `names` (string -> placeholder), dates, handshake times, the port in
// Host, WebSocket keys and polling's cache-busting t.
export function normalize(value, names) {
  const walk = (v, key) => {
    if (typeof v === 'string') {
      if (names.has(v)) return names.get(v);
      if (ISO_DATE.test(v)) return '<date>';
      if (key === 'host') return '<host>';
      if (key === 'sec-websocket-key') return '<key>';
      if (key === 'time') return '<time>';
      if (key === 't') return '<t>';
      if (key === 'url') return v.replace(/([?&]t=)[^&]*/, '$1<t>');
      return v;
    }
    if (typeof v === 'number' && key === 'issued') return '<issued>';
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v && typeof v === 'object') {
      const out = {};
      for (const k of Object.keys(v)) out[k] = walk(v[k], k);
      return out;
    }
    return v;
  };
  return walk(value);
}

// The sum of each aggregated event over the server_stats given, by
// "type" or "type:subType".
export function totals(stats) {
  const sum = {};
  for (const s of stats) {
    for (const e of s.aggregatedEvents) {
      const k = e.subType === undefined ? e.type : `${e.type}:${e.subType}`;
      sum[k] = (sum[k] || 0) + e.count;
    }
  }
  return sum;
}
