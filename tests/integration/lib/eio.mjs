// engine.io-client helpers: open a session against a started server and
// collect what it receives.

import crypto from 'node:crypto';
import { Socket } from 'engine.io-client';
import WebSocket from 'ws';
import { once, until } from './server.mjs';

// Opens an engine.io-client Socket and waits for "open".
//   srv: from startServer(); t: node:test context (the socket is closed
//   when the test ends). Returns {socket, messages, handshake, waitMessages(n)}.
export async function openEio(srv, { t, transports = ['polling'], path = '/engine.io/', timeoutMs = 5000, ...opts } = {}) {
  const socket = new Socket(srv.url, { transports, path, ...opts });
  const messages = [];
  let handshake = null;
  socket.on('message', (m) => messages.push(m));
  socket.on('handshake', (h) => { handshake = h; });
  if (t) t.after(() => socket.close());
  await once(socket, 'open', { timeoutMs, failOn: ['error', 'close'] });
  return {
    socket,
    messages,
    get handshake() { return handshake; },
    // Waits until at least n messages arrived; throws with what was seen.
    async waitMessages(n, waitMs = 5000) {
      const ok = await until(() => messages.length >= n, { timeoutMs: waitMs });
      if (!ok) throw new Error(`expected ${n} messages within ${waitMs} ms, got ${messages.length}: ${JSON.stringify(messages.slice(-5).map(String))}`);
      return messages;
    },
  };
}

// ---------------------------------------------------------------------------
// Raw WebSocket (ws package) speaking Engine.IO frames by hand.
export function wsUrl(srv, query = {}, path = '/engine.io/') {
  const q = new URLSearchParams({ EIO: '4', transport: 'websocket', ...query });
  return `${srv.wsUrl}${path}?${q}`;
}

// Connects and resolves once the 101 arrived. frames: [{text}|{binary}] in
// arrival order; closed: promise of {code, reason} when the socket closes.
// Rejects if the server refuses the upgrade (err.statusCode is set).
export function openRawWs(url, { t, timeoutMs = 3000, ...wsOpts } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...wsOpts });
    const frames = [];
    let closeInfo = null;
    const closeWaiters = [];
    const frameWaiters = new Set();
    ws.on('message', (data, isBinary) => {
      frames.push(isBinary ? { binary: Buffer.from(data) } : { text: data.toString('utf8') });
      for (const w of [...frameWaiters]) w();
    });
    ws.on('close', (code, reason) => {
      closeInfo = { code, reason: reason.toString() };
      for (const w of closeWaiters) w(closeInfo);
      for (const w of [...frameWaiters]) w();
    });
    ws.on('error', () => { /* surfaced via close / unexpected-response */ });
    if (t) t.after(() => ws.terminate());
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`websocket ${url} did not open within ${timeoutMs} ms`)); }, timeoutMs);
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        const e = new Error(`websocket upgrade refused: HTTP ${res.statusCode} ${body}`);
        e.statusCode = res.statusCode;
        e.body = body;
        e.headers = res.headers;
        reject(e);
      });
      res.on('error', () => {});
    });
    ws.once('upgrade', (res) => { ws._upgradeHeaders = res.headers; });
    ws.once('open', () => {
      clearTimeout(timer);
      const closed = new Promise((r) => { if (closeInfo) r(closeInfo); else closeWaiters.push(r); });
      resolve({
        ws,
        frames,
        closed,
        headers: ws._upgradeHeaders,
        get isClosed() { return closeInfo !== null; },
        // Waits until at least n frames arrived (or the socket closed).
        waitFrames(n, waitMs = 3000) {
          return new Promise((res2, rej2) => {
            const check = () => {
              if (frames.length >= n) { done(); res2(frames); } else if (closeInfo) {
                done();
                rej2(new Error(`socket closed (${closeInfo.code}) after ${frames.length} of ${n} frames: ${JSON.stringify(frames.slice(-3))}`));
              }
            };
            const done = () => { clearTimeout(tm); frameWaiters.delete(check); };
            const tm = setTimeout(() => { done(); rej2(new Error(`expected ${n} frames within ${waitMs} ms, got ${frames.length}: ${JSON.stringify(frames.slice(-3))}`)); }, waitMs);
            frameWaiters.add(check);
            check();
          });
        },
        // Resolves true if the socket closes within waitMs.
        async closesWithin(waitMs) {
          let tm;
          const r = await Promise.race([closed.then(() => true), new Promise((r2) => { tm = setTimeout(() => r2(false), waitMs); })]);
          clearTimeout(tm);
          return r;
        },
      });
    });
  });
}

// A client frame with any header bits: { op, fin, rsv (RSV1 = 4), masked },
// for writing frames the real clients never write to ws._socket.
export function clientFrame(payload, { op = 1, fin = true, rsv = 0, masked = true } = {}) {
  const data = Buffer.from(payload);
  const head = [(fin ? 0x80 : 0) | (rsv << 4) | op];
  if (data.length < 126) head.push((masked ? 0x80 : 0) | data.length);
  else if (data.length < 65536) head.push((masked ? 0x80 : 0) | 126, data.length >> 8, data.length & 0xff);
  else {
    head.push((masked ? 0x80 : 0) | 127);
    for (let i = 7; i >= 0; i--) head.push(Math.floor(data.length / 2 ** (8 * i)) & 0xff);
  }
  if (!masked) return Buffer.concat([Buffer.from(head), data]);
  const mask = crypto.randomBytes(4);
  return Buffer.concat([Buffer.from(head), mask, Buffer.from(data.map((b, i) => b ^ mask[i % 4]))]);
}

// The close code of a raw socket (openRawWs), waiting at most waitMs.
export async function closeCode(c, waitMs = 2000) {
  let tm;
  const info = await Promise.race([c.closed, new Promise((r) => { tm = setTimeout(() => r(null), waitMs); })]);
  clearTimeout(tm);
  if (!info) throw new Error(`the server did not close the websocket within ${waitMs} ms`);
  return info.code;
}

// The first byte of every frame the server sends on a raw socket, from
// now on: 0xC1 is a compressed text message (FIN, RSV1), 0x81 a plain one.
export function frameHeads(ws) {
  const heads = [];
  let buf = Buffer.alloc(0);
  ws._socket.prependListener('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf.length < 2) return;
      let len = buf[1] & 0x7f;
      let hl = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); hl = 4; }
      else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); hl = 10; }
      if (buf.length < hl + len) return;
      heads.push(buf[0]);
      buf = buf.subarray(hl + len);
    }
  });
  return heads;
}
