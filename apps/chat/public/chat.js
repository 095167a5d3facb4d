// The chat page: speaks the /chat protocol (see ../README.md) with the stock
// socket.io client. Lines are sent as typed; the server parses commands.
// Everything from the network is inserted as text, never as HTML.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const log = $('log');
  const input = $('input');
  const sendButton = document.querySelector('#composer button');
  const loginBox = $('login');
  const loginName = $('login-name');
  const loginError = $('login-error');

  // localStorage can be unavailable (private modes, file://): fall back to
  // memory, which only costs remembering across page loads.
  const memory = {};
  const store = {
    get(k) { try { return localStorage.getItem(k); } catch { return memory[k] ?? null; } },
    set(k, v) { try { localStorage.setItem(k, v); } catch { memory[k] = v; } },
  };
  const KEY = 'siolua-chat:key';    // lets this browser's tabs share a name
  const NAME = 'siolua-chat:name';  // prefills the login form

  // ?transport=polling keeps the client on long-polling (for trying it).
  const params = new URLSearchParams(location.search);
  const transports = params.get('transport') === 'polling' ? ['polling'] : undefined;

  // structured: we render `chat message` ourselves, so the server doesn't
  // send the plain "... said: ..." copies.
  const socket = io('/chat', { auth: { structured: true }, ...(transports && { transports }) });

  // This tab: its name and room once logged in, kept for reconnections.
  const me = { user: null, room: null };

  // ---- rendering ---------------------------------------------------------

  const nearBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 80;

  function append(li) {
    const stick = nearBottom();
    log.append(li);
    if (stick) log.scrollTop = log.scrollHeight;
  }

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // A stable colour per name, readable on light and dark backgrounds.
  function hue(name) {
    let h = 0;
    for (const ch of name.toLowerCase()) h = (h * 31 + ch.codePointAt(0)) % 360;
    return h;
  }

  const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

  function notice(text) {
    append(el('li', 'notice', text));
  }

  function message(m) {
    const mine = m.user === me.user;
    const li = el('li', 'msg');
    li.dataset.user = m.user;
    if (mine) li.classList.add('mine');
    if (m.private) li.classList.add('private');
    const meta = el('div', 'meta');
    const author = el('span', 'author', m.user);
    author.style.setProperty('--hue', hue(m.user));
    meta.append(author);
    if (m.private) meta.append(el('span', 'tag', mine ? `private to ${m.to}` : 'private'));
    const time = el('time', '', clock(m.time));
    time.dateTime = new Date(m.time).toISOString();
    meta.append(time);
    li.append(meta, el('div', 'text', m.text));
    append(li);
  }

  function setConnected(state) {
    const status = $('status');
    status.dataset.state = state;
    status.title = state;
    const usable = state === 'connected' && me.user !== null;
    input.disabled = !usable;
    sendButton.disabled = !usable;
  }

  function showLogin(error = '') {
    loginError.textContent = error;
    if (loginBox.hidden) {
      loginBox.hidden = false;
      loginName.value = loginName.value || store.get(NAME) || '';
    }
    loginName.focus();
    loginName.select();
  }

  // ---- the protocol --------------------------------------------------------

  // The key (from an earlier `chat state` in this browser) lets this tab
  // share a name with the browser's other tabs.
  function login(name) {
    const key = store.get(KEY);
    if (key) socket.emit('login', name, key);
    else socket.emit('login', name);
  }

  // A reconnection gets `login` again: this tab then logs in by itself, once,
  // and goes back to its room. If that fails (someone took the name in the
  // meantime), the form asks.
  let autoLogin = false;
  let rejoin = null;
  let problem = '';

  socket.on('login', () => {
    if (me.user && !autoLogin) {
      autoLogin = true;
      rejoin = me.room;
      login(me.user);
    } else {
      showLogin(problem);
    }
  });

  socket.on('chat state', (state) => {
    me.user = state.user;
    me.room = state.room;
    autoLogin = false;
    problem = '';
    store.set(KEY, state.key);
    store.set(NAME, state.user);
    $('user').textContent = state.user;
    $('room').textContent = state.room;
    document.title = `#${state.room} · siolua chat`;
    input.placeholder = `Message #${state.room} · /help`;
    loginBox.hidden = true;
    setConnected(socket.connected ? 'connected' : 'connecting');
    input.focus();
    if (rejoin && rejoin !== state.room) socket.emit('join', rejoin);
    rejoin = null;
  });

  socket.on('serverMessage', (text) => notice(text));

  socket.on('chat message', (m) => message(m));

  // A refusal: the text came as serverMessage already; mark that line, and
  // show it in the login form when the form is what was refused.
  socket.on('chat error', (err) => {
    const last = log.lastElementChild;
    if (last && last.classList.contains('notice') && last.textContent === err.message) {
      last.classList.add('error');
    }
    problem = err.message;
    if (!loginBox.hidden) loginError.textContent = err.message;
  });

  socket.on('connect', () => setConnected('connected'));
  socket.on('disconnect', () => {
    setConnected('connecting');
    notice('Disconnected: reconnecting…');
  });
  socket.on('connect_error', () => setConnected('offline'));

  // ---- the forms -----------------------------------------------------------

  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    loginError.textContent = '';
    login(loginName.value);
  });

  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    socket.emit('clientMessage', text);
    input.value = '';
    input.focus();
  });
})();
