// Helpers for the app_chat*.test.mjs files: start apps/chat, and drive its
// /chat protocol with socket.io-client the way a person at a keyboard
// would (log in, type lines), recording everything each tab hears.

import { join } from 'node:path';
import assert from 'node:assert/strict';
import { startServer, SIOLUA_ROOT, until } from './server.mjs';
import { client, waitConnect, collect, nextEvent, errorLines, stopProblems } from './sio.mjs';

export const CHAT_DIR = join(SIOLUA_ROOT, 'apps', 'chat');

// Starts `siolua run apps/chat`; killed when the test t ends.
export function startChat(t, opts = {}) {
  return startServer({ appDir: CHAT_DIR, t, ...opts });
}

// Stops the server and fails on a crash, a sanitizer report or any
// error line in its log (a Lua error in a handler is logged, not fatal).
export async function assertCleanStop(srv) {
  const problems = await stopProblems(srv);
  assert.deepEqual(problems, [], srv.stderr());
  assert.deepEqual(errorLines(srv.stderr()), []);
}

// One tab of the /chat namespace. Records:
//   lines    the serverMessage texts, in order
//   messages the `chat message` payloads
//   errors   the `chat error` payloads
//   states   the `chat state` payloads
//   prompts  how many `login` events came
export async function tab(srv, t, { structured = false, transports = ['websocket'] } = {}) {
  const socket = client(srv, '/chat', { t, transports, auth: structured ? { structured: true } : {} });
  const lines = [];
  const messages = [];
  const errors = [];
  const states = [];
  const prompts = collect(socket, 'login');
  socket.on('serverMessage', (text) => lines.push(text));
  socket.on('chat message', (m) => messages.push(m));
  socket.on('chat error', (e) => errors.push(e));
  socket.on('chat state', (s) => states.push(s));
  await waitConnect(socket);
  await prompts.wait(1);

  const me = {
    socket, lines, messages, errors, states, prompts,
    get state() { return states.at(-1); },

    // Emits login and resolves with the `chat state` it brings; rejects
    // with the `chat error` if the login is refused.
    async login(name, key) {
      const nStates = states.length;
      const nErrors = errors.length;
      if (key === undefined) socket.emit('login', name);
      else socket.emit('login', name, key);
      await until(() => states.length > nStates || errors.length > nErrors, { timeoutMs: 3000 });
      if (errors.length > nErrors) {
        const e = new Error(`login refused: ${errors.at(-1).message}`);
        e.chatError = errors.at(-1);
        throw e;
      }
      if (states.length === nStates) throw new Error(`no "chat state" after login ${JSON.stringify(name)}`);
      return states.at(-1);
    },

    // Sends a line as typed (clientMessage).
    say(text) { socket.emit('clientMessage', text); },

    // Waits for a serverMessage matching m (string: equal, RegExp: match)
    // at index >= from; resolves with the line.
    async line(m, { from = 0, timeoutMs = 3000 } = {}) {
      const hit = (l) => (m instanceof RegExp ? m.test(l) : l === m);
      const found = await until(() => lines.slice(from).find(hit), { timeoutMs });
      if (found === undefined) {
        throw new Error(`no serverMessage ${m} within ${timeoutMs} ms; got ${JSON.stringify(lines.slice(from))}`);
      }
      return found;
    },

    async error(code, { from = 0, timeoutMs = 3000 } = {}) {
      const found = await until(() => errors.slice(from).find((e) => e.code === code), { timeoutMs });
      if (!found) throw new Error(`no chat error ${code}; got ${JSON.stringify(errors.slice(from))}`);
      return found;
    },

    async message(pred, { timeoutMs = 3000 } = {}) {
      const found = await until(() => messages.find(pred), { timeoutMs });
      if (!found) throw new Error(`no matching chat message; got ${JSON.stringify(messages)}`);
      return found;
    },

    // A barrier: everything the server sent this tab before now has
    // arrived once the answer to a /who typed now has (one connection
    // keeps order). The /who line is removed from `lines`.
    async settle() {
      const from = lines.length;
      socket.emit('clientMessage', '/who');
      const l = await me.line(/^Users in room /, { from });
      lines.splice(lines.indexOf(l, from), 1);
    },
  };
  return me;
}

// A tab that is logged in as name (and optionally in room).
export async function loggedIn(srv, t, name, { key, room, ...opts } = {}) {
  const c = await tab(srv, t, opts);
  await c.login(name, key);
  if (room) {
    const n = c.states.length;
    c.say(`/j ${room}`);
    await until(() => c.states.length > n);
    assert.equal(c.state.room, room);
  }
  return c;
}

export { nextEvent };
