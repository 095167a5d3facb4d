// socket.io-client helpers for the sio_*.test.mjs files: start one of the
// Lua apps in tests/apps/, open real socket.io-client sockets against it,
// wait for events, and record the raw Engine.IO packets a client receives
// (so a test can check the exact bytes the server wrote).

import { join } from 'node:path';
import { io, Manager } from 'socket.io-client';
import { startServer, SIOLUA_ROOT, until } from './server.mjs';

export { io, Manager };

export const APPS_DIR = join(SIOLUA_ROOT, 'tests', 'apps');

// Starts `siolua run tests/apps/<name>`; same options as startServer.
export function startApp(name, opts = {}) {
  return startServer({ appDir: join(APPS_DIR, name), ...opts });
}

// The two transports a socket.io-client can be pinned to.
export const TRANSPORTS = [['websocket'], ['polling']];

// Closes a client socket and its Manager (no reconnection afterwards).
export function closeClient(socket) {
  try { socket.disconnect(); } catch { /* already closed */ }
  try { socket.io.disconnect(); } catch { /* already closed */ }
}

// Opens a socket on srv + nsp with a fresh Manager. Reconnection is off
// unless asked for, so a test never sees a stray reconnect. The socket (and
// its Manager) is closed when the test ends. Records raw packets (see tap).
export function client(srv, nsp = '/', { t, transports = ['websocket'], ...opts } = {}) {
  const socket = io(srv.url + nsp, { forceNew: true, transports, reconnection: false, ...opts });
  tap(socket.io);
  if (t) t.after(() => closeClient(socket));
  return socket;
}

// Opens a socket and waits until it is connected; rejects with the
// connect_error message when the server refuses it.
export async function connected(srv, nsp = '/', opts = {}) {
  const socket = client(srv, nsp, opts);
  await waitConnect(socket, opts.timeoutMs);
  return socket;
}

export function waitConnect(socket, timeoutMs = 5000) {
  if (socket.connected) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
    };
    const onConnect = () => { done(); resolve(socket); };
    const onError = (err) => {
      done();
      const e = new Error(`connect_error: ${err.message}`);
      e.cause = err;
      reject(e);
    };
    const timer = setTimeout(() => { done(); reject(new Error(`not connected within ${timeoutMs} ms`)); }, timeoutMs);
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
}

// Resolves with the connect_error the server answers (rejects if the
// socket connects instead).
export function waitConnectError(socket, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
    };
    const onConnect = () => { done(); reject(new Error(`connected (id ${socket.id}) but a connect_error was expected`)); };
    const onError = (err) => { done(); resolve(err); };
    const timer = setTimeout(() => { done(); reject(new Error(`no connect_error within ${timeoutMs} ms`)); }, timeoutMs);
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
}

// Resolves with the argument list of the next `event` on socket.
export function nextEvent(socket, event, timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    const onEvent = (...args) => { clearTimeout(timer); resolve(args); };
    const timer = setTimeout(() => {
      socket.off(event, onEvent);
      reject(new Error(`no "${event}" within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once(event, onEvent);
  });
}

// Resolves with the disconnect reason.
export async function nextDisconnect(socket, timeoutMs = 3000) {
  const [reason] = await nextEvent(socket, 'disconnect', timeoutMs);
  return reason;
}

// Emits with an ack and resolves with the ack's argument list.
export function ask(socket, event, ...args) {
  return askWithin(3000, socket, event, ...args);
}

export function askWithin(timeoutMs, socket, event, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(timeoutMs).emit(event, ...args, (err, ...reply) => {
      if (err) reject(new Error(`no ack for "${event}" within ${timeoutMs} ms`));
      else resolve(reply);
    });
  });
}

// Collects every `event` a socket receives: returns the list of argument
// lists, with wait(n) to wait for at least n of them.
export function collect(socket, event) {
  const got = [];
  socket.on(event, (...args) => got.push(args));
  // Not enumerable, so assert.deepEqual(got, [...]) compares the events only.
  Object.defineProperty(got, 'wait', {
    value: async (n, timeoutMs = 3000) => {
      const ok = await until(() => got.length >= n, { timeoutMs });
      if (!ok) throw new Error(`expected ${n} "${event}" within ${timeoutMs} ms, got ${got.length}: ${JSON.stringify(got)}`);
      return got;
    },
  });
  return got;
}

// Records every Engine.IO packet the Manager's engine receives (also
// across reconnections) into manager.rawPackets: {type, data} where data is
// a string for text and a Buffer for binary. messages() keeps the message
// packets only (the encoded Socket.IO packets and their attachments).
export function tap(manager) {
  if (manager.rawPackets) return manager.rawPackets;
  const packets = [];
  manager.rawPackets = packets;
  const attach = () => {
    const engine = manager.engine;
    if (!engine || engine.__tapped) return;
    engine.__tapped = true;
    engine.on('packet', (p) => {
      const data = typeof p.data === 'string' || p.data === undefined ? p.data : toBuffer(p.data);
      packets.push({ type: p.type, data });
    });
  };
  attach();
  manager.on('open', attach);
  // A reconnection creates a new engine before "open": catch its packets too.
  manager.on('reconnect_attempt', () => setImmediate(attach));
  Object.defineProperty(packets, 'messages', {
    value: () => packets.filter((p) => p.type === 'message').map((p) => p.data),
  });
  return packets;
}

// The Socket.IO packets (text) the client received, as encoded inside the
// Engine.IO message packet (without its "4"): e.g. '2["x",1]', '3<id>[...]'.
export function rawTexts(socket) {
  return socket.io.rawPackets.messages().filter((d) => typeof d === 'string');
}

export function toBuffer(data) {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new Error(`not binary: ${Object.prototype.toString.call(data)}`);
}

export function isBinary(v) {
  return Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v);
}

// Log lines at level "error" in a server's output (see src/base/log.c).
export function errorLines(text) {
  return text.split('\n').filter((l) => /^\S+Z error /.test(l));
}

// A short unique name for rooms and tokens.
let counter = 0;
export function uniq(prefix = 'r') {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

// Stops the server with SIGTERM and lists what went wrong: an exit other
// than 0 (a crash shows as its signal), or a sanitizer report in its log.
export async function stopProblems(srv) {
  const { code, signal } = await srv.stop();
  const problems = [];
  if (code !== 0) problems.push(`exit code ${code}, signal ${signal}`);
  const m = /(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:)[^\n]*/.exec(srv.stderr());
  if (m) problems.push(m[0]);
  return problems;
}
