// Parley live console: a plain browser client of websocket-sender's `/ws`
// protocol (docs/contracts.md "WebSocket") and its history endpoint.
//
// Security notes, on purpose:
// - Every piece of message or alert data reaches the page through
//   `textContent` or attributes, never `innerHTML`.
// - The token comes from the login box or the URL fragment (`#token=`, never
//   sent to a server); it is kept in this tab's sessionStorage only. The
//   WebSocket carries it as `?token=` because browsers cannot set headers on
//   a WebSocket; the history fetch sends it as a Bearer header.
// - The JWT payload is decoded here only to show who is signed in: the
//   server verifies the token and decides what this client may see.
'use strict';

(function () {
  const TOKEN_KEY = 'parley.console.token';
  const ROOMS_KEY = 'parley.console.rooms';
  const MAX_MESSAGES_PER_ROOM = 500;
  const MAX_ALERTS = 200;
  const MAX_NOTICES = 50;
  const HISTORY_PAGE = 50;
  const PING_EVERY_MS = 25000;
  const SILENCE_LIMIT_MS = 65000;
  const RECONNECT_MIN_MS = 500;
  const RECONNECT_MAX_MS = 15000;
  const PRIVILEGED = new Set(['moderator', 'admin']);

  const $ = (sel) => document.querySelector(sel);

  const ui = {
    status: $('#status'),
    login: $('#login'),
    loginForm: $('#login-form'),
    tokenInput: $('#token-input'),
    loginError: $('#login-error'),
    session: $('#session'),
    whoSub: $('#who-sub'),
    whoRole: $('#who-role'),
    whoRooms: $('#who-rooms'),
    whoExp: $('#who-exp'),
    logout: $('#logout-button'),
    roomsPanel: $('#rooms-panel'),
    subscribeForm: $('#subscribe-form'),
    roomInput: $('#room-input'),
    subscriptions: $('#subscriptions'),
    messages: $('#messages'),
    messagesEmpty: $('#messages-empty'),
    roomTemplate: $('#room-template'),
    alertsPanel: $('#alerts-panel'),
    alertsState: $('#alerts-state'),
    alerts: $('#alerts'),
    alertsEmpty: $('#alerts-empty'),
    alertsClear: $('#alerts-clear'),
    noticesPanel: $('#notices-panel'),
    notices: $('#notices'),
  };

  /** Everything the console knows; the DOM is drawn from it. */
  const state = {
    token: null,
    claims: null,
    ws: null,
    attempt: 0,
    reconnectTimer: null,
    countdownTimer: null,
    pingTimer: null,
    lastFrameAt: 0,
    holdUntil: 0,
    signedIn: false,
    /** room_id -> room record (see newRoom). Insertion order = chip order. */
    rooms: new Map(),
    activeRoom: null,
    alertIds: new Set(),
    expTimer: null,
    /** client_msg_id -> room record, for publishes not answered yet. */
    publishes: new Map(),
  };

  // ---------- small helpers ----------

  /** An element with a class and text, the text set as text. */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function asText(value) {
    if (value === undefined || value === null) return '';
    return typeof value === 'string' ? value : String(value);
  }

  function toDate(ms) {
    const n = Number(ms);
    if (!Number.isFinite(n)) return null;
    const d = new Date(n);
    return Number.isNaN(d.getTime()) ? null : d;
  }

  function pad2(n) {
    return n < 10 ? '0' + n : String(n);
  }

  /** `14:03:09` today, `Mar 4 14:03` another day. */
  function shortTime(d) {
    if (!d) return '—';
    const now = new Date();
    const hms = pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
    if (d.toDateString() === now.toDateString()) return hms;
    return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) + ' ' + hms.slice(0, 5);
  }

  function relative(ms) {
    const s = Math.round(ms / 1000);
    const abs = Math.abs(s);
    let text;
    if (abs < 60) text = abs + ' s';
    else if (abs < 3600) text = Math.round(abs / 60) + ' min';
    else if (abs < 172800) text = Math.round(abs / 360) / 10 + ' h';
    else text = Math.round(abs / 86400) + ' days';
    return s >= 0 ? 'in ' + text : text + ' ago';
  }

  /** The JWT payload, decoded for display only (not verified here). */
  function decodeJwt(token) {
    const parts = token.split('.');
    if (parts.length !== 3) throw new Error('not a JWT (expected three dot-separated parts)');
    let b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) b64 += '=';
    const binary = atob(b64);
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    if (!claims || typeof claims !== 'object') throw new Error('token payload is not an object');
    return claims;
  }

  function tokenExpired() {
    const exp = state.claims && Number(state.claims.exp);
    return Number.isFinite(exp) && exp * 1000 <= Date.now();
  }

  function isPrivileged() {
    return !!state.claims && PRIVILEGED.has(state.claims.role);
  }

  function storage(op, key, value) {
    try {
      if (op === 'get') return sessionStorage.getItem(key);
      if (op === 'set') sessionStorage.setItem(key, value);
      if (op === 'del') sessionStorage.removeItem(key);
    } catch (_) {
      // Storage may be disabled; the console still works for this page view.
    }
    return null;
  }

  // ---------- status and notices ----------

  function setStatus(kind, text) {
    ui.status.dataset.state = kind;
    ui.status.textContent = text;
  }

  function notice(level, text) {
    const li = el('li', 'notice');
    li.dataset.level = level;
    const time = el('time', 'notice-time', shortTime(new Date()));
    li.append(time, el('span', 'notice-text', text));
    ui.notices.prepend(li);
    while (ui.notices.children.length > MAX_NOTICES) ui.notices.lastElementChild.remove();
  }

  // ---------- sign in / out ----------

  function tokenFromFragment() {
    const hash = location.hash.replace(/^#/, '');
    if (!hash) return null;
    const token = new URLSearchParams(hash).get('token');
    if (token) {
      // Keep the token out of the address bar, history and bookmarks.
      history.replaceState(null, '', location.pathname + location.search);
    }
    return token;
  }

  function signIn(raw, fromUser) {
    const token = asText(raw).trim().replace(/^Bearer\s+/i, '');
    let claims;
    try {
      claims = decodeJwt(token);
    } catch (err) {
      showLoginError('That does not look like a token: ' + err.message);
      return false;
    }
    state.token = token;
    state.claims = claims;
    if (tokenExpired()) {
      showLoginError('This token expired ' + relative(claims.exp * 1000 - Date.now()) + '. Paste a new one.');
      state.token = null;
      state.claims = null;
      return false;
    }
    storage('set', TOKEN_KEY, token);
    state.signedIn = true;
    ui.loginError.hidden = true;
    ui.tokenInput.value = '';
    renderWhoAmI();
    ui.login.hidden = true;
    ui.session.hidden = false;
    ui.roomsPanel.hidden = false;
    ui.noticesPanel.hidden = false;
    ui.alertsPanel.hidden = !isPrivileged();
    document.body.classList.toggle('with-alerts', isPrivileged());
    setAlertsState('off', 'not subscribed');
    notice('info', 'Signed in as ' + asText(claims.sub) + ' (' + asText(claims.role || 'viewer') + ')');
    restoreRooms();
    state.attempt = 0;
    connect();
    if (fromUser) ui.roomInput.focus();
    return true;
  }

  /** Back to the login box; `keepRooms` lets the next sign-in rejoin them. */
  function signOut(message, status, keepRooms) {
    state.signedIn = false;
    closeSocket(1000, 'signed out');
    cancelReconnect();
    clearInterval(state.expTimer);
    storage('del', TOKEN_KEY);
    if (!keepRooms) storage('del', ROOMS_KEY);
    for (const room of state.rooms.values()) room.section.remove();
    state.rooms.clear();
    state.activeRoom = null;
    state.alertIds.clear();
    ui.subscriptions.replaceChildren();
    ui.alerts.replaceChildren();
    ui.notices.replaceChildren();
    ui.alertsEmpty.hidden = false;
    ui.messagesEmpty.hidden = false;
    state.token = null;
    state.claims = null;
    ui.session.hidden = true;
    ui.roomsPanel.hidden = true;
    ui.alertsPanel.hidden = true;
    ui.noticesPanel.hidden = true;
    document.body.classList.remove('with-alerts');
    ui.login.hidden = false;
    if (status) setStatus(status[0], status[1]);
    else setStatus('signed-out', 'Signed out');
    if (message) showLoginError(message);
    ui.tokenInput.focus();
  }

  function showLoginError(text) {
    ui.loginError.textContent = text;
    ui.loginError.hidden = false;
  }

  function renderWhoAmI() {
    const c = state.claims || {};
    ui.whoSub.textContent = asText(c.sub) || '(no sub)';
    const role = asText(c.role) || 'viewer';
    ui.whoRole.textContent = role;
    ui.whoRole.dataset.role = role;
    const rooms = Array.isArray(c.rooms) ? c.rooms.map(asText) : [];
    ui.whoRooms.textContent = rooms.includes('*')
      ? 'all rooms'
      : rooms.length
        ? 'rooms: ' + rooms.join(', ')
        : 'no rooms';
    ui.whoRooms.title = rooms.join(', ');
    renderExpiry();
    clearInterval(state.expTimer);
    state.expTimer = setInterval(renderExpiry, 15000);
  }

  function renderExpiry() {
    const exp = state.claims && Number(state.claims.exp);
    if (!Number.isFinite(exp)) {
      ui.whoExp.textContent = 'no expiry';
      return;
    }
    const at = new Date(exp * 1000);
    const left = at.getTime() - Date.now();
    ui.whoExp.textContent = (left > 0 ? 'expires ' : 'expired ') + relative(left) + ' (' + shortTime(at) + ')';
    ui.whoExp.title = at.toString();
    ui.whoExp.classList.toggle('expired', left <= 0);
    ui.whoExp.classList.toggle('expiring', left > 0 && left < 5 * 60 * 1000);
  }

  // ---------- connection ----------

  function wsUrl() {
    const url = new URL('ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.hash = '';
    url.search = '';
    url.searchParams.set('token', state.token);
    return url.toString();
  }

  function send(frame) {
    const ws = state.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  function closeSocket(code, reason) {
    const ws = state.ws;
    state.ws = null;
    stopPing();
    if (ws && ws.readyState <= WebSocket.OPEN) {
      try {
        ws.close(code, reason);
      } catch (_) {
        ws.close();
      }
    }
  }

  function connect() {
    cancelReconnect();
    if (!state.signedIn) return;
    if (tokenExpired()) {
      signOut('Your token expired. Paste a new one to reconnect.', ['expired', 'Token expired'], true);
      return;
    }
    setStatus(state.attempt ? 'reconnecting' : 'connecting', state.attempt ? 'Reconnecting…' : 'Connecting…');
    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (err) {
      notice('error', 'Cannot open a WebSocket: ' + err.message);
      scheduleReconnect(false);
      return;
    }
    state.ws = ws;
    let opened = false;

    ws.addEventListener('open', () => {
      if (state.ws !== ws) return;
      opened = true;
      state.attempt = 0;
      state.lastFrameAt = Date.now();
      setStatus('connected', 'Connected');
      notice('info', 'Connected');
      for (const room of state.rooms.values()) sendSubscribe(room);
      if (isPrivileged()) {
        setAlertsState('pending', 'subscribing…');
        send({ op: 'subscribe_alerts' });
      }
      startPing();
    });

    ws.addEventListener('message', (event) => {
      if (state.ws !== ws) return;
      state.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (_) {
        notice('warn', 'Ignored a frame that is not JSON');
        return;
      }
      handleFrame(frame);
    });

    ws.addEventListener('close', (event) => {
      if (state.ws !== ws) return;
      state.ws = null;
      stopPing();
      onClosed(event.code, event.reason, opened);
    });
  }

  function onClosed(code, reason, opened) {
    for (const room of state.rooms.values()) {
      if (room.state === 'active') setRoomState(room, 'pending');
    }
    if (isPrivileged()) setAlertsState('pending', 'waiting for connection');
    const why = reason ? ' (' + reason + ')' : '';
    if (code === 4401) {
      signOut('The server says your token expired. Paste a new one.', ['expired', 'Token expired'], true);
      return;
    }
    if (code === 4403) {
      setStatus('forbidden', 'Forbidden');
      notice('error', 'The server refused this connection' + why + '. Not reconnecting.');
      return;
    }
    if (code === 4008 || code === 4500 || code === 1001) {
      const what =
        code === 4008
          ? 'this client fell behind'
          : code === 4500
            ? 'a recovery failed midway'
            : 'the server is restarting';
      notice('warn', 'The server closed the connection: ' + what + why + '. Resuming…');
      state.attempt = 0;
      scheduleReconnect(true);
      return;
    }
    if (!opened) {
      notice('error', 'Could not connect: the server refused the token or is unreachable.');
    } else {
      notice('warn', 'Connection closed (code ' + code + ')' + why);
    }
    scheduleReconnect(false);
  }

  function scheduleReconnect(soon) {
    cancelReconnect();
    if (!state.signedIn) return;
    const base = soon ? RECONNECT_MIN_MS : Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** state.attempt);
    const jitter = base * (0.8 + Math.random() * 0.4);
    const delay = Math.max(jitter, state.holdUntil - Date.now());
    state.attempt += 1;
    const until = Date.now() + delay;
    const tick = () => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      setStatus('reconnecting', 'Disconnected — retrying in ' + left + ' s');
    };
    tick();
    state.countdownTimer = setInterval(tick, 1000);
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function cancelReconnect() {
    clearTimeout(state.reconnectTimer);
    clearInterval(state.countdownTimer);
    state.reconnectTimer = null;
    state.countdownTimer = null;
  }

  function startPing() {
    stopPing();
    state.pingTimer = setInterval(() => {
      if (Date.now() - state.lastFrameAt > SILENCE_LIMIT_MS) {
        notice('warn', 'No answer from the server; reconnecting');
        const ws = state.ws;
        state.ws = null;
        stopPing();
        if (ws) ws.close(4000, 'silent');
        onClosed(4000, 'silent', true);
        return;
      }
      send({ op: 'ping' });
    }, PING_EVERY_MS);
  }

  function stopPing() {
    clearInterval(state.pingTimer);
    state.pingTimer = null;
  }

  window.addEventListener('online', () => {
    if (state.signedIn && !state.ws) {
      state.attempt = 0;
      connect();
    }
  });

  // ---------- frames from the server ----------

  function handleFrame(frame) {
    switch (frame && frame.op) {
      case 'message':
        onMessage(frame);
        break;
      case 'subscribed':
        onSubscribed(frame);
        break;
      case 'alert':
        addAlert(frame.alert);
        break;
      case 'subscribed_alerts':
        setAlertsState('subscribed', 'live');
        break;
      case 'published':
        onPublished(frame);
        break;
      case 'retract':
        onRetract(frame);
        break;
      case 'moderated':
        notice('info', 'Moderation action taken (' + asText(frame.action_id) + ')');
        break;
      case 'error':
        if (frame.client_msg_id !== undefined && frame.client_msg_id !== null) {
          onPublishError(frame);
        } else {
          onError(frame);
        }
        break;
      case 'pong':
      case 'unsubscribed':
        break;
      default:
        // Newer servers may send more; an old console ignores what it does not know.
        break;
    }
  }

  function onMessage(frame) {
    const room = state.rooms.get(asText(frame.room_id));
    if (!room || room.state === 'refused') return;
    if (frame.pos !== undefined) room.pos = frame.pos;
    if (frame.message && typeof frame.message === 'object') addMessage(room, frame.message);
  }

  // A moderator deleted a message: viewers no longer see it; moderators
  // see it marked.
  function onRetract(frame) {
    const room = state.rooms.get(asText(frame.room_id));
    if (!room) return;
    const id = asText(frame.message_id);
    const line = [...room.list.children].find((li) => li.dataset.messageId === id);
    if (!line) return;
    if (isPrivileged()) {
      markDeleted(line);
    } else {
      line.remove();
    }
  }

  function markDeleted(line) {
    if (line.dataset.deleted === 'true') return;
    line.dataset.deleted = 'true';
    line.classList.add('deleted');
    const badge = el('span', 'badge deleted-badge', 'deleted');
    badge.title = 'Deleted by a moderator: viewers no longer see it';
    const head = line.querySelector('.msg-head');
    if (head) head.append(badge);
    line.querySelectorAll('[data-moderate="delete_message"]').forEach((b) => b.remove());
  }

  // Moderators act from a message line: delete it, mute or ban its author.
  function moderate(roomId, action, fields) {
    const frame = Object.assign({ op: 'moderate', action: action, room_id: roomId }, fields);
    if (!send(frame)) notice('error', 'Not connected: the action was not sent');
  }

  function moderationButtons(m) {
    const roomId = asText(m.room_id);
    const userId = asText(m.user_id);
    const bar = el('div', 'msg-actions');
    const add = (label, action, title, fields) => {
      const button = el('button', 'msg-action', label);
      button.type = 'button';
      button.dataset.moderate = action;
      button.title = title;
      button.addEventListener('click', () => moderate(roomId, action, fields()));
      bar.append(button);
    };
    add('Delete', 'delete_message', 'Delete this message for everyone', () => ({
      message_id: asText(m.message_id),
    }));
    add('Mute 10m', 'mute', 'Mute ' + userId + ' in this room for 10 minutes', () => ({
      user_id: userId,
      until: Date.now() + 10 * 60 * 1000,
    }));
    add('Ban', 'ban', 'Ban ' + userId + ' from this room until lifted', () => ({ user_id: userId }));
    return bar;
  }

  function onSubscribed(frame) {
    const room = state.rooms.get(asText(frame.room_id));
    if (!room) return;
    if (frame.pos !== undefined && frame.pos !== null) room.pos = frame.pos;
    setRoomState(room, 'active');
    if (room.resumed) {
      room.resumed = false;
      const recovered = frame.recovered === true;
      room.section.dataset.recovered = String(recovered);
      room.chip.dataset.recovered = String(recovered);
      if (recovered) {
        room.stateLabel.textContent = 'live · resumed without gaps';
        notice('info', 'Room ' + room.id + ': resumed, missed messages recovered');
      } else {
        room.stateLabel.textContent = 'live · some messages may be missing';
        const gap = el('li', 'gap', 'Some messages sent while disconnected could not be recovered');
        gap.dataset.gap = 'true';
        room.list.append(gap);
        notice('warn', 'Room ' + room.id + ': could not recover everything missed while disconnected');
      }
    } else {
      room.stateLabel.textContent = 'live';
    }
  }

  function onError(frame) {
    const code = Number(frame.code);
    const reason = asText(frame.reason) || 'error';
    const refusal = code === 4403 || code === 4429;
    let room;
    if (frame.room_id !== undefined && frame.room_id !== null) {
      room = state.rooms.get(asText(frame.room_id));
    } else if (code === 4403 && ui.alertsPanel.dataset.state === 'pending') {
      setAlertsState('refused', 'not allowed for this token');
      notice('error', 'Alerts: ' + reason);
      return;
    } else if (refusal) {
      // An error frame without a room: the oldest pending subscription is
      // the one the server answered.
      room = [...state.rooms.values()].find((r) => r.state === 'pending');
    }
    if (refusal && room) {
      setRoomState(room, 'refused');
      room.stateLabel.textContent =
        code === 4403 ? (/banned/.test(reason) ? 'banned from this room' : 'not allowed for this token') : 'too many rooms at once';
      notice('error', 'Room ' + room.id + ': ' + reason);
      return;
    }
    notice('error', 'Server error ' + (Number.isFinite(code) ? code : '?') + ': ' + reason);
  }

  // ---------- rooms ----------

  function newRoom(id) {
    const section = ui.roomTemplate.content.firstElementChild.cloneNode(true);
    section.dataset.roomId = id;
    section.querySelector('.room-title').textContent = id;
    const room = {
      id,
      state: 'pending',
      pos: undefined,
      resumed: false,
      seen: new Set(),
      oldestSentAt: undefined,
      olderCursor: undefined,
      unread: 0,
      section,
      list: section.querySelector('.message-list'),
      stateLabel: section.querySelector('.room-state'),
      olderButton: section.querySelector('[data-action="load-older"]'),
      chip: null,
      unreadBadge: null,
    };
    room.olderButton.addEventListener('click', () => loadOlder(room));
    room.publishForm = section.querySelector('.publish-form');
    room.publishInput = section.querySelector('.publish-input');
    room.publishState = section.querySelector('.publish-state');
    room.publishForm.addEventListener('submit', (event) => {
      event.preventDefault();
      publish(room);
    });

    const chip = el('li', 'sub-chip');
    chip.dataset.roomId = id;
    const select = el('button', 'sub-select');
    select.type = 'button';
    select.title = 'Show room ' + id;
    select.append(el('span', 'sub-name', id));
    room.unreadBadge = el('span', 'unread');
    room.unreadBadge.hidden = true;
    select.append(room.unreadBadge);
    select.addEventListener('click', () => selectRoom(room));
    const remove = el('button', 'sub-remove', '×');
    remove.type = 'button';
    remove.dataset.action = 'unsubscribe';
    remove.title = 'Unsubscribe from ' + id;
    remove.setAttribute('aria-label', 'Unsubscribe from ' + id);
    remove.addEventListener('click', () => unsubscribe(room));
    chip.append(select, remove);
    room.chip = chip;
    return room;
  }

  function setRoomState(room, value) {
    room.state = value;
    room.section.dataset.state = value;
    room.chip.dataset.state = value;
    if (value === 'pending') room.stateLabel.textContent = state.ws ? 'subscribing…' : 'waiting for connection';
  }

  function subscribe(rawId, select) {
    const id = asText(rawId).trim();
    if (!id) return null;
    if (id.length > 128) {
      notice('error', 'A room id is at most 128 characters');
      return null;
    }
    let room = state.rooms.get(id);
    if (room && room.state === 'refused') {
      setRoomState(room, 'pending');
      sendSubscribe(room);
    }
    if (!room) {
      room = newRoom(id);
      state.rooms.set(id, room);
      ui.subscriptions.append(room.chip);
      ui.messages.append(room.section);
      ui.messagesEmpty.hidden = true;
      setRoomState(room, 'pending');
      sendSubscribe(room);
      saveRooms();
    }
    if (select || !state.activeRoom) selectRoom(room);
    return room;
  }

  function sendSubscribe(room) {
    if (room.state === 'refused') return;
    const frame = { op: 'subscribe', room_id: room.id };
    room.resumed = room.pos !== undefined && room.pos !== null;
    if (room.resumed) frame.since = room.pos;
    if (send(frame)) setRoomState(room, 'pending');
  }

  // ---------- publishing ----------

  /** A client_msg_id: the retry key of one message. */
  function newClientMsgId() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') return window.crypto.randomUUID();
    return 'c-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 10);
  }

  function publish(room) {
    const content = room.publishInput.value;
    if (!content.trim()) return;
    if (new TextEncoder().encode(content).length > 4096) {
      room.publishState.textContent = 'too long (4096 bytes at most)';
      return;
    }
    const key = newClientMsgId();
    if (!send({ op: 'publish', room_id: room.id, content, client_msg_id: key })) {
      room.publishState.textContent = 'not connected';
      return;
    }
    state.publishes.set(key, room);
    room.publishForm.dataset.state = 'sending';
    room.publishState.textContent = 'sending…';
  }

  function onPublished(frame) {
    const key = asText(frame.client_msg_id);
    const room = state.publishes.get(key);
    if (!room) return;
    state.publishes.delete(key);
    room.publishForm.dataset.state = 'sent';
    room.publishInput.value = '';
    room.publishState.textContent = 'sent';
  }

  function onPublishError(frame) {
    const key = asText(frame.client_msg_id);
    const room = state.publishes.get(key) || state.rooms.get(asText(frame.room_id));
    state.publishes.delete(key);
    const code = Number(frame.code);
    let text = asText(frame.reason) || 'refused';
    if (code === 4429 && Number.isFinite(Number(frame.retry_after_ms))) {
      text = 'slow down: retry in ' + Math.ceil(Number(frame.retry_after_ms) / 1000) + ' s';
    } else if (code === 4503) {
      text = 'not sent (server busy), try again';
    }
    if (room) {
      room.publishForm.dataset.state = 'refused';
      room.publishState.textContent = text;
    } else {
      notice('error', 'Message not sent: ' + text);
    }
  }

  function unsubscribe(room) {
    send({ op: 'unsubscribe', room_id: room.id });
    state.rooms.delete(room.id);
    room.chip.remove();
    room.section.remove();
    if (state.activeRoom === room) {
      state.activeRoom = null;
      const next = state.rooms.values().next();
      if (!next.done) selectRoom(next.value);
    }
    ui.messagesEmpty.hidden = state.rooms.size > 0;
    saveRooms();
  }

  function selectRoom(room) {
    state.activeRoom = room;
    for (const r of state.rooms.values()) {
      const active = r === room;
      r.section.hidden = !active;
      r.chip.classList.toggle('active', active);
      r.chip.querySelector('.sub-select').setAttribute('aria-pressed', String(active));
    }
    room.unread = 0;
    room.unreadBadge.hidden = true;
    room.list.scrollTop = room.list.scrollHeight;
  }

  /** The rooms open in this tab, for the same user after a reload or a new token. */
  function saveRooms() {
    const sub = state.claims ? asText(state.claims.sub) : '';
    storage('set', ROOMS_KEY, JSON.stringify({ sub, rooms: [...state.rooms.keys()] }));
  }

  function restoreRooms() {
    let saved = null;
    try {
      saved = JSON.parse(storage('get', ROOMS_KEY) || 'null');
    } catch (_) {
      saved = null;
    }
    if (!saved || !Array.isArray(saved.rooms)) return;
    if (saved.sub !== asText(state.claims && state.claims.sub)) return;
    saved.rooms.forEach((id) => subscribe(id, false));
  }

  // ---------- messages ----------

  function renderMessage(m) {
    const li = el('li', 'message');
    const visibility = asText(m.visibility) || 'all';
    const kind = asText(m.kind) || 'chat';
    li.dataset.messageId = asText(m.message_id);
    li.dataset.kind = kind;
    li.dataset.visibility = visibility;
    li.dataset.userId = asText(m.user_id);
    if (visibility === 'moderators') li.classList.add('mod-only');
    if (kind !== 'chat') li.classList.add('kind-' + (/^[a-z]+$/.test(kind) ? kind : 'other'));

    const sent = toDate(m.sent_at);
    const time = el('time', 'msg-time', shortTime(sent));
    if (sent) {
      time.dateTime = sent.toISOString();
      time.title = sent.toString();
    }
    const head = el('div', 'msg-head');
    const user = el('span', 'msg-user', asText(m.user_name) || asText(m.user_id));
    user.title = 'user ' + asText(m.user_id) + (m.game_id ? ' · game ' + asText(m.game_id) : '');
    head.append(time, user);
    if (kind !== 'chat') head.append(el('span', 'badge kind', kind));
    if (visibility === 'moderators') {
      const badge = el('span', 'badge mod-badge', 'moderators only');
      badge.title = 'Hidden from viewers';
      head.append(badge);
    }
    const content = el('div', 'msg-content', asText(m.content));
    li.append(head, content);
    if (isPrivileged() && kind === 'chat' && m.message_id) li.append(moderationButtons(m));
    if (m.deleted === true) markDeleted(li);
    return li;
  }

  function noteSentAt(room, m) {
    const sent = Number(m.sent_at);
    if (Number.isFinite(sent) && (room.oldestSentAt === undefined || sent < room.oldestSentAt)) {
      room.oldestSentAt = sent;
    }
  }

  function addMessage(room, m) {
    const id = asText(m.message_id);
    if (id && room.seen.has(id)) return;
    if (id) room.seen.add(id);
    noteSentAt(room, m);
    const list = room.list;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(renderMessage(m));
    while (list.children.length > MAX_MESSAGES_PER_ROOM) {
      const first = list.firstElementChild;
      if (first.dataset.messageId) room.seen.delete(first.dataset.messageId);
      first.remove();
    }
    if (atBottom || state.activeRoom !== room) list.scrollTop = list.scrollHeight;
    if (state.activeRoom !== room) {
      room.unread += 1;
      room.unreadBadge.textContent = room.unread > 99 ? '99+' : String(room.unread);
      room.unreadBadge.hidden = false;
    }
  }

  async function loadOlder(room) {
    if (room.olderCursor === null) return;
    const button = room.olderButton;
    button.disabled = true;
    button.textContent = 'Loading…';
    const url = new URL('rooms/' + encodeURIComponent(room.id) + '/messages', location.href);
    url.hash = '';
    url.search = '';
    url.searchParams.set('limit', String(HISTORY_PAGE));
    // Start just past the oldest message shown: overlaps are dropped by id.
    const before =
      room.olderCursor !== undefined
        ? room.olderCursor
        : room.oldestSentAt !== undefined
          ? room.oldestSentAt + 1
          : undefined;
    if (before !== undefined) url.searchParams.set('before', String(before));
    if (room.olderCursor !== undefined && room.olderCursorId) {
      url.searchParams.set('before_id', room.olderCursorId);
    }
    try {
      const response = await fetch(url, {
        headers: { Authorization: 'Bearer ' + state.token, Accept: 'application/json' },
        cache: 'no-store',
      });
      if (!response.ok) {
        const body = await response.text().catch(() => '');
        throw new Error('HTTP ' + response.status + (body ? ': ' + body.slice(0, 200) : ''));
      }
      const page = await response.json();
      if (!state.rooms.has(room.id)) return;
      const messages = Array.isArray(page.messages) ? page.messages : [];
      const list = room.list;
      const keepFromBottom = list.scrollHeight - list.scrollTop;
      let added = 0;
      // Newest first: each older one goes above the previous.
      let anchor = list.firstElementChild;
      for (const m of messages) {
        if (!m || typeof m !== 'object') continue;
        const id = asText(m.message_id);
        if (id && room.seen.has(id)) continue;
        if (id) room.seen.add(id);
        noteSentAt(room, m);
        const li = renderMessage(m);
        li.dataset.source = 'history';
        list.insertBefore(li, anchor);
        anchor = li;
        added += 1;
      }
      list.scrollTop = list.scrollHeight - keepFromBottom;
      const next = page.next_before;
      room.olderCursor = next === null || next === undefined ? null : next;
      room.olderCursorId = typeof page.next_before_id === 'string' ? page.next_before_id : undefined;
      notice('info', 'Room ' + room.id + ': ' + added + ' older message' + (added === 1 ? '' : 's') + ' loaded');
    } catch (err) {
      notice('error', 'Room ' + room.id + ': could not load older messages: ' + err.message);
    } finally {
      if (room.olderCursor === null) {
        button.textContent = 'No older messages';
        button.disabled = true;
        button.dataset.exhausted = 'true';
      } else {
        button.textContent = 'Load older';
        button.disabled = false;
      }
    }
  }

  // ---------- alerts ----------

  function setAlertsState(value, text) {
    ui.alertsPanel.dataset.state = value;
    ui.alertsState.textContent = text;
  }

  function addAlert(a) {
    if (!a || typeof a !== 'object') return;
    const id = asText(a.alert_id);
    if (id && state.alertIds.has(id)) return;
    if (id) state.alertIds.add(id);
    const severity = asText(a.severity) || 'info';
    const li = el('li', 'alert');
    li.dataset.alertId = id;
    li.dataset.severity = severity;
    li.dataset.category = asText(a.category);
    li.dataset.roomId = asText(a.room_id);

    const head = el('div', 'alert-head');
    head.append(
      el('span', 'badge severity', severity),
      el('span', 'badge category', asText(a.category) || 'other'),
      el('code', 'alert-rule', asText(a.rule)),
    );
    const detected = toDate(a.detected_at);
    const time = el('time', 'alert-time', shortTime(detected));
    if (detected) {
      time.dateTime = detected.toISOString();
      time.title = detected.toString();
    }
    head.append(time);

    const summary = el('p', 'alert-summary', asText(a.summary));
    const meta = el('div', 'alert-meta');
    const roomId = asText(a.room_id);
    if (roomId) {
      const open = el('button', 'link alert-room', roomId);
      open.type = 'button';
      open.dataset.action = 'open-room';
      open.title = 'Watch room ' + roomId;
      open.addEventListener('click', () => subscribe(roomId, true));
      meta.append(el('span', 'muted', 'room '), open);
    }
    if (a.user_id) meta.append(el('span', 'alert-user', 'user ' + asText(a.user_id)));
    if (a.score !== undefined && a.score !== null && Number.isFinite(Number(a.score))) {
      meta.append(el('span', 'alert-score', 'score ' + Number(a.score).toFixed(2)));
    }
    if (Array.isArray(a.message_ids) && a.message_ids.length) {
      const evidence = el('span', 'alert-evidence', a.message_ids.length + ' message' + (a.message_ids.length === 1 ? '' : 's'));
      evidence.title = a.message_ids.map(asText).join('\n');
      meta.append(evidence);
    }
    li.append(head, summary, meta);
    ui.alerts.prepend(li);
    ui.alertsEmpty.hidden = true;
    while (ui.alerts.children.length > MAX_ALERTS) {
      const last = ui.alerts.lastElementChild;
      state.alertIds.delete(last.dataset.alertId);
      last.remove();
    }
  }

  // ---------- wiring ----------

  ui.loginForm.addEventListener('submit', (event) => {
    event.preventDefault();
    signIn(ui.tokenInput.value, true);
  });

  ui.logout.addEventListener('click', () => signOut(''));

  ui.subscribeForm.addEventListener('submit', (event) => {
    event.preventDefault();
    if (subscribe(ui.roomInput.value, true)) ui.roomInput.value = '';
  });

  ui.alertsClear.addEventListener('click', () => {
    ui.alerts.replaceChildren();
    state.alertIds.clear();
    ui.alertsEmpty.hidden = false;
  });

  window.addEventListener('hashchange', () => {
    const token = tokenFromFragment();
    if (token) {
      if (state.signedIn) signOut();
      signIn(token, false);
    }
  });

  /** Debugging and test hooks; nothing here bypasses the server's checks. */
  window.parleyConsole = {
    /** Drops the connection and waits at least `holdMs` before resuming. */
    dropConnection(holdMs) {
      state.holdUntil = Date.now() + (Number(holdMs) || 0);
      const ws = state.ws;
      if (!ws) return false;
      state.ws = null;
      stopPing();
      ws.close(4000, 'dropped by the console');
      onClosed(4000, 'dropped by the console', true);
      return true;
    },
    /** Last position seen per room, as sent back in `since`. */
    positions() {
      const out = {};
      for (const room of state.rooms.values()) out[room.id] = room.pos === undefined ? null : room.pos;
      return out;
    },
  };

  const fromFragment = tokenFromFragment();
  const saved = fromFragment || storage('get', TOKEN_KEY);
  if (saved) {
    if (fromFragment) storage('del', ROOMS_KEY);
    signIn(saved, false);
  } else {
    ui.tokenInput.focus();
  }
})();
