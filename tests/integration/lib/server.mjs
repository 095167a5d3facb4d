// Test helpers: start the siolua binary on a free port, and speak raw HTTP,
// raw TCP and raw Engine.IO to it. Every server started here is killed when
// its test ends (when given the test context) and, at the latest, when the
// test process exits, so a failing test never leaves a listener behind.

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after as afterAll } from 'node:test';

// Every server this file started whose log shows a sanitizer report (the
// ASan+UBSan CI build) or a crash fails the test file at its end, whatever
// the individual tests checked.
const SANITIZER = /(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:)[^\n]*/;
const sanitizerReports = [];
afterAll(() => {
  if (sanitizerReports.length) {
    throw new Error(`sanitizer reports from siolua:\n${sanitizerReports.join('\n')}`);
  }
});

export { sleep };

export const SIOLUA_BIN = process.env.SIOLUA_BIN || '/work/main/build/siolua';
export const SIOLUA_ROOT = process.env.SIOLUA_ROOT || '/work/main';

const running = new Set();
const tempDirs = new Set();

process.on('exit', () => {
  for (const p of running) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
  for (const d of tempDirs) {
    try { rmSync(d, { recursive: true, force: true }); } catch { /* ignore */ }
  }
});

// Creates a temporary app directory with public/ and the given files
// (path relative to the app dir -> string or Buffer). Removed at exit.
export function makeAppDir(files = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'siolua-app-'));
  tempDirs.add(dir);
  mkdirSync(join(dir, 'public'), { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
  return dir;
}

export function makeTempDir(prefix = 'siolua-tmp-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

// Runs the binary to completion (for CLI tests). Resolves with
// {code, signal, stdout, stderr}; kills it after timeoutMs.
export function runCli(args, { timeoutMs = 5000, env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(SIOLUA_BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(proc);
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    proc.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`siolua ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    proc.on('error', (err) => { clearTimeout(timer); running.delete(proc); reject(err); });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(proc);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

// Starts `siolua run APP_DIR --port 0 --host 127.0.0.1 ...args` and waits
// for the "listening on http://HOST:PORT" line on stderr (https:// with TLS:
// url and wsUrl follow).
//   t: optional node:test context; the server is killed when that test ends.
//   wrapper: optional argv prefix that runs the binary (e.g. valgrind ...);
//     its last element is the binary.
//   cwd: the working directory (default: this process's).
//   replaceEnv: env is the whole environment, not additions to this one's.
//   bind: false leaves --port and --host out (the environment or a
//     configuration file gives them).
// Returns {url, port, host, proc, stderr(), stop(signal), exited}.
export async function startServer({ appDir, args = [], env = {}, t, timeoutMs = 10000, logLevel, wrapper, cwd, replaceEnv, bind = true } = {}) {
  const dir = appDir ?? makeAppDir();
  const argv = ['run', dir, ...(bind ? ['--port', '0', '--host', '127.0.0.1'] : [])];
  if (logLevel) argv.push('--log-level', logLevel);
  argv.push(...args);
  const cmd = wrapper ? wrapper[0] : SIOLUA_BIN;
  if (wrapper) argv.unshift(...wrapper.slice(1));
  const proc = spawn(cmd, argv, {
    env: replaceEnv ? env : { ...process.env, ...env },
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  let log = '';
  const LOG_CAP = 4 * 1024 * 1024;
  const append = (d) => {
    if (log.length < LOG_CAP) log += d;
  };
  proc.stdout.setEncoding('utf8').on('data', append);
  proc.stderr.setEncoding('utf8').on('data', append);

  const exited = new Promise((resolve) => {
    proc.on('close', (code, signal) => {
      running.delete(proc);
      const m = SANITIZER.exec(log);
      if (m) sanitizerReports.push(m[0]);
      resolve({ code, signal });
    });
  });

  let scheme = 'http';
  const port = await new Promise((resolve, reject) => {
    let done = false;
    const finish = (fn, v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      proc.stderr.off('data', onData);
      fn(v);
    };
    const onData = () => {
      const m = /listening on (https?):\/\/([^\s:/]+|\[[^\]]+\]):(\d+)/.exec(log);
      if (m) {
        scheme = m[1];
        finish(resolve, Number(m[3]));
      }
    };
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      finish(reject, new Error(`siolua did not print "listening on" within ${timeoutMs} ms; output:\n${log}`));
    }, timeoutMs);
    proc.stderr.on('data', onData);
    proc.on('error', (err) => finish(reject, new Error(`cannot start ${SIOLUA_BIN}: ${err.message}`)));
    exited.then(({ code, signal }) =>
      finish(reject, new Error(`siolua exited (code ${code}, signal ${signal}) before listening; output:\n${log}`)));
  });

  const server = {
    host: '127.0.0.1',
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    wsUrl: `${scheme === 'https' ? 'wss' : 'ws'}://127.0.0.1:${port}`,
    appDir: dir,
    proc,
    exited,
    stderr: () => log,
    // Sends the signal and waits for the exit; SIGKILL after 5 s.
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(signal);
        const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        const r = await exited;
        clearTimeout(killer);
        return r;
      }
      return exited;
    },
    kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      return exited;
    },
  };
  if (t && typeof t.after === 'function') t.after(() => server.kill());
  return server;
}

