// A small round-robin load balancer for the no-sticky cluster tests: every
// HTTP request, and every WebSocket upgrade, goes to the next backend in
// turn, so the requests of one Engine.IO session land on every instance.
//
// Like nginx's passive health check (proxy_next_upstream error), a backend
// that refuses a connection is taken out of the rotation and the request
// goes to the next one (nothing was sent yet, so this is safe for a POST
// too). A request that a backend accepted and then dropped (it died with
// the request in flight) is not retried: the client gets an error, as
// behind nginx, and the balancer records it in `broken` (WebSockets, once
// open, are just piped).
//
//   const lb = await startBalancer([a, b, c], { t });
//   lb.url, lb.hits (requests per backend), lb.down (backends taken out),
//   lb.broken (the HTTP requests that died in flight: {sid, backend},
//   sid '' when the URL had none), lb.close()

import http from 'node:http';
import net from 'node:net';

function sidOf(url) {
  try {
    return new URL(url, 'http://x').searchParams.get('sid') ?? '';
  } catch {
    return '';
  }
}

export async function startBalancer(backends, { t } = {}) {
  const hits = backends.map(() => 0);
  const down = backends.map(() => false);
  const broken = [];
  let next = 0;

  // The next backend still in the rotation after the ones tried; -1 when
  // every backend is down or tried.
  const pick = (tried) => {
    for (let k = 0; k < backends.length; k++) {
      const i = next;
      next = (next + 1) % backends.length;
      if (!down[i] && !tried.has(i)) return i;
    }
    return -1;
  };

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => forward(Buffer.concat(chunks), new Set()));
    let clientGone = false;
    res.on('close', () => { if (!res.writableFinished) clientGone = true; });

    function forward(body, tried) {
      if (clientGone) return;
      const i = pick(tried);
      if (i < 0) {
        res.writeHead(502, { 'Content-Type': 'text/plain' });
        res.end('no backend');
        return;
      }
      tried.add(i);
      let connected = false;
      const up = http.request({ host: '127.0.0.1', port: backends[i].port, method: req.method, path: req.url,
        headers: req.headers, agent: false });
      up.on('socket', (s) => s.on('connect', () => { connected = true; hits[i]++; }));
      up.on('response', (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
        r.on('close', () => {
          if (!r.complete && !clientGone) {
            broken.push({ sid: sidOf(req.url), backend: i });
            res.destroy();
          }
        });
      });
      up.on('error', () => {
        if (!connected) {
          down[i] = true;
          forward(body, tried);
          return;
        }
        if (!clientGone) broken.push({ sid: sidOf(req.url), backend: i });
        res.destroy();
      });
      res.on('close', () => { if (!res.writableFinished) up.destroy(); });
      up.end(body);
    }
  });

  const upgraded = new Set();
  server.on('upgrade', (req, socket, head) => {
    upgraded.add(socket);
    socket.on('close', () => upgraded.delete(socket));
    socket.on('error', () => socket.destroy());
    const tried = new Set();
    const attempt = () => {
      const i = pick(tried);
      if (i < 0) {
        socket.destroy();
        return;
      }
      tried.add(i);
      let connected = false;
      const up = net.connect(backends[i].port, '127.0.0.1', () => {
        connected = true;
        hits[i]++;
        let raw = `${req.method} ${req.url} HTTP/1.1\r\n`;
        for (let k = 0; k < req.rawHeaders.length; k += 2) raw += `${req.rawHeaders[k]}: ${req.rawHeaders[k + 1]}\r\n`;
        up.write(`${raw}\r\n`);
        if (head.length) up.write(head);
        up.pipe(socket);
        socket.pipe(up);
      });
      up.on('error', () => {
        if (!connected) {
          down[i] = true;
          attempt();
        }
      });
      up.on('close', () => { if (connected) socket.destroy(); });
      socket.on('close', () => up.destroy());
    };
    attempt();
  });

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const lb = {
    url: `http://127.0.0.1:${server.address().port}`,
    port: server.address().port,
    hits,
    down,
    broken,
    close() {
      for (const s of upgraded) s.destroy();
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  if (t) t.after(() => lb.close());
  return lb;
}
