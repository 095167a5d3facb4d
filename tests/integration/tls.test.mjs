// HTTPS and WSS on the server (--tls-cert/--tls-key, the file's tls = {},
// sio.configure's tls.cert/tls.key), with certificates made at test time:
// the real socket.io-client and engine.io-client over both transports, the
// upgrade and binary, socket.handshake.secure and req.secure; plaintext on
// the TLS port answered 400; TLS 1.2 at least, ALPN http/1.1; SIGHUP
// reloading the certificate while a client stays connected (a bad new one
// keeps the old); the relay between cluster nodes and workers, which stays
// plaintext on a private listener; headless Chromium trusting the test's
// certificate by its public key hash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import tls from 'node:tls';
import { Socket as EioSocket } from 'engine.io-client';
import {
  startServer, request, runCli, makeAppDir, makeTempDir, until, SIOLUA_ROOT, RawConn,
} from './lib/server.mjs';
import { io, closeClient } from './lib/sio.mjs';
import { startRedis, redisClient, waitSubscribed, SKIP as NO_REDIS } from './lib/cluster.mjs';
import { makeCerts, spkiHash } from './lib/certs.mjs';
import { launchChromium } from './lib/browser.mjs';
import { parseMetrics, value } from './lib/prom.mjs';

const APP = join(SIOLUA_ROOT, 'tests', 'apps', 'echo');
const certs = makeCerts({ good: 'DNS:localhost,IP:127.0.0.1', next: 'DNS:localhost,IP:127.0.0.1' });
const TLS_ARGS = ['--tls-cert', certs.good.certFile, '--tls-key', certs.good.keyFile];
const CA_PEM = readFileSync(certs.caFile, 'utf8');
const caOf = () => [CA_PEM];

function startTls(t, { args = [], ...opts } = {}) {
  return startServer({ appDir: APP, t, args: ['--no-reload', ...TLS_ARGS, ...args], ...opts });
}

function sio(srv, t, opts = {}) {
  const s = io(srv.url, { forceNew: true, reconnection: false, ca: caOf(), ...opts });
  t.after(() => closeClient(s));
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', (e) => reject(new Error(`connect_error: ${e.message}`)));
  });
}

// The certificate a fresh TLS connection to srv is shown.
function peerCert(srv, opts = {}) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: srv.port, servername: 'localhost', ca: caOf(), ...opts }, () => {
      const c = s.getPeerCertificate();
      const alpn = s.alpnProtocol;
      const version = s.getProtocol();
      s.end();
      resolve({ fingerprint: c.fingerprint256, alpn, version });
    });
    s.on('error', reject);
  });
}

const fingerprintOf = (pem) => new X509Certificate(pem).fingerprint256;