// ---------------------------------------------------------------------------
// HTTP with node's http and https modules (no agent: one connection per request).
// Resolves {status, headers, body (Buffer), text}.
// An https:// URL goes over TLS, trusting ca (a PEM) when given.
export function request(url, { method = 'GET', headers = {}, body, timeoutMs = 5000, ca } = {}) {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.request(url, { method, headers, agent: false, ...(ca ? { ca } : {}) }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        const buf = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, body: buf, text: buf.toString('utf8') });
      });
      res.on('error', (e) => { clearTimeout(timer); reject(e); });
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`${method} ${url}: no response within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (e) => { clearTimeout(timer); reject(e); });
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

// ---------------------------------------------------------------------------
// Raw TCP: write bytes exactly as given and watch what comes back.
export class RawConn {
  constructor(sock) {
    this.sock = sock;
    this.data = Buffer.alloc(0);
    this.closed = false;
    this.error = null;
    this.waiters = new Set();
    sock.on('data', (d) => { this.data = Buffer.concat([this.data, d]); this._wake(); });
    sock.on('end', () => { /* half close from server: keep reading until close */ });
    sock.on('close', () => { this.closed = true; this._wake(); });
    sock.on('error', (e) => { this.error = e; });
  }

  static connect(port, host = '127.0.0.1') {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host });
      sock.once('connect', () => { sock.off('error', reject); resolve(new RawConn(sock)); });
      sock.once('error', reject);
    });
  }

  _wake() {
    for (const w of [...this.waiters]) w();
  }

  write(bytes) {
    return new Promise((resolve) => {
      if (this.closed || this.sock.destroyed) return resolve(false);
      this.sock.write(bytes, (err) => resolve(!err));
    });
  }

  // Resolves true when pred(this.data, this.closed) holds, false on timeout.
  waitFor(pred, timeoutMs = 3000) {
    return new Promise((resolve) => {
      if (pred(this.data, this.closed)) return resolve(true);
      const check = () => {
        if (pred(this.data, this.closed)) { done(true); }
      };
      const done = (v) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(v);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.waiters.add(check);
    });
  }

  waitClose(timeoutMs = 3000) {
    return this.waitFor((_d, closed) => closed, timeoutMs);
  }

  // Waits until n complete responses have arrived; returns them parsed.
  async readResponses(n, { timeoutMs = 3000, head = false } = {}) {
    const ok = await this.waitFor((d, closed) => {
      const { responses } = parseHttpResponses(d, { head });
      return responses.length >= n || closed;
    }, timeoutMs);
    const { responses, rest } = parseHttpResponses(this.data, { head });
    if (!ok && responses.length < n) {
      throw new Error(`expected ${n} response(s) within ${timeoutMs} ms, got ${responses.length}; raw: ${JSON.stringify(this.data.toString('latin1').slice(0, 2000))}`);
    }
    return { responses, rest };
  }

  destroy() {
    this.sock.destroy();
  }
}

// Parses consecutive HTTP/1.x responses out of buf. Only Content-Length and
// chunked bodies are understood; a response without either (and not 1xx,
// 204, 304, or a HEAD answer) takes the rest of the buffer.
export function parseHttpResponses(buf, { head = false } = {}) {
  const responses = [];
  let off = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', off);
    if (end < 0) break;
    const headText = buf.subarray(off, end).toString('latin1');
    const lines = headText.split('\r\n');
    const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
    if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(headText.slice(0, 200))}`);
    const headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      if (i < 0) continue;
      const k = l.slice(0, i).trim().toLowerCase();
      const v = l.slice(i + 1).trim();
      headers[k] = headers[k] !== undefined ? `${headers[k]}, ${v}` : v;
    }
    const status = Number(m[2]);
    let bodyStart = end + 4;
    let body;
    let next;
    if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      body = Buffer.alloc(0);
      next = bodyStart;
    } else if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length']);
      if (buf.length < bodyStart + len) break;
      body = buf.subarray(bodyStart, bodyStart + len);
      next = bodyStart + len;
    } else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
      const parts = [];
      let p = bodyStart;
      let complete = false;
      for (;;) {
        const le = buf.indexOf('\r\n', p);
        if (le < 0) break;
        const size = parseInt(buf.subarray(p, le).toString('latin1'), 16);
        if (Number.isNaN(size)) throw new Error('bad chunk size');
        if (size === 0) {
          const te = buf.indexOf('\r\n\r\n', le);
          if (te < 0) break;
          p = te + 4;
          complete = true;
          break;
        }
        if (buf.length < le + 2 + size + 2) break;
        parts.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
      if (!complete) break;
      body = Buffer.concat(parts);
      next = p;
    } else {
      body = buf.subarray(bodyStart);
      next = buf.length;
    }
    responses.push({ httpVersion: m[1], status, reason: m[3] || '', headers, body, text: body.toString('utf8') });
    off = next;
    if (off >= buf.length) break;
  }
  return { responses, rest: buf.subarray(off) };
}

