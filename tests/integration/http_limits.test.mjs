// The HTTP layer against hostile input: a deadline for the whole request
// (requestTimeout), a cap on the request bodies all connections hold
// (maxBufferedRequestBytes), strict parsing (no obs-fold, no "Host : x", no
// chunk data without its CRLF, no request line without a version), a cap on
// header lines (maxHeadersCount) and Node's way with repeated headers.
// Raw sockets: the official clients never send these.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import WebSocket from 'ws';
import { scrapeValues } from './lib/prom.mjs';
import { startServer, makeAppDir, rawRequest, RawConn, request, sleep } from './lib/server.mjs';

const APP = `
local sio = require "siolua"
sio.http.route("GET", "/echo-headers", function(req, res)
  res:json({ authorization = req.headers.authorization, host = req.headers.host,
             cookie = req.headers.cookie, list = req.headers["x-list"],
             agent = req.headers["user-agent"], n = req.headers["x-last"] })
end)
sio.http.post("/body", function(req, res) res:send("got " .. #req.body) end)
sio.server:on("connection", function(socket)
  socket:emit("auth-header", socket.handshake.headers.authorization)
end)
`;

let srv;
before(async () => {
  srv = await startServer({
    appDir: makeAppDir({ 'main.lua': APP }),
    args: ['--no-reload', '--set', 'metrics=/metrics', '--set', 'requestTimeout=1500', '--set', 'httpHeaderTimeout=1000',
      '--set', 'maxBufferedRequestBytes=3000', '--set', 'pingInterval=2500', '--set', 'pingTimeout=2000'],
  });
});
after(async () => {
  const { code } = await srv.stop();
  assert.equal(code, 0, srv.stderr());
});

const linesMatching = (re) => srv.stderr().split('\n').filter((l) => re.test(l));

test('a body trickled a byte at a time gets 408 once the whole request is over requestTimeout', async () => {
  const c = await RawConn.connect(srv.port);
  await c.write('POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n');
  const started = Date.now();
  // One byte every 200 ms: each arrives well within httpHeaderTimeout
  // (1000), so only a deadline for the whole request can stop it; sending
  // all 100 would take 20 s.
  let sent = 0;
  while (!c.closed && Date.now() - started < 8000 && sent < 100) {
    await c.write('a');
    sent++;
    await sleep(200);
  }
  assert.ok(c.closed, 'the server closed the connection');
  assert.ok(sent < 100, `cut off before the body was whole (sent ${sent})`);
  assert.match(c.data.toString('latin1'), /^HTTP\/1\.1 408 Request Timeout\r\n/);
  assert.match(c.data.toString('latin1'), /Connection: close/);
  c.destroy();
});

test('headers that never end get 408 after httpHeaderTimeout', async () => {
  const c = await RawConn.connect(srv.port);
  await c.write('GET /echo-headers HTTP/1.1\r\nHost: x\r\n');
  assert.ok(await c.waitClose(5000));
  assert.match(c.data.toString('latin1'), /^HTTP\/1\.1 408 /);
  c.destroy();
});

test('a connection that never sends a byte is closed without an answer', async () => {
  const c = await RawConn.connect(srv.port);
  assert.ok(await c.waitClose(5000));
  assert.equal(c.data.length, 0);
  c.destroy();
});

