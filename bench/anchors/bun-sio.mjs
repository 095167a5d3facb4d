// Anchor (b): socket.io 4.8 on Bun with @socket.io/bun-engine, written the
// way the engine's README shows ("With Bun's HTTP server"), doing what
// bench/apps/echo does. Run as `PORT=N bun bun-sio.mjs`.
import { Server as Engine } from "@socket.io/bun-engine";
import { Server } from "socket.io";

const io = new Server();

const engine = new Engine({
  path: "/socket.io/",
});

io.bind(engine);

io.on("connection", (socket) => {
  socket.join("everyone");
  socket.on("echo", (...args) => {
    const ack = args.pop();
    if (typeof ack === "function") ack(...args);
  });
  socket.on("shout", (text) => io.to("everyone").emit("shout", text));
});

export default {
  port: Number(process.env.PORT || 3000),
  hostname: "127.0.0.1",
  ...engine.handler(),
};