// One request over a fresh raw connection; resolves with the first response
// and whether the server closed the connection afterwards.
export async function rawRequest(port, bytes, { timeoutMs = 3000, head = false, closeWaitMs = 0 } = {}) {
  const c = await RawConn.connect(port);
  try {
    await c.write(bytes);
    const { responses } = await c.readResponses(1, { timeoutMs, head });
    if (closeWaitMs) await c.waitClose(closeWaitMs);
    return { response: responses[0], raw: c.data, closed: c.closed, conn: c };
  } finally {
    c.destroy();
  }
}

// ---------------------------------------------------------------------------
// Raw Engine.IO (v4) over HTTP long-polling.
export const SEP = '\x1e';

export function eioUrl(base, path = '/engine.io/', query = {}) {
  const q = new URLSearchParams({ EIO: '4', transport: 'polling', ...query });
  return `${base}${path}?${q}`;
}

// Opens a polling session; returns {sid, handshake, response}.
export async function eioHandshake(base, { path = '/engine.io/', headers = {} } = {}) {
  const res = await request(eioUrl(base, path), { headers });
  if (res.status !== 200 || res.text[0] !== '0') {
    throw new Error(`polling handshake failed: ${res.status} ${JSON.stringify(res.text)}`);
  }
  const handshake = JSON.parse(res.text.slice(1));
  return { sid: handshake.sid, handshake, response: res };
}

export function eioGet(base, sid, { path = '/engine.io/', timeoutMs = 5000, headers = {} } = {}) {
  return request(eioUrl(base, path, { sid }), { timeoutMs, headers });
}

export function eioPost(base, sid, body, { path = '/engine.io/', headers = {}, timeoutMs = 5000 } = {}) {
  return request(eioUrl(base, path, { sid }), {
    method: 'POST',
    body,
    headers: { 'Content-Type': 'text/plain;charset=UTF-8', ...headers },
    timeoutMs,
  });
}

// Splits a polling payload into packets.
export function decodePayload(text) {
  return text.split(SEP);
}

// Probes a session without disturbing it: a GET naming the sid with the
// other transport (and no upgrade) is answered at once, 400 code 3 "Bad
// request" while the session lives and 400 code 1 once it is gone, where a
// plain polling GET would park (and aborting it would close the session).
export async function probeSession(base, sid, { path = '/engine.io/', transport = 'polling', timeoutMs = 2000 } = {}) {
  const other = transport === 'polling' ? 'websocket' : 'polling';
  const res = await request(eioUrl(base, path, { sid, transport: other }), { timeoutMs });
  let code;
  try { code = JSON.parse(res.text).code; } catch { code = undefined; }
  return { state: code === 1 ? 'gone' : code === 3 ? 'alive' : 'unknown', res };
}

// Waits until the session is gone (see probeSession), then returns the
// answer to a polling GET naming it, which the caller checks is 400 code 1.
// If the session is still there at the deadline, returns the probe answer.
export async function waitSessionGone(base, sid, { path = '/engine.io/', transport = 'polling', deadlineMs = 2000 } = {}) {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const p = await probeSession(base, sid, { path, transport });
    if (p.state === 'gone') return request(eioUrl(base, path, { sid }), { timeoutMs: 2000 });
    if (Date.now() > end) {
      p.res.stillAlive = p.state === 'alive';
      return p.res;
    }
    await sleep(20);
  }
}

// Resolves with the first value of emitter's event, rejects on timeout or on
// one of the failure events.
export function once(emitter, event, { timeoutMs = 3000, failOn = [] } = {}) {
  return new Promise((resolve, reject) => {
    const onFail = (name) => (...a) => {
      cleanup();
      reject(new Error(`got "${name}" while waiting for "${event}": ${a.map(String).join(' ')}`));
    };
    const fails = failOn.map((n) => [n, onFail(n)]);
    const onEvent = (...a) => { cleanup(); resolve(a.length > 1 ? a : a[0]); };
    const timer = setTimeout(() => { cleanup(); reject(new Error(`timed out after ${timeoutMs} ms waiting for "${event}"`)); }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      emitter.off(event, onEvent);
      for (const [n, f] of fails) emitter.off(n, f);
    };
    emitter.on(event, onEvent);
    for (const [n, f] of fails) emitter.on(n, f);
  });
}

// Polls fn() until it returns truthy or timeoutMs passes; returns the last value.
export async function until(fn, { timeoutMs = 3000, stepMs = 10 } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > end) return v;
    await sleep(stepMs);
  }
}

// Normalises a message received by engine.io-client or ws to a Buffer
// (binary) or string (text).
export function asBytes(data) {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new Error(`not binary: ${typeof data}`);
}
