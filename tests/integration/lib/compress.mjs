// Helpers of the compression tests (compress_*.test.mjs): payloads, a
// client's deflate, a polling session that gets a body over the threshold,
// a body decoded per its Content-Encoding, and a raw WebSocket upgrade
// whose answer is read as bytes (so a 400 and a 101 read the same way).

import net from 'node:net';
import zlib from 'node:zlib';
import { request } from './server.mjs';

// Compressible text of n bytes (JSON-ish, as real apps send).
export function textOf(n) {
  let s = '';
  for (let i = 0; s.length < n; i++) s += `{"user":"u${i % 50}","text":"message number ${i}","ok":true},`;
  return s.slice(0, n);
}

export function bytesOf(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7) % 61;
  return b;
}

// A permessage-deflate message as a client sends it: raw deflate,
// sync-flushed, without the final 00 00 ff ff.
export function deflated(payload) {
  const d = zlib.deflateRawSync(Buffer.from(payload), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return d.subarray(0, d.length - 4);
}

// A response body as its Content-Encoding says.
export function decodeBody(res) {
  const e = res.headers['content-encoding'];
  const b = e === 'gzip' ? zlib.gunzipSync(res.body) : e === 'deflate' ? zlib.inflateSync(res.body) : res.body;
  return b.toString('utf8');
}

// A Socket.IO session over polling on base (http://host:port), opened with
// ?big=1 so the app welcomes it with 3000 bytes: the handshake, then the
// poll that carries the CONNECT answer and the welcome, both asked with
// the same Accept-Encoding (none when ae is undefined).
export async function pollWelcome(base, ae) {
  const headers = ae === undefined ? {} : { 'Accept-Encoding': ae };
  const url = `${base}/socket.io/?EIO=4&transport=polling&big=1`;
  const handshake = await request(url, { headers });
  const sid = JSON.parse(decodeBody(handshake).slice(1)).sid;
  const post = await request(`${url}&sid=${sid}`, { method: 'POST', body: '40', headers: { 'Content-Type': 'text/plain' } });
  if (post.status !== 200) throw new Error(`POST 40: ${post.status}`);
  const poll = await request(`${url}&sid=${sid}`, { headers });
  // Closed by the client, so no session is left for the server to drain.
  await request(`${url}&sid=${sid}`, { method: 'POST', body: '1', headers: { 'Content-Type': 'text/plain' } });
  return { handshake, poll, body: decodeBody(poll) };
}

// Sends a WebSocket upgrade with the given Sec-WebSocket-Extensions to
// port and resolves {status, extensions, body} from the raw answer.
export function rawUpgrade(port, path, ext) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no answer to ${ext}`)); }, 3000);
    const finish = (r) => { clearTimeout(timer); s.destroy(); resolve(r); };
    s.on('connect', () => s.write(`GET ${path}?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
      'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${ext === undefined ? '' : `Sec-WebSocket-Extensions: ${ext}\r\n`}\r\n`));
    const parse = () => {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return null;
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(lines[0].split(' ')[1]);
      const h = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        h[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const len = Number(h['content-length'] || 0);
      if (status !== 101 && buf.length < end + 4 + len) return null;
      return { status, extensions: h['sec-websocket-extensions'], body: status === 101 ? '' : buf.subarray(end + 4, end + 4 + len).toString() };
    };
    s.on('data', (d) => { buf = Buffer.concat([buf, d]); const r = parse(); if (r) finish(r); });
    s.on('close', () => { const r = parse(); if (r) finish(r); });
    s.on('error', () => {});
  });
}
