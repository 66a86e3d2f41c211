// The sockbus demo: a Socket.IO chat with a namespace switch and connection state recovery, and
// a plain WebSocket channel. sockbus serves it at / (off with --demo=false); it talks to the
// server it came from. A classic script, so no top-level await.
'use strict';

const $ = (id) => document.getElementById(id);
const socketIOPath = document.querySelector('meta[name=sockbus-socketio-path]').content;

const nick = $('nick');
nick.value = sessionStorage.getItem('sockbus-demo-nick') || 'guest-' + Math.random().toString(36).slice(2, 6);
nick.addEventListener('change', () => sessionStorage.setItem('sockbus-demo-nick', nick.value));

/** Appends a line of kind (own, live, replayed, history, system) to a log and returns it. */
function log(list, kind, text) {
  const li = document.createElement('li');
  li.dataset.kind = kind;
  li.textContent = text;
  list.append(li);
  list.scrollTop = list.scrollHeight;
  return li;
}

function show(value) {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function problem(text) {
  $('problem').textContent = text;
  $('problem').hidden = false;
}

// ---- Socket.IO ----------------------------------------------------------------------------

const ioLog = $('io-log');
let socket = null;
// True from a disconnect to the next 'connect': socket.io-client hands over the events the
// server replays for a recovered session just before 'connect', so those are what was missed.
let away = false;

function ioStatus() {
  const s = socket;
  if (!s) return;
  let text = 'disconnected';
  if (s.connected) {
    const transport = s.io.engine && s.io.engine.transport ? s.io.engine.transport.name : '?';
    text = `connected to ${s.nsp} as ${s.id} over ${transport}`;
  }
  $('io-status').textContent = text;
  $('io-drop').disabled = !s.connected;
  $('io-reconnect').disabled = s.connected || s.io.reconnection();
}

// Who is here: the namespace's members on every node, asked again every few seconds
// (sockbus:presence; the count is the true one, the list the first 1,000).
function refreshHere(s) {
  if (s !== socket || !s.connected) return;
  s.timeout(5000).emitWithAck('sockbus:presence', null).then((res) => {
    if (s !== socket) return;
    if (res.error) {
      $('io-here-count').textContent = '–';
      $('io-here').textContent = `(${res.error})`;
      return;
    }
    $('io-here-count').textContent = String(res.count);
    $('io-here').textContent = res.members.map((m) => (m.id === s.id ? `${m.id} (you)` : m.id)).join(', ');
  }, () => {});
}
setInterval(() => socket && refreshHere(socket), 3000);

function joinNamespace(name) {
  if (!name.startsWith('/')) name = '/' + name;
  if (socket) socket.disconnect();
  ioLog.replaceChildren();
  away = false;
  $('io-recovered').textContent = '–';
  // forceNew: a connection of its own per namespace, so Drop closes only this one.
  const s = io(name, { forceNew: true, path: socketIOPath });
  socket = s;
  log(ioLog, 'system', `joining ${name}`);
  s.io.on('open', () => s.io.engine.on('upgrade', ioStatus));
  s.on('connect', () => {
    if (s !== socket) return;
    $('io-recovered').textContent = String(s.recovered);
    if (away) {
      const why = s.recovered
        ? 'the highlighted messages above were missed while away'
        : 'a new session: nothing was received before the drop, or the recovery window passed';
      log(ioLog, 'system', `reconnected, recovered = ${s.recovered}: ${why}`);
    }
    away = false;
    ioStatus();
  });
  s.on('disconnect', (reason) => {
    if (s !== socket) return;
    away = true;
    log(ioLog, 'system', `disconnected (${reason})`);
    ioStatus();
  });
  s.on('connect_error', (err) => {
    if (s !== socket) return;
    $('io-status').textContent = `cannot connect: ${err.message}`;
  });
  // With recovery on, sockbus (as socket.io) appends the event's offset as a last argument;
  // the message is the first.
  s.on('connect', () => refreshHere(s));
  s.on('chat', (text) => {
    if (s === socket) log(ioLog, away ? 'replayed' : 'live', show(text));
  });
}

$('ns-form').addEventListener('submit', (e) => {
  e.preventDefault();
  joinNamespace($('ns').value.trim() || '/');
});

$('io-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('io-text');
  if (!input.value) return;
  if (!socket || !socket.connected) {
    log(ioLog, 'system', 'not connected: Reconnect first');
    return;
  }
  const text = `${nick.value}: ${input.value}`;
  input.value = '';
  // The relay sends it to every other socket of the namespace, so it is shown here directly;
  // the ack comes once it is stored (or says why it was refused).
  const li = log(ioLog, 'own', text);
  socket.timeout(5000).emitWithAck('chat', text).then(
    (res) => {
      li.textContent += res && res.error ? ` ✗ ${res.error}` : ' ✓';
      li.dataset.acked = res && res.error ? 'error' : 'ok';
    },
    (err) => {
      li.textContent += ` ✗ ${err.message}`;
      li.dataset.acked = 'error';
    },
  );
});

$('io-drop').addEventListener('click', () => {
  // What a network failure does: the transport closes, the session stays recoverable. Automatic
  // reconnection is paused so there is time to send from another tab.
  socket.io.reconnection(false);
  socket.io.engine.close();
});

$('io-reconnect').addEventListener('click', () => {
  socket.io.reconnection(true);
  socket.connect();
  ioStatus();
});

// ---- Plain WebSocket ----------------------------------------------------------------------

const wsLog = $('ws-log');
let ws = null;

function joinChannel(name) {
  if (ws) {
    ws.onclose = null;
    ws.close();
  }
  wsLog.replaceChildren();
  const u = new URL('/ws/' + encodeURIComponent(name) + '?history=10', location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  const w = new WebSocket(u);
  ws = w;
  $('ws-status').textContent = 'connecting…';
  w.onopen = () => ($('ws-status').textContent = `connected to channel ${name}`);
  w.onmessage = (e) => log(wsLog, 'live', typeof e.data === 'string' ? e.data : '(binary frame)');
  w.onclose = (e) => ($('ws-status').textContent = `closed (${e.code}${e.reason ? ': ' + e.reason : ''})`);
}

$('ws-form').addEventListener('submit', (e) => {
  e.preventDefault();
  joinChannel($('ws-channel').value.trim() || 'lobby');
});

$('ws-send-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('ws-text');
  if (!input.value) return;
  if (!ws || ws.readyState !== WebSocket.OPEN) {
    log(wsLog, 'system', 'not connected: Join first');
    return;
  }
  ws.send(`${nick.value}: ${input.value}`); // the channel sends it back to every member, us too
  input.value = '';
});

// ---- Start --------------------------------------------------------------------------------

// For the browser test and the curious: the current connections.
window.sockbusDemo = {
  get socket() { return socket; },
  get ws() { return ws; },
};

if (typeof io !== 'function') {
  problem(`The socket.io-client bundle did not load from ${socketIOPath}socket.io.js: this sockbus ` +
    'build does not embed it (build with `make build`) and --client-dir has none (`npm ci`).');
} else {
  joinNamespace($('ns').value);
}
joinChannel($('ws-channel').value);
