// sio.fetch seen through socket.io-client, against tests/apps/fetch and real
// HTTP and HTTPS servers that this file runs in Node: a handler fetches what
// the test asks and acks the response (or the error). Certificates are made
// at run time with the openssl command into a temporary directory: a test
// CA, a server certificate it signs for localhost/127.0.0.1, one it signs
// for another name, and a self-signed one nobody trusts. Servers count the
// connections they accept, so reuse is checked where it happens.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import { makeTempDir, runCli, sleep, until } from './lib/server.mjs';
import { makeCerts } from './lib/certs.mjs';
import { APPS_DIR, startApp, connected, ask, askWithin, nextEvent, stopProblems, errorLines } from './lib/sio.mjs';

let dir, ca, srv, sock;
const servers = {};

// ---------------------------------------------------------------------------
// The servers

// One handler for the plain and TLS servers. Paths:
//   /echo                 {method, url, headers, body} of the request
//   /status/N             status N with a short body
//   /headers              repeated headers and two set-cookie
//   /chunked              a body in chunks, over time
//   /gzip, /gzip-always   gzip when asked / always; /deflate, /deflate-raw (?n=N: N words)
//   /bomb                 20 MiB of zeros, gzipped
//   /big?n=N              N bytes
//   /redirect/N           302 chain down to /redirect/0
//   /to?url=U&status=S    S (302) to U
//   /loop                 302 to itself
//   /long-location        302 to a 9 KB reference that resolves to /redirect/0
//   /never                headers never come
//   /slow-body            headers now, the body never ends
//   /slow?ms=N            the answer after N ms
function handler(req, res) {
  const u = new URL(req.url, 'http://x');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const p = u.pathname;
    if (p === '/echo') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: body.toString('latin1'), conn: req.socket.connId }));
    } else if (p.startsWith('/status/')) {
      res.statusCode = Number(p.slice(8));
      res.end(`status ${res.statusCode}`);
    } else if (p === '/headers') {
      res.setHeader('x-multi', ['a', 'b']);
      res.setHeader('set-cookie', ['a=1; Path=/', 'b=2, with a comma']);
      res.setHeader('X-Upper', 'Value');
      res.end('h');
    } else if (p === '/chunked') {
      res.write('one,');
      setTimeout(() => { res.write('two,'); setTimeout(() => res.end('three'), 20); }, 20);
    } else if (p === '/gzip' || p === '/gzip-always') {
      const text = 'compressible '.repeat(1000);
      if (p === '/gzip-always' || /gzip/.test(req.headers['accept-encoding'] || '')) {
        res.setHeader('content-encoding', 'gzip');
        res.end(zlib.gzipSync(text));
      } else {
        res.end(text);
      }
    } else if (p === '/deflate' || p === '/deflate-raw') {
      res.setHeader('content-encoding', 'deflate');
      const text = 'deflated '.repeat(Number(u.searchParams.get('n') || 500));
      res.end(p === '/deflate' ? zlib.deflateSync(text) : zlib.deflateRawSync(text));
    } else if (p === '/bomb') {
      res.setHeader('content-encoding', 'gzip');
      res.end(zlib.gzipSync(Buffer.alloc(20 << 20)));
    } else if (p === '/big') {
      res.end(Buffer.alloc(Number(u.searchParams.get('n')), 'x'));
    } else if (p.startsWith('/redirect/')) {
      const n = Number(p.slice(10));
      if (n === 0) return res.end('done');
      res.statusCode = 302;
      res.setHeader('location', `/redirect/${n - 1}`);
      res.end();
    } else if (p === '/to') {
      res.statusCode = Number(u.searchParams.get('status') || 302);
      res.setHeader('location', u.searchParams.get('url'));
      res.end('moved');
    } else if (p === '/long-location') {
      res.statusCode = 302;
      res.setHeader('location', '/' + './'.repeat(4500) + 'redirect/0');
      res.end();
    } else if (p === '/loop') {
      res.statusCode = 302;
      res.setHeader('location', '/loop');
      res.end();
    } else if (p === '/never') {
      /* no answer */
    } else if (p === '/slow-body') {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
    } else if (p === '/slow') {
      setTimeout(() => res.end('slow'), Number(u.searchParams.get('ms')));
    } else {
      res.statusCode = 404;
      res.end('not found');
    }
  });
}