test('a long-polling GET that arrived whole may wait past requestTimeout for its data', async () => {
  const open = await request(`${srv.url}/socket.io/?EIO=4&transport=polling`);
  const sid = JSON.parse(open.text.slice(1)).sid;
  const started = Date.now();
  // Parked until the first ping, 2500 ms after the handshake (over 1500).
  const res = await request(`${srv.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { timeoutMs: 6000 });
  assert.equal(res.status, 200);
  assert.equal(res.text, '2');
  assert.ok(Date.now() - started > 1500, 'it waited past requestTimeout');
});

test('a WebSocket is not cut off by requestTimeout', async () => {
  const ws = new WebSocket(`${srv.wsUrl}/socket.io/?EIO=4&transport=websocket`);
  const frames = [];
  ws.on('message', (d) => {
    frames.push(d.toString());
    if (d.toString() === '2') ws.send('3');
  });
  await new Promise((r) => ws.on('open', r));
  await sleep(3000);
  assert.equal(ws.readyState, WebSocket.OPEN);
  assert.ok(frames.includes('2'), 'got a ping after requestTimeout had passed');
  ws.close();
});

test('request bodies over maxBufferedRequestBytes, all connections together, get 503 with Retry-After, once logged', async () => {
  // Holds 2000 of the 3000 bytes: headers sent, body not yet.
  const holder = await RawConn.connect(srv.port);
  await holder.write('POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n');
  await sleep(100);
  for (let i = 0; i < 3; i++) {
    const { response, closed } = await rawRequest(srv.port,
      'POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n', { closeWaitMs: 2000 });
    assert.equal(response.status, 503);
    assert.equal(response.headers['retry-after'], '1');
    assert.ok(closed);
  }
  // Small bodies still fit under the cap.
  const small = await rawRequest(srv.port, 'POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
  assert.equal(small.response.status, 200);
  assert.equal(small.response.text, 'got 5');
  // The holder's body arrives: it is answered and its bytes are free again.
  await holder.write('b'.repeat(2000));
  const { responses } = await holder.readResponses(1);
  assert.equal(responses[0].text, 'got 2000');
  holder.destroy();
  const again = await rawRequest(srv.port, `POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n${'c'.repeat(2000)}`);
  assert.equal(again.response.status, 200);
  assert.equal(linesMatching(/maxBufferedRequestBytes/).length, 1, 'three refusals, one log line');
});

test('a chunked body counts against maxBufferedRequestBytes as it comes', async () => {
  const holder = await RawConn.connect(srv.port);
  await holder.write(`POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nbb8\r\n${'x'.repeat(3000)}\r\n`);
  await sleep(150);
  const { response } = await rawRequest(srv.port, 'POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
  assert.equal(response.status, 503);
  await holder.write('0\r\n\r\n');
  const { responses } = await holder.readResponses(1);
  assert.equal(responses[0].text, 'got 3000');
  holder.destroy();
});

async function refused(bytes, status = 400) {
  const { response, closed } = await rawRequest(srv.port, bytes, { closeWaitMs: 3000 });
  assert.equal(response.status, status, JSON.stringify(bytes.slice(0, 80)));
  assert.ok(closed, 'closed after the refusal');
}

test('chunk data followed by anything but CRLF is refused with 400', async () => {
  await refused('POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n');
});

test('a folded header line (obs-fold) is refused with 400, in one write or split at the fold', async () => {
  await refused('GET /echo-headers HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n');
  await refused('GET /echo-headers HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n');
  await refused('GET /echo-headers HTTP/1.1\r\nHost: x\r\nX-A:\r\n b\r\n\r\n'); // after an empty value
  await refused('GET /echo-headers HTTP/1.1\r\nHost: x\r\nX-A: \r\n b\r\n\r\n');
  const c = await RawConn.connect(srv.port);
  await c.write('GET /echo-headers HTTP/1.1\r\nHost: x\r\nX-A: a\r\n');
  await sleep(50);
  await c.write(' b\r\n\r\n');
  const { responses } = await c.readResponses(1);
  assert.equal(responses[0].status, 400);
  c.destroy();
  const e = await RawConn.connect(srv.port);
  await e.write('GET /echo-headers HTTP/1.1\r\nHost: x\r\nX-A:\r\n');
  await sleep(50);
  await e.write(' b\r\n\r\n');
  assert.equal((await e.readResponses(1)).responses[0].status, 400, 'a fold after an empty value, split at the fold');
  e.destroy();
  // A request that arrives a byte at a time, empty values and all, is fine.
  const f = await RawConn.connect(srv.port);
  f.sock.setNoDelay(true);
  for (const ch of 'GET /echo-headers HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nX-List:  a b \r\nConnection: close\r\n\r\n') {
    await f.write(ch);
    await sleep(1);
  }
  const fr = await f.readResponses(1);
  assert.equal(fr.responses[0].status, 200);
  assert.equal(JSON.parse(fr.responses[0].text).list, 'a b');
  f.destroy();
  // A value that merely arrives in two writes is fine.
  const d = await RawConn.connect(srv.port);
  await d.write('GET /echo-headers HTTP/1.1\r\nHost: x\r\nX-List: ab');
  await sleep(50);
  await d.write('cd\r\nConnection: close\r\n\r\n');
  const r = await d.readResponses(1);
  assert.equal(r.responses[0].status, 200);
  assert.equal(JSON.parse(r.responses[0].text).list, 'abcd');
  d.destroy();
});

test('whitespace between a header name and its colon is refused with 400', async () => {
  await refused('GET /echo-headers HTTP/1.1\r\nHost : x\r\n\r\n');
});

test('a request line without a version is refused with 400, an HTTP/2.0 one with 505', async () => {
  await refused('GET /\r\n\r\n');
  await refused('GET /echo-headers\r\nHost: x\r\n\r\n');
  await refused('GET / HTTP/2.0\r\nHost: x\r\n\r\n', 505);
});

test('more header lines than maxHeadersCount (2000) get 431', async () => {
  const lines = (n) => Array.from({ length: n }, (_, i) => `h${i}: v\r\n`).join('');
  await refused(`GET /echo-headers HTTP/1.1\r\nHost: x\r\n${lines(2000)}\r\n`, 431);
  const ok = await rawRequest(srv.port, `GET /echo-headers HTTP/1.1\r\nHost: x\r\n${lines(1997)}X-Last: yes\r\nConnection: close\r\n\r\n`);
  assert.equal(ok.response.status, 200);
  assert.equal(JSON.parse(ok.response.text).n, 'yes');
});

test('repeated headers read as Node reads them: Authorization and Host keep the first, Cookie joins with "; ", others with ", "', async () => {
  const { response } = await rawRequest(srv.port, 'GET /echo-headers HTTP/1.1\r\nHost: first\r\n' +
    'Authorization: Bearer first\r\nX-List: a\r\nCookie: a=1\r\nauthorization: Bearer second\r\n' +
    'Host: second\r\nCookie: b=2\r\nx-list: b\r\nUser-Agent: one\r\nUser-Agent: two\r\nConnection: close\r\n\r\n');
  assert.equal(response.status, 200);
  assert.deepEqual(JSON.parse(response.text), {
    authorization: 'Bearer first', host: 'first', cookie: 'a=1; b=2', list: 'a, b', agent: 'one',
  });
});

test('the Socket.IO handshake sees the first of two Authorization headers', async () => {
  const c = await RawConn.connect(srv.port);
  await c.write('GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n' +
    'Authorization: Bearer first\r\nAuthorization: Bearer second\r\n\r\n');
  const { responses } = await c.readResponses(1);
  const sid = JSON.parse(responses[0].text.slice(1)).sid;
  c.destroy();
  await request(`${srv.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '40' });
  const res = await request(`${srv.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
  assert.match(res.text, /42\["auth-header","Bearer first"\]/);
});

test('a flood of bad requests is one log line per interval, not one per request', async () => {
  const before = linesMatching(/answered 400/).length;
  await Promise.all(Array.from({ length: 40 }, () =>
    rawRequest(srv.port, 'GET / HTTP/1.1\r\nHost : x\r\n\r\n', { closeWaitMs: 2000 })));
  const after = linesMatching(/answered 400/).length;
  assert.ok(after - before <= 1, `${after - before} lines for 40 bad requests`);
  assert.equal(linesMatching(/ error /).length, 0, 'no error-level line');
});

test('the server still serves after all that, and its counters saw it all', async () => {
  const res = await request(`${srv.url}/echo-headers`, { headers: { authorization: 'x' } });
  assert.equal(res.status, 200);
  assert.equal(JSON.parse(res.text).authorization, 'x');
  const st = await scrapeValues(srv.url);
  assert.ok(st.siolua_requests_timed_out_total >= 2, JSON.stringify(st)); // the trickled body, the endless headers
  assert.ok(st.siolua_request_bodies_refused_total >= 1, JSON.stringify(st));
  assert.ok(st.siolua_requests_bad_total >= 40 + 5, JSON.stringify(st)); // the flood and the strict-parsing cases
  assert.equal(st.siolua_request_body_bytes, 0, 'no body held once all are answered');
  const s = net.connect(srv.port, '127.0.0.1');
  await new Promise((r) => s.on('connect', r));
  s.destroy();
});