test('socket.io-client over HTTPS polling, WSS and the upgrade: echo, binary, handshake.secure', async (t) => {
  const srv = await startTls(t);
  assert.match(srv.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  for (const transports of [['polling'], ['websocket'], ['polling', 'websocket']]) {
    const s = await sio(srv, t, { transports });
    if (transports.length === 2) await until(() => s.io.engine.transport.name === 'websocket');
    assert.deepEqual(await s.emitWithAck('whoami'), { secure: true, transport: transports.at(-1) });
    assert.equal(await s.emitWithAck('echo', 'héllo'), 'héllo');
    const back = await s.emitWithAck('echo', Buffer.from([0, 1, 2, 255]));
    assert.deepEqual([...back], [0, 1, 2, 255]);
    // A big message crosses several TLS records.
    const big = 'x'.repeat(300000);
    assert.equal(await s.emitWithAck('echo', big), big);
    closeClient(s);
  }
  const route = await request(`${srv.url}/secure`, { ca: caOf() });
  assert.equal(route.status, 200);
  assert.deepEqual(JSON.parse(route.text), { secure: true });
});

test('engine.io-client over TLS, both transports', async (t) => {
  const srv = await startServer({ appDir: makeAppDir({}), t, args: ['--no-reload', ...TLS_ARGS, '--eio-echo', '/engine.io'] });
  for (const transports of [['polling'], ['websocket'], ['polling', 'websocket']]) {
    const s = new EioSocket(srv.url, { transports, ca: caOf(), path: '/engine.io' });
    t.after(() => s.close());
    await new Promise((resolve, reject) => { s.once('open', resolve); s.once('error', reject); });
    const got = new Promise((resolve) => s.once('message', resolve));
    s.send('ping over tls');
    assert.equal(await got, 'ping over tls');
    s.close();
  }
});

test('plain HTTP or ws:// on the TLS port gets a plaintext 400 saying to use https://', async (t) => {
  const srv = await startTls(t);
  const plain = await request(`http://127.0.0.1:${srv.port}/secure`);
  assert.equal(plain.status, 400);
  assert.equal(plain.headers.connection, 'close');
  assert.match(plain.text, /This port speaks TLS: use https:\/\/ \(or wss:\/\/\) instead\./);
  const c = await RawConn.connect(srv.port);
  await c.write('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n' +
    'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  assert.ok(await c.waitClose(3000));
  assert.match(c.data.toString(), /^HTTP\/1\.1 400 Bad Request\r\n/);
  // Bytes that are neither TLS nor HTTP: the handshake fails, one line, a close.
  const junk = await RawConn.connect(srv.port);
  await junk.write(Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
  assert.ok(await junk.waitClose(3000));
  await until(() => /\[tls\] 127\.0\.0\.1: handshake failed: /.test(srv.stderr()));
  assert.match(srv.stderr(), /\[tls\] 127\.0\.0\.1: plaintext HTTP on the TLS port, answered 400/);
  assert.match(srv.stderr(), /\[tls\] 127\.0\.0\.1: handshake failed: /);
});

test('TLS 1.2 at least; ALPN chooses http/1.1 and refuses a client that offers only h2', async (t) => {
  const srv = await startTls(t);
  const ok = await peerCert(srv, { ALPNProtocols: ['h2', 'http/1.1'] });
  assert.equal(ok.alpn, 'http/1.1');
  assert.equal(ok.version, 'TLSv1.3');
  assert.equal((await peerCert(srv, { maxVersion: 'TLSv1.2' })).version, 'TLSv1.2');
  await assert.rejects(peerCert(srv, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }), /protocol|version|alert/i);
  await assert.rejects(peerCert(srv, { ALPNProtocols: ['h2'] }), /no application protocol|alert/i);
  // Not trusted without the CA: the client refuses the self-made certificate.
  await assert.rejects(peerCert(srv, { ca: undefined }), /self-signed|unable to (get|verify)/i);
});

test('SIGHUP reloads the certificate, a connected client stays; a bad new certificate keeps the old one', async (t) => {
  const dir = makeTempDir('siolua-tls-reload-');
  const certFile = join(dir, 'server.pem');
  const keyFile = join(dir, 'server.key');
  copyFileSync(certs.good.certFile, certFile);
  copyFileSync(certs.good.keyFile, keyFile);
  const srv = await startServer({ appDir: APP, t, args: ['--no-reload', '--tls-cert', certFile, '--tls-key', keyFile] });
  assert.equal((await peerCert(srv)).fingerprint, fingerprintOf(certs.good.cert));
  const s = await sio(srv, t, { transports: ['websocket'] });
  let shouts = 0;
  s.on('shout', () => { shouts++; });

  copyFileSync(certs.next.certFile, certFile);
  copyFileSync(certs.next.keyFile, keyFile);
  srv.proc.kill('SIGHUP');
  await until(() => /certificate reloaded from/.test(srv.stderr()));
  assert.equal((await peerCert(srv)).fingerprint, fingerprintOf(certs.next.cert), 'new connections get the new one');
  assert.equal(await s.emitWithAck('echo', 'still here'), 'still here', 'the connected client stayed');
  assert.equal(s.io.engine.transport.name, 'websocket');

  writeFileSync(certFile, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
  srv.proc.kill('SIGHUP');
  await until(() => /certificate not reloaded, the previous one stays/.test(srv.stderr()));
  assert.equal(srv.stderr().match(/certificate not reloaded/g).length, 1, 'logged once');
  assert.match(srv.stderr(), new RegExp(`certificate not reloaded, the previous one stays: cannot read certificate ${certFile}`));
  assert.equal((await peerCert(srv)).fingerprint, fingerprintOf(certs.next.cert), 'the old one stays');
  s.emit('shout', 'after both reloads');
  await until(() => shouts === 1);
  assert.equal(shouts, 1);
  assert.equal(await s.emitWithAck('echo', 'and still'), 'and still');
});

test('bad TLS settings are refused at start (and by --check) with the reason', async () => {
  const app = makeAppDir({});
  const cases = [
    [['--tls-cert', certs.good.certFile], /TLS needs both tls\.cert and tls\.key/],
    [['--tls-cert', '/nonexistent/c.pem', '--tls-key', certs.good.keyFile], /TLS: cannot read certificate \/nonexistent\/c\.pem: No such file or directory/],
    [['--tls-cert', certs.good.certFile, '--tls-key', certs.next.keyFile], /TLS: the key .*next\.key does not match the certificate/],
    [['--tls-cert', certs.good.keyFile, '--tls-key', certs.good.keyFile], /TLS: cannot read certificate .*good\.key/],
  ];
  for (const [args, re] of cases) {
    for (const extra of [[], ['--check'], ['--workers', '2']]) {
      const r = await runCli(['run', app, '--port', '0', ...args, ...extra]);
      assert.equal(r.code, 2, `${args.join(' ')} ${extra}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /listening/);
    }
  }
  // The file's tls table and sio.configure's tls.cert/tls.key work the same.
  const conf = join(makeTempDir('siolua-tls-conf-'), 'c.lua');
  writeFileSync(conf, `return { tls = { cert = ${JSON.stringify(certs.good.certFile)}, key = ${JSON.stringify(certs.good.keyFile)} } }\n`);
  const r = await runCli(['run', app, '--config', conf, '--check']);
  assert.equal(r.code, 0, r.stderr);
});

test('tls.cert and tls.key from sio.configure, and from a configuration file', async (t) => {
  const lua = `local sio = require "siolua"\nsio.configure { tls = { cert = ${JSON.stringify(certs.good.certFile)}, key = ${JSON.stringify(certs.good.keyFile)} } }\n`;
  const a = await startServer({ appDir: makeAppDir({ 'main.lua': lua }), t, args: ['--no-reload'] });
  assert.match(a.url, /^https:/);
  assert.equal((await peerCert(a)).fingerprint, fingerprintOf(certs.good.cert));
  const conf = join(makeTempDir('siolua-tls-conf-'), 'c.lua');
  writeFileSync(conf, `return { tls = { cert = ${JSON.stringify(certs.next.certFile)}, key = ${JSON.stringify(certs.next.keyFile)} } }\n`);
  const b = await startServer({ appDir: makeAppDir({ 'main.lua': lua }), t, args: ['--no-reload', '--config', conf] });
  assert.equal((await peerCert(b)).fingerprint, fingerprintOf(certs.next.cert), 'the file over sio.configure');
});

// Raw Engine.IO over HTTPS: open a session on one node, then talk to it
// through another (which relays to the owner's plaintext private listener).
async function eio(url, query, { method = 'GET', body } = {}) {
  const q = new URLSearchParams({ EIO: '4', transport: 'polling', ...query });
  return request(`${url}/socket.io/?${q}`, { method, body, ca: caOf(), headers: body ? { 'Content-Type': 'text/plain;charset=UTF-8' } : {} });
}

test('cluster with TLS: a request for a session another node owns is relayed over its plaintext private listener', { skip: NO_REDIS, timeout: 60000 }, async (t) => {
  const redis = await startRedis();
  const nodes = [];
  try {
    for (let i = 0; i < 2; i++) nodes.push(await startTls(t, { args: ['--redis', redis.url, '--log-level', 'debug'] }));
    const c = await redisClient(redis);
    try { await waitSubscribed(c, ['/'], 2); } finally { await c.quit(); }
  } finally {
    t.after(() => redis.stop());
  }
  const [a, b] = nodes;
  for (const n of nodes) assert.match(n.stderr(), /relayed requests from the other servers come in plaintext on 127\.0\.0\.1:\d+/);
  const open = await eio(a.url, {});
  const sid = JSON.parse(open.text.slice(1)).sid;
  // Through B: CONNECT to "/", then the answer.
  assert.equal((await eio(b.url, { sid }, { method: 'POST', body: '40' })).text, 'ok');
  const reply = await eio(b.url, { sid });
  assert.match(reply.text, /^40\{"sid":"[^"]+"\}$/);
  assert.match(b.stderr(), /relaying (GET|POST) \/socket\.io\//);
});

test('--workers 2 with TLS: every worker speaks TLS on the shared port; polling requests spread over them are relayed; metrics gather', { timeout: 60000 }, async (t) => {
  const srv = await startTls(t, { args: ['--workers', '2', '--set', 'metrics=/metrics', '--log-level', 'debug'] });
  assert.match(srv.stderr(), /serving .* with 2 workers .*listening on https:\/\//);
  const open = await eio(srv.url, {});
  const sid = JSON.parse(open.text.slice(1)).sid;
  assert.equal((await eio(srv.url, { sid }, { method: 'POST', body: '40' })).text, 'ok');
  const reply = await eio(srv.url, { sid });
  assert.match(reply.text, /^40\{"sid":"[^"]+"\}$/);
  // Each request on a connection of its own: the kernel spreads them, and
  // those reaching the other worker are relayed (2^-12 odds they all land
  // on the owner).
  for (let i = 0; i < 12; i++) assert.equal((await eio(srv.url, { sid }, { method: 'POST', body: '42["echo","x"]' })).text, 'ok');
  assert.match(srv.stderr(), /relaying POST \/socket\.io\/\?\S* to 127\.0\.0\.1:\d+/);
  // Fresh connections, so the kernel spreads them: each answers for both.
  for (let i = 0; i < 4; i++) {
    const r = await until(async () => {
      const res = await request(`${srv.url}/metrics`, { ca: caOf() });
      const f = parseMetrics(res.text);
      return value(f, 'siolua_worker_up', { worker: '1' }) === 1 && value(f, 'siolua_worker_up', { worker: '2' }) === 1 ? f : null;
    });
    assert.ok(r, 'both workers in the scrape');
  }
});

test('headless Chromium trusts the test certificate by its key hash: the page, socket.io.js, polling and the WSS upgrade', { timeout: 60000 }, async (t) => {
  const srv = await startTls(t);
  const url = `https://localhost:${srv.port}/`;
  const context = await launchChromium({ t, args: [`--ignore-certificate-errors-spki-list=${spkiHash(certs.good.certFile)}`] });
  const page = context.pages()[0] ?? await context.newPage();
  const failed = [];
  page.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
  const res = await page.goto(url, { waitUntil: 'load' });
  assert.equal(res.status(), 200);
  await page.waitForFunction(() => document.getElementById('secure').textContent !== '', null, { timeout: 15000 });
  await page.waitForFunction(() => document.getElementById('binary').textContent !== '', null, { timeout: 15000 });
  const text = async (id) => (await page.textContent(`#${id}`)).trim();
  assert.equal(await text('page'), 'https:');
  assert.equal(await text('status'), 'connected');
  assert.equal(await text('transport'), 'websocket');
  assert.equal(await text('secure'), 'true on websocket');
  assert.equal(await text('echo'), 'hello over TLS');
  assert.equal(await text('binary'), '1,2,3,250');
  await page.screenshot({ path: `${process.env.SIOLUA_SCREENSHOT_DIR || '/tmp'}/siolua-tls-browser.png` });
  assert.deepEqual(failed.filter((f) => !/ERR_ABORTED/.test(f)), []);
  // Without the key hash, Chromium refuses the certificate: the trust above
  // was the test's, not a browser that accepts anything.
  const untrusting = await launchChromium({ t });
  const other = untrusting.pages()[0] ?? await untrusting.newPage();
  await assert.rejects(other.goto(url), /ERR_CERT_AUTHORITY_INVALID/);
});