// Counts accepted connections on server s (s.accepted) and tags sockets.
function counting(s) {
  s.accepted = 0;
  s.on('connection', (c) => { s.accepted += 1; c.connId = s.accepted; });
  s.on('secureConnection', (c) => { c.connId = s.accepted; });
  return s;
}

function listen(s) {
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s.address().port)));
}

// A TCP server run by hand: onConn(socket, index) decides what to do.
function raw(onConn) {
  const s = net.createServer((c) => { s.accepted += 1; onConn(c, s.accepted); });
  s.accepted = 0;
  return s;
}

before(async () => {
  dir = makeTempDir('siolua-fetch-');
  ca = makeCerts({ good: 'DNS:localhost,IP:127.0.0.1', other: 'DNS:other.example' }, { cn: 'siolua fetch test CA' });
  servers.plain = counting(http.createServer(handler));
  servers.plain2 = counting(http.createServer(handler));
  servers.secure = counting(https.createServer(ca.good, handler));
  servers.other = counting(https.createServer(ca.other, handler));
  servers.self = counting(https.createServer(ca.self, handler));
  // Accepts and never says a word (TLS: no ServerHello; HTTP: no answer).
  servers.silent = raw(() => {});
  // Answers the first request of each connection with keep-alive, then
  // drops the connection when the next request arrives on it.
  servers.stale = raw((c, n) => {
    let seen = 0;
    c.on('data', () => {
      seen += 1;
      if (seen === 2) return c.destroy();
      c.write(`HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: keep-alive\r\n\r\nconn-${n}`);
    });
  });
  // A body that ends when the connection does (no length, not chunked).
  servers.eof = raw((c) => {
    c.once('data', () => c.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end'));
  });
  // TLS, a body that ends with the server's close_notify while its TCP
  // connection stays open (as a server waiting for ours before closing).
  servers.notify = raw((c) => {
    const side = new Duplex({
      read() {},
      write(chunk, enc, cb) { c.write(chunk, cb); },
      final(cb) { cb(); }, /* the close_notify goes; the TCP connection stays */
    });
    c.on('data', (d) => side.push(d));
    c.on('error', () => {});
    const t = new tls.TLSSocket(side, { isServer: true, secureContext: tls.createSecureContext(ca.good) });
    t.on('error', () => {});
    t.once('data', () => t.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close_notify'));
  });
  // TLS 1.2 (its alerts travel as records of type 21, so they can be told
  // from data without the keys), one answer whose Keep-Alive timeout makes
  // the client close the connection at once; records the TLS record types
  // the client sent after the answer, resolved when its TCP side ends.
  servers.bye = raw((c) => {
    let answered = false;
    let after = Buffer.alloc(0);
    c.on('data', (d) => { if (answered) after = Buffer.concat([after, d]); });
    c.on('error', () => {});
    c.on('close', () => {
      const types = [];
      for (let i = 0; i + 5 <= after.length; i += 5 + after.readUInt16BE(i + 3)) types.push(after[i]);
      servers.bye.recordsAfter.push(types);
    });
    const side = new Duplex({ read() {}, write(chunk, enc, cb) { c.write(chunk, cb); }, final(cb) { cb(); } });
    c.on('data', (d) => side.push(d));
    const t = new tls.TLSSocket(side, { isServer: true, secureContext: tls.createSecureContext({ ...ca.good, maxVersion: 'TLSv1.2' }) });
    t.on('error', () => {});
    t.once('data', () => {
      t.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\nKeep-Alive: timeout=1\r\n\r\nbye', () => { answered = true; });
    });
  });
  servers.bye.recordsAfter = [];
  for (const [name, s] of Object.entries(servers)) s.port = await listen(s);
  srv = await startApp('fetch', { args: ['--no-reload'] });
  sock = await connected(srv, '/');
});

after(async () => {
  sock?.disconnect();
  const problems = srv ? await stopProblems(srv) : [];
  for (const s of Object.values(servers)) { s.closeAllConnections?.(); s.close(); }
  assert.deepEqual(problems, [], srv?.stderr());
  assert.deepEqual(errorLines(srv.stderr()), [], srv.stderr());
});

const url = (name, path, host = '127.0.0.1') => `${name === 'plain' || name === 'plain2' || name === 'silent' || name === 'stale' || name === 'eof' ? 'http' : 'https'}://${host}:${servers[name].port}${path}`;
const fetchIt = (u, opts = {}, ms = 5000) => askWithin(ms, sock, 'fetch', u, opts);
const TLS = () => ({ ca_file: ca.caFile });

// ---------------------------------------------------------------------------
// Requests and responses

test('GET: status, status text, lower-case headers, body, final url; the request carries our defaults and the caller\'s headers', async () => {
  const [res, err] = await fetchIt(url('plain', '/echo?x=1'), { headers: { 'X-Custom': 'yes', 'x-num': 42 } });
  assert.equal(err, undefined);
  assert.equal(res.status, 200);
  assert.equal(res.status_text, 'OK');
  assert.equal(res.ok, true);
  assert.equal(res.redirected, false);
  assert.equal(res.url, url('plain', '/echo?x=1'));
  assert.equal(res.headers['content-type'], 'application/json');
  const seen = JSON.parse(res.body);
  assert.equal(seen.method, 'GET');
  assert.equal(seen.url, '/echo?x=1');
  assert.equal(seen.headers['x-custom'], 'yes');
  assert.equal(seen.headers['x-num'], '42');
  assert.match(seen.headers['user-agent'], /^siolua\/\d/);
  assert.equal(seen.headers['accept-encoding'], 'gzip, deflate');
  assert.equal(seen.headers.host, `127.0.0.1:${servers.plain.port}`);
  assert.equal(seen.headers['content-length'], undefined);
});

test('every method reaches the server as sent (upper-cased); bodies go with Content-Length; HEAD gets no body', async () => {
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PURGE', 'post']) {
    const opts = { method };
    if (!['GET', 'OPTIONS'].includes(method)) opts.body = `body of ${method}`;
    const [res, err] = await fetchIt(url('plain', '/echo'), opts);
    assert.equal(err, undefined, method);
    const seen = JSON.parse(res.body);
    assert.equal(seen.method, method.toUpperCase());
    assert.equal(seen.body, opts.body ?? '');
    assert.equal(seen.headers['content-length'], opts.body ? String(Buffer.byteLength(opts.body)) : undefined);
  }
  // POST without a body still says how long it is.
  const [empty] = await fetchIt(url('plain', '/echo'), { method: 'POST' });
  assert.equal(JSON.parse(empty.body).headers['content-length'], '0');
  const [head, err] = await fetchIt(url('plain', '/echo'), { method: 'HEAD' });
  assert.equal(err, undefined);
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal(head.headers['content-type'], 'application/json');
});

test('a table body is sent as JSON with content-type application/json (a given content-type wins); res:json() decodes exactly', async () => {
  const [res] = await fetchIt(url('plain', '/echo'), { method: 'POST', body: { n: 1, list: [1, 2.5, 'x'], nested: { ok: true } } });
  const seen = JSON.parse(res.body);
  assert.equal(seen.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(seen.body), { list: [1, 2.5, 'x'], n: 1, nested: { ok: true } });
  const [res2] = await fetchIt(url('plain', '/echo'), { method: 'POST', body: { a: 1 }, headers: { 'Content-Type': 'application/vnd.x+json' } });
  assert.equal(JSON.parse(res2.body).headers['content-type'], 'application/vnd.x+json');
  const [decoded, err] = await askWithin(5000, sock, 'fetch_json', url('plain', '/echo?n=1'), {});
  assert.equal(err, undefined);
  assert.equal(decoded.method, 'GET');
  assert.equal(typeof decoded.conn, 'number');
  // A body that is not JSON: res:json() gives nil, err.
  const [none, jerr] = await askWithin(5000, sock, 'fetch_json', url('plain', '/status/200'), {});
  assert.equal(none, null);
  assert.match(jerr, /^the response body is not JSON: /);
});

test('binary bodies go both ways byte for byte', async () => {
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const [res, err] = await fetchIt(url('plain', '/echo'), { method: 'PUT', body: bytes, _binary: true });
  assert.equal(err, undefined);
  const seen = JSON.parse(Buffer.from(res.body).toString('utf8'));
  assert.deepEqual(Buffer.from(seen.body, 'latin1'), bytes);
  const [big] = await fetchIt(url('plain', '/big?n=300000'), { _binary: true });
  assert.equal(Buffer.from(big.body).length, 300000);
});

test('repeated headers are joined with ", "; set-cookie is a list', async () => {
  const [res] = await fetchIt(url('plain', '/headers'));
  assert.equal(res.headers['x-multi'], 'a, b');
  assert.deepEqual(res.headers['set-cookie'], ['a=1; Path=/', 'b=2, with a comma']);
  assert.equal(res.headers['x-upper'], 'Value');
  assert.equal(res.headers['X-Upper'], undefined);
});

test('an HTTP error status is a response, not an error', async () => {
  for (const code of [404, 500, 503]) {
    const [res, err] = await fetchIt(url('plain', `/status/${code}`));
    assert.equal(err, undefined);
    assert.equal(res.status, code);
    assert.equal(res.ok, false);
    assert.equal(res.body, `status ${code}`);
  }
});

test('chunked bodies and bodies that end with the connection are read whole', async () => {
  const [res] = await fetchIt(url('plain', '/chunked'));
  assert.equal(res.headers['transfer-encoding'], 'chunked');
  assert.equal(res.body, 'one,two,three');
  const [eof, err] = await fetchIt(url('eof', '/'));
  assert.equal(err, undefined);
  assert.equal(eof.body, 'until the end');
});

test('gzip bodies are decoded, asked for or not; deflate with and without its zlib header', async () => {
  const text = 'compressible '.repeat(1000);
  const [asked] = await fetchIt(url('plain', '/gzip'));
  assert.equal(asked.headers['content-encoding'], 'gzip');
  assert.equal(asked.body, text);
  const [unasked] = await fetchIt(url('plain', '/gzip-always'), { headers: { 'accept-encoding': 'identity' } });
  assert.equal(unasked.headers['content-encoding'], 'gzip');
  assert.equal(unasked.body, text);
  const [identity] = await fetchIt(url('plain', '/gzip'), { headers: { 'Accept-Encoding': 'identity' } });
  assert.equal(identity.headers['content-encoding'], undefined);
  assert.equal(identity.body, text);
  for (const p of ['/deflate', '/deflate-raw']) {
    const [res, err] = await fetchIt(url('plain', p));
    assert.equal(err, undefined, p);
    assert.equal(res.body, 'deflated '.repeat(500), p);
  }
  // 16398 bytes whose last match crosses the 16 KiB the inflater fills at
  // a time: a raw stream has no trailer left to read after it, so the
  // match's end must be drained with no input left (it was reported as
  // "truncated deflate body").
  for (const p of ['/deflate?n=1822', '/deflate-raw?n=1822']) {
    const [res, err] = await fetchIt(url('plain', p));
    assert.equal(err, undefined, p);
    assert.equal(res.body, 'deflated '.repeat(1822), p);
  }
});

test('the body limit: max_body, and the 16 MiB default against a gzip bomb', async () => {
  const [res, err] = await fetchIt(url('plain', '/big?n=2000'), { max_body: 1000 });
  assert.equal(res, null);
  assert.match(err, /^response body too large: more than 1000 bytes from http:\/\/127\.0\.0\.1:\d+\/big\?n=2000$/);
  const [ok] = await fetchIt(url('plain', '/big?n=1000'), { max_body: 1000 });
  assert.equal(ok.body.length, 1000);
  const [bomb, berr] = await fetchIt(url('plain', '/bomb'));
  assert.equal(bomb, null);
  assert.match(berr, /too large: more than 16777216 bytes/);
});

// ---------------------------------------------------------------------------
// Redirects

test('redirects are followed (res.url, res.redirected); manual gives the 3xx; too many is an error', async () => {
  const [res] = await fetchIt(url('plain', '/redirect/3'));
  assert.equal(res.status, 200);
  assert.equal(res.body, 'done');
  assert.equal(res.redirected, true);
  assert.equal(res.url, url('plain', '/redirect/0'));
  const [manual] = await fetchIt(url('plain', '/redirect/3'), { redirect: 'manual' });
  assert.equal(manual.status, 302);
  assert.equal(manual.headers.location, '/redirect/2');
  assert.equal(manual.redirected, false);
  const [loop, err] = await fetchIt(url('plain', '/loop'));
  assert.equal(loop, null);
  assert.match(err, /^too many redirects \(more than 5\), the last from http:\/\/127\.0\.0\.1:\d+\/loop$/);
  // A Location longer than a URL may be is resolved whole (it was cut at
  // 8 KiB, and what was left led elsewhere: here to / instead of /redirect/0).
  const [long, lerr] = await fetchIt(url('plain', '/long-location'));
  assert.equal(lerr, undefined);
  assert.equal(long.url, url('plain', '/redirect/0'));
  assert.equal(long.body, 'done');
  const [few, ferr] = await fetchIt(url('plain', '/redirect/3'), { max_redirects: 2 });
  assert.equal(few, null);
  assert.match(ferr, /too many redirects \(more than 2\)/);
  const [five] = await fetchIt(url('plain', '/redirect/5'));
  assert.equal(five.body, 'done');
});

test('303 turns a POST into a GET without its body; 307 keeps both; credentials stay with their origin', async () => {
  const to = (target, status) => url('plain', `/to?status=${status}&url=${encodeURIComponent(target)}`);
  const [r303] = await fetchIt(to('/echo', 303), { method: 'POST', body: 'payload', headers: { 'content-type': 'text/plain' } });
  let seen = JSON.parse(r303.body);
  assert.equal(seen.method, 'GET');
  assert.equal(seen.body, '');
  assert.equal(seen.headers['content-type'], undefined);
  const [r307] = await fetchIt(to('/echo', 307), { method: 'POST', body: 'payload' });
  seen = JSON.parse(r307.body);
  assert.equal(seen.method, 'POST');
  assert.equal(seen.body, 'payload');
  // Same origin: the Authorization header follows; another origin: it doesn't.
  const auth = { headers: { authorization: 'Bearer s3cret', cookie: 'c=1', 'x-keep': 'k' } };
  const [same] = await fetchIt(to('/echo', 302), auth);
  assert.equal(JSON.parse(same.body).headers.authorization, 'Bearer s3cret');
  const [cross] = await fetchIt(to(url('plain2', '/echo'), 302), auth);
  seen = JSON.parse(cross.body);
  assert.equal(seen.headers.authorization, undefined);
  assert.equal(seen.headers.cookie, undefined);
  assert.equal(seen.headers['x-keep'], 'k');
  assert.equal(seen.headers.host, `127.0.0.1:${servers.plain2.port}`);
});

test('a redirect to https is followed with TLS; https to http is refused', async () => {
  const [up, err] = await fetchIt(url('plain', `/to?url=${encodeURIComponent(url('secure', '/echo'))}`), TLS());
  assert.equal(err, undefined);
  assert.equal(up.url, url('secure', '/echo'));
  assert.equal(JSON.parse(up.body).method, 'GET');
  const [down, derr] = await fetchIt(url('secure', `/to?url=${encodeURIComponent(url('plain', '/echo'))}`), TLS());
  assert.equal(down, null);
  assert.match(derr, /^redirect from https to http refused \(https:\/\/.* to http:\/\/.*\); use redirect = "manual" to follow it yourself$/);
});

// ---------------------------------------------------------------------------
// TLS

test('https: verified against the CA given with ca_file; without it the system store does not know the CA', async () => {
  const [res, err] = await fetchIt(url('secure', '/echo'), TLS());
  assert.equal(err, undefined);
  assert.equal(res.status, 200);
  const [byName, nerr] = await fetchIt(url('secure', '/echo', 'localhost'), TLS());
  assert.equal(nerr, undefined);
  assert.equal(JSON.parse(byName.body).headers.host, `localhost:${servers.secure.port}`);
  const [none, verr] = await fetchIt(url('secure', '/echo'));
  assert.equal(none, null);
  assert.equal(verr, `certificate verify failed: unable to get local issuer certificate (https://127.0.0.1:${servers.secure.port})`);
});

test('https: the server\'s close_notify ends a body that ends with the connection, TCP open or not', async () => {
  const [res, err] = await fetchIt(url('notify', '/'), { ...TLS(), timeout: 3000 });
  assert.equal(err, undefined);
  assert.equal(res.body, 'until close_notify');
});

test('https: a connection the client ends gets its close_notify before the TCP close', async () => {
  const [res, err] = await fetchIt(url('bye', '/'), { ...TLS(), timeout: 3000 });
  assert.equal(err, undefined);
  assert.equal(res.body, 'bye');
  // "Keep-Alive: timeout=1" leaves no idle time worth keeping (the client
  // closes a second early): the connection ends now, and after the answer
  // the client sent exactly one record, an alert (close_notify).
  const deadline = Date.now() + 3000;
  while (!servers.bye.recordsAfter.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(servers.bye.recordsAfter, [[21]]);
});

test('https: a self-signed certificate and a host name mismatch are refused with their reason', async () => {
  const [self, err] = await fetchIt(url('self', '/'), TLS());
  assert.equal(self, null);
  assert.equal(err, `certificate verify failed: self-signed certificate (https://127.0.0.1:${servers.self.port})`);
  const [byName, nerr] = await fetchIt(url('other', '/', 'localhost'), TLS());
  assert.equal(byName, null);
  assert.equal(nerr, `certificate verify failed: hostname mismatch (https://localhost:${servers.other.port})`);
  const [byIp, ierr] = await fetchIt(url('other', '/'), TLS());
  assert.equal(byIp, null);
  assert.match(ierr, /^certificate verify failed: IP address mismatch/);
  // TLS spoken to a plain HTTP server.
  const [plain, perr] = await fetchIt(`https://127.0.0.1:${servers.plain.port}/`);
  assert.equal(plain, null);
  assert.match(perr, /^handshake failed: /);
});

test('fetchCaFile (sio.configure) makes every fetch trust a CA; a missing file stops the start with its reason', async (t) => {
  const other = await startApp('fetch', { args: ['--no-reload'], env: { FETCH_CA_FILE: ca.caFile }, t });
  const s = await connected(other, '/', { t });
  const [res, err] = await askWithin(5000, s, 'fetch', url('secure', '/echo'), {});
  assert.equal(err, undefined);
  assert.equal(res.status, 200);
  s.disconnect();
  assert.deepEqual(await stopProblems(other), []);
  await assert.rejects(startApp('fetch', { args: ['--no-reload'], env: { FETCH_CA_FILE: join(dir, 'missing.pem') }, t }),
    /main\.lua:\d+: sio\.configure: bad value '.*missing\.pem' for fetchCaFile: expected a readable PEM file of CA certificates/);
  // The command line checks the file before anything starts.
  const r = await runCli(['run', join(APPS_DIR, 'fetch'), '--port', '0', '--set', `fetchCaFile=${ca.good.keyFile}`]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /bad value '.*good\.key' for fetchCaFile: expected a readable PEM file of CA certificates/);
});

test('a body larger than luaMemoryLimit allows is nil, "not enough memory", and the server carries on', async (t) => {
  const small = await startApp('fetch', { args: ['--no-reload', '--set', 'luaMemoryLimit=20000000'], t });
  const s = await connected(small, '/', { t });
  const [big, err] = await askWithin(10000, s, 'fetch', url('plain', '/big?n=30000000'), { max_body: 40000000 });
  assert.equal(big, null);
  assert.equal(err, 'not enough memory');
  const [ok] = await askWithin(5000, s, 'fetch', url('plain', '/big?n=1000'), {});
  assert.equal(ok.body.length, 1000);
  s.disconnect();
  assert.deepEqual(await stopProblems(small), []);
});

// ---------------------------------------------------------------------------
// Failures and timeouts

test('DNS failure, refused connection and a bad URL are nil, err with their words', async () => {
  const [dns, derr] = await fetchIt('http://nope.invalid/');
  assert.equal(dns, null);
  assert.match(derr, /^DNS lookup for nope\.invalid failed: /);
  const probe = net.createServer();
  const port = await listen(probe);
  await new Promise((r) => probe.close(r));
  const [refused, rerr] = await fetchIt(`http://127.0.0.1:${port}/`);
  assert.equal(refused, null);
  assert.equal(rerr, `cannot connect to 127.0.0.1:${port}: connection refused`);
  const [bad, berr] = await fetchIt('ftp://example.com/');
  assert.equal(bad, null);
  assert.equal(berr, "unsupported scheme 'ftp' (http or https)");
});

test('timeouts: connect (TLS never answered), response headers, and the whole request', async () => {
  const [c, cerr] = await fetchIt(`https://127.0.0.1:${servers.silent.port}/`, { connect_timeout: 300 });
  assert.equal(c, null);
  assert.equal(cerr, `connect timeout: 127.0.0.1:${servers.silent.port} did not finish the TLS handshake within 300 ms`);
  const [h, herr] = await fetchIt(url('plain', '/never'), { headers_timeout: 300 });
  assert.equal(h, null);
  assert.equal(herr, `timeout: no response headers from 127.0.0.1:${servers.plain.port} within 300 ms`);
  const [w, werr] = await fetchIt(url('plain', '/slow-body'), { timeout: 400 });
  assert.equal(w, null);
  assert.equal(werr, `timeout: GET ${url('plain', '/slow-body')} not complete within 400 ms`);
  // The whole timeout bounds the connect phase too.
  const [t2, terr] = await fetchIt(`http://127.0.0.1:${servers.silent.port}/`, { timeout: 300 });
  assert.equal(t2, null);
  assert.match(terr, /^timeout: GET .* not complete within 300 ms$/);
  // A slow answer within the limits is a response.
  const [slow] = await fetchIt(url('plain', '/slow?ms=200'), { headers_timeout: 2000, timeout: 3000 });
  assert.equal(slow.body, 'slow');
});

// ---------------------------------------------------------------------------
// The pool

test('keep-alive: sequential fetches to one server use one connection (http and https)', async () => {
  for (const name of ['plain2', 'secure']) {
    const before = servers[name].accepted;
    const conns = new Set();
    for (let i = 0; i < 10; i++) {
      const [res, err] = await fetchIt(url(name, '/echo'), TLS());
      assert.equal(err, undefined);
      conns.add(JSON.parse(res.body).conn);
    }
    // One connection served all ten (opened now, or kept from a test before).
    assert.equal(conns.size, 1, `${name}: ${[...conns]}`);
    assert.ok(servers[name].accepted - before <= 1, name);
  }
});

test('100 concurrent fetches from one handler set all succeed over at most 16 connections', async () => {
  const before = servers.plain2.accepted;
  const [statuses, errors] = await askWithin(20000, sock, 'many', url('plain2', '/slow?ms=20'), 100);
  assert.deepEqual(errors, []);
  assert.equal(statuses.length, 100);
  assert.ok(statuses.every((s) => s === 200));
  const opened = servers.plain2.accepted - before;
  assert.ok(opened >= 1 && opened <= 16, `opened ${opened}`);
});

test('a kept-alive connection the server dropped: GET is sent again on a new one, POST fails', async () => {
  const s = servers.stale;
  const [a] = await fetchIt(`http://127.0.0.1:${s.port}/a`);
  assert.equal(a.body, 'conn-1');
  const [b, err] = await fetchIt(`http://127.0.0.1:${s.port}/b`);
  assert.equal(err, undefined);
  assert.equal(b.body, 'conn-2');
  assert.equal(s.accepted, 2);
  // conn-2 is idle now and drops the POST: not idempotent, so not sent again.
  const [c, cerr] = await fetchIt(`http://127.0.0.1:${s.port}/c`, { method: 'POST', body: 'once' });
  assert.equal(c, null);
  assert.equal(cerr, `connection to 127.0.0.1:${s.port} closed before the response came`);
  assert.equal(s.accepted, 2);
  const [d] = await fetchIt(`http://127.0.0.1:${s.port}/d`);
  assert.equal(d.body, 'conn-3');
});

// ---------------------------------------------------------------------------
// Misuse, reload, shutdown

test('misuse raises with the caller\'s place: unknown option, bad values, header injection, outside a handler', async () => {
  const cases = [
    [{ timeoutt: 5 }, /main\.lua:\d+: sio\.fetch: unknown option 'timeoutt' \(method, headers/],
    [{ redirect: 'error' }, /sio\.fetch: 'redirect' must be "follow" or "manual", got "error"/],
    [{ timeout: 0 }, /sio\.fetch: 'timeout' must be a number of milliseconds from 1 to 86400000/],
    [{ max_redirects: 21 }, /'max_redirects' must be an integer from 0 to 20/],
    [{ headers: { 'x-a': 'v\r\nHost: evil' } }, /sio\.fetch: bad value for header 'x-a' \(line breaks are not allowed\)/],
    [{ headers: { 'transfer-encoding': 'chunked' } }, /header 'transfer-encoding' is managed by the HTTP client/],
    [{ body: true }, /'body' must be a string or a table \(sent as JSON\), got boolean/],
    [{ method: 'GE T' }, /bad method 'GE T'/],
  ];
  for (const [opts, re] of cases) {
    const [ok, msg] = await ask(sock, 'misuse', url('plain', '/echo'), opts);
    assert.equal(ok, false, JSON.stringify(opts));
    assert.match(msg, re);
  }
  const [ok, msg] = await ask(sock, 'misuse', 42, {});
  assert.equal(ok, false);
  assert.match(msg, /sio\.fetch: the URL must be a string, got number/);
  const [cok, cmsg] = await ask(sock, 'in_coroutine', url('plain', '/echo'));
  assert.equal(cok, false);
  assert.match(cmsg, /cannot wait here: not inside a siolua handler coroutine/);
});

test('a reload (SIGHUP) while a fetch is pending: the handler still gets its response', async () => {
  const outcome = nextEvent(sock, 'outcome', 5000);
  const [started] = await ask(sock, 'pending', url('plain', '/slow?ms=600'), 'reload');
  assert.equal(started, true);
  const [v1] = await ask(sock, 'version');
  srv.proc.kill('SIGHUP');
  await until(() => /reloaded/.test(srv.stderr()), { timeoutMs: 3000 });
  const [v2] = await ask(sock, 'version');
  assert.equal(v2, v1 + 1);
  assert.deepEqual(await outcome, ['reload', 200, null]);
});

test('shutdown cancels pending fetches at once: the server exits cleanly and the handler hears why', async (t) => {
  const other = await startApp('fetch', { args: ['--no-reload'], t });
  const s = await connected(other, '/', { t });
  for (let i = 0; i < 3; i++) {
    const [started] = await ask(s, 'pending', url('plain', '/never'), `shutdown-${i}`);
    assert.equal(started, true);
  }
  await sleep(100);
  // stop() sends SIGKILL after 5 s (a problem: not exit code 0); the
  // fetches' own timeout is 30 s, so a clean exit means they were cancelled.
  assert.deepEqual(await stopProblems(other), []);
  for (let i = 0; i < 3; i++) {
    assert.match(other.stderr(), new RegExp(`shutdown-${i}: fetch cancelled: the server is shutting down`));
  }
  assert.deepEqual(errorLines(other.stderr()), []);
});
