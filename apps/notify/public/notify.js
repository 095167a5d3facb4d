// The notify demo page: log in with a token, show every notification.
(() => {
  const $ = (id) => document.getElementById(id);
  let socket = null;
  let apiKey = null;

  function setStatus(on, text) {
    $('status').textContent = text;
    $('status').className = `status ${on ? 'on' : 'off'}`;
  }

  function show(event, data) {
    $('empty').hidden = true;
    const li = document.createElement('li');
    li.dataset.event = event;
    const name = document.createElement('span');
    name.className = 'event';
    name.textContent = event;
    const time = document.createElement('span');
    time.className = 'time';
    time.textContent = new Date().toLocaleTimeString();
    const body = document.createElement('pre');
    body.textContent = data === undefined ? '' : JSON.stringify(data, null, 2);
    li.append(name, time, body);
    $('notes').prepend(li);
  }

  async function tokenFor(user) {
    const typed = $('token').value.trim();
    if (typed) return typed;
    const res = await fetch(`/api/dev-token?user=${encodeURIComponent(user)}`);
    if (!res.ok) throw new Error('no token: paste one (the server has a NOTIFY_SECRET)');
    const body = await res.json();
    apiKey = body.api_key;
    return body.token;
  }

  function connect(user, token) {
    socket = io('/notice', { auth: { token } });
    socket.on('connect', () => setStatus(true, 'connected'));
    socket.on('disconnect', () => setStatus(false, 'offline'));
    socket.on('connect_error', (err) => {
      const reason = err.data && err.data.reason ? ` (${err.data.reason})` : '';
      $('login-error').textContent = `${err.message}${reason}`;
      $('login-error').hidden = false;
      $('login').hidden = false;
      socket.close();
    });
    socket.on('ready', ({ user: me }) => {
      $('me').textContent = me;
      $('to').value = me;
      $('login').hidden = true;
      $('inbox').hidden = false;
      $('send').hidden = !apiKey;
    });
    socket.onAny((event, ...args) => {
      if (event !== 'ready') show(event, args.length > 1 ? args : args[0]);
    });
  }

  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('login-error').hidden = true;
    const user = $('user').value.trim();
    try {
      connect(user, await tokenFor(user));
    } catch (err) {
      $('login-error').textContent = err.message;
      $('login-error').hidden = false;
    }
  });

  $('send-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const res = await fetch('/api/notify', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ user: $('to').value.trim(), event: $('event').value.trim(), data: { text: $('text').value } }),
    });
    const body = await res.json();
    let result = body.error;
    if (res.status === 202) result = 'sent to every instance (not counted)';
    else if (res.ok) result = body.delivered ? `delivered to ${body.sockets} socket(s)` : 'no socket for that user';
    $('send-result').textContent = result;
  });
})();
