// Anchor (c), the ceiling: Bun's own WebSocket server (uWebSockets inside)
// speaking just enough Engine.IO v4 / Socket.IO v5 by hand for the load
// generator: WebSocket transport only, the main namespace only, the open
// packet, heartbeat, CONNECT answer, the room "everyone" as a pub/sub
// topic, "echo" answered through its ack and "shout" published to
// everyone (the sender too). Run as `PORT=N bun bun-bare.mjs`.
const PING_INTERVAL = 25000;
const PING_TIMEOUT = 20000;
const sockets = new Set();

const server = Bun.serve({
  port: Number(process.env.PORT || 3000),
  hostname: "127.0.0.1",
  fetch(req, server) {
    const url = new URL(req.url);
    if (url.pathname === "/socket.io/" && url.searchParams.get("EIO") === "4" &&
        url.searchParams.get("transport") === "websocket" &&
        server.upgrade(req, { data: { sid: crypto.randomUUID(), alive: true } })) {
      return;
    }
    return new Response('{"code":0,"message":"Transport unknown"}', { status: 400 });
  },
  websocket: {
    open(ws) {
      sockets.add(ws);
      ws.send(`0{"sid":"${ws.data.sid}","upgrades":[],"pingInterval":${PING_INTERVAL},` +
              `"pingTimeout":${PING_TIMEOUT},"maxPayload":1000000}`);
    },
    message(ws, msg) {
      if (typeof msg !== "string") return;
      if (msg === "3") {                       // pong
        ws.data.alive = true;
      } else if (msg.startsWith("40")) {       // CONNECT
        if (msg[2] === "/") {
          ws.send(`44${msg.slice(2, msg.indexOf(",") + 1)}{"message":"Invalid namespace"}`);
          return;
        }
        ws.subscribe("everyone");
        ws.send(`40{"sid":"${crypto.randomUUID()}"}`);
      } else if (msg.startsWith("42")) {       // EVENT: 42[id]["name",args...]
        let i = 2;
        while (msg.charCodeAt(i) >= 48 && msg.charCodeAt(i) <= 57) i++;
        const id = msg.slice(2, i);
        const body = msg.slice(i);
        if (body.startsWith('["echo"')) {
          if (id) ws.send(`43${id}[${body.slice(body[7] === "," ? 8 : 7)}`);
        } else if (body.startsWith('["shout"')) {
          server.publish("everyone", `42${body}`);
          if (id) ws.send(`43${id}[]`);
        }
      } else if (msg === "41" || msg === "1") { // DISCONNECT, close
        ws.close();
      }
    },
    close(ws) {
      sockets.delete(ws);
    },
  },
});

// One timer for every socket: a ping each interval, and whoever didn't
// answer the previous one is closed (a coarser pingTimeout than Node's).
setInterval(() => {
  for (const ws of sockets) {
    if (!ws.data.alive) {
      ws.close();
      continue;
    }
    ws.data.alive = false;
    ws.send("2");
  }
}, PING_INTERVAL);

console.log(`listening ${server.port}`);
