/* Kontor GraphQL client: queries over HTTP, subscriptions over one shared WebSocket
 * (graphql-transport-ws). A classic script that only declares `KontorClient`; it runs
 * nothing at load, so it can be served as-is or concatenated inside another script's IIFE.
 *
 *   const client = new KontorClient({
 *     endpoint: "https://crm.example.com/graphql",   // absolute, or relative to location
 *     token: () => localStorage.getItem("t"),        // a string, or a function giving a
 *                                                    // string or a Promise of one
 *     onState: (state) => {},                        // optional, see states below
 *   });
 *
 *   client.request(query, variables) -> Promise<{data, errors}>   never rejects on GraphQL
 *       errors (partial data stays usable); rejects on network/HTTP failures only.
 *   client.query(query, variables)   -> Promise<data>   rejects with an Error whose `code` is
 *       `extensions.code` of the first GraphQL error (UNAUTHENTICATED, NOT_FOUND, ...), or
 *       NETWORK_ERROR, TIMEOUT, HTTP_ERROR; `errors` holds all GraphQL errors, `data` any
 *       partial data. Mutations go through `query` too.
 *   client.subscribe(query, variables, sink) -> unsubscribe()
 *       sink = { next(data), error(err), complete(), state(state) } (all optional).
 *       `variables` may be a function: it is called on every (re)subscribe, so a caller can
 *       pass `after: lastEventId` to replay what it missed while disconnected. Every
 *       subscription shares one socket. When the socket drops, the client reconnects with
 *       backoff (0.5 s, 1 s, 2 s ... at most 10 s) and subscribes again. A subscription the
 *       server ends with an error naming `extensions.after` (events could not be delivered)
 *       is reported to `error` (err.after, err.willRetry = true) and subscribed again. Other
 *       errors end the subscription (`error`, no retry); a server `complete` calls `complete`.
 *   client.onState(fn) -> remove()   fn(state) on every change, and once at once.
 *   client.state                       the current state.
 *   client.reconnect()                 connect again now (after `unauthenticated`, a new token).
 *   client.close()                     ends every subscription and the socket; final.
 *
 * States: "idle" (no socket yet), "connecting" (first connection), "live" (acknowledged),
 * "reconnecting" (lost, retrying with backoff), "unauthenticated" (the token was refused:
 * close 4401, a refused connection_init, an HTTP UNAUTHENTICATED, or no token; no retry
 * until reconnect()), "closed" (after close()).
 * A socket closed with 4403 after it was acknowledged means the user's rights changed (see
 * README): the client reconnects at once and resubscribes with `after` from the variables.
 */
function KontorClient(options) {
  "use strict";
  if (!(this instanceof KontorClient)) return new KontorClient(options);
  options = options || {};
  const self = this;
  const base = typeof location !== "undefined" ? location.href : undefined;
  const endpoint = new URL(options.endpoint || "/graphql", base);
  const wsUrl = new URL(endpoint.href);
  wsUrl.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";
  const DELAYS = [500, 1000, 2000, 4000, 8000, 10000];
  const listeners = new Set();
  const subs = new Map(); // id -> {query, variables, sink, active, retries, timer}
  let socket = null;
  let acked = false;
  let attempt = 0;
  let everLive = false;
  let retryTimer = null;
  let ackTimer = null;
  let pingTimer = null;
  let pongTimer = null;
  let closed = false;
  let opening = false; // waiting for the token before the socket exists
  let nextId = 0;

  self.endpoint = endpoint.href;
  self.state = "idle";
  if (typeof options.onState === "function") listeners.add(options.onState);

  function setState(state) {
    if (self.state === state) return;
    self.state = state;
    listeners.forEach((fn) => call(fn, state));
    subs.forEach((s) => s.sink.state && call(s.sink.state.bind(s.sink), state));
  }

  function call(fn, arg) {
    try { fn(arg); } catch (e) { setTimeout(() => { throw e; }); }
  }

  function getToken() {
    return Promise.resolve(typeof options.token === "function" ? options.token() : options.token)
      .then((t) => (t == null ? "" : String(t).trim()));
  }

  function fail(message, code, extra) {
    const err = new Error(message);
    err.code = code;
    return Object.assign(err, extra || {});
  }

  function graphqlError(errors, data) {
    const first = errors[0] || {};
    const ext = first.extensions || {};
    return fail(first.message || "GraphQL error", ext.code || "GRAPHQL_ERROR",
      { errors, data, extensions: ext, after: ext.after, path: first.path });
  }

  self.request = function (query, variables) {
    return getToken().then((token) => {
      const ctrl = typeof AbortController === "function" ? new AbortController() : null;
      const timer = ctrl && setTimeout(() => ctrl.abort(), 30000);
      const headers = { "Content-Type": "application/json", Accept: "application/graphql-response+json, application/json" };
      if (token) headers.Authorization = "Bearer " + token;
      return fetch(endpoint.href, {
        method: "POST", headers, credentials: "omit", signal: ctrl ? ctrl.signal : undefined,
        body: JSON.stringify({ query, variables: variables || {} }),
      }).then((res) => res.text().then((text) => {
        let body = null;
        try { body = JSON.parse(text); } catch (_) { /* not JSON */ }
        if (!body || typeof body !== "object" || (!("data" in body) && !Array.isArray(body.errors))) {
          throw fail("The server answered HTTP " + res.status, "HTTP_ERROR", { status: res.status });
        }
        const errors = Array.isArray(body.errors) ? body.errors : [];
        if (errors.some((e) => e.extensions && e.extensions.code === "UNAUTHENTICATED")) unauthenticated();
        return { data: body.data == null ? null : body.data, errors, status: res.status };
      }), (e) => {
        throw ctrl && ctrl.signal.aborted ? fail("The server did not answer in time", "TIMEOUT")
          : fail("Could not reach the server", "NETWORK_ERROR", { cause: e });
      }).finally(() => timer && clearTimeout(timer));
    });
  };

  self.query = function (query, variables) {
    return self.request(query, variables).then((r) => {
      if (r.errors.length) throw graphqlError(r.errors, r.data);
      return r.data;
    });
  };

  self.onState = function (fn) {
    listeners.add(fn);
    call(fn, self.state);
    return () => listeners.delete(fn);
  };

  self.subscribe = function (query, variables, sink) {
    if (closed) throw fail("The client is closed", "CLOSED");
    const id = String(++nextId);
    const sub = { id, query, variables, sink: sink || {}, active: false, retries: 0, timer: null };
    subs.set(id, sub);
    if (acked) start(sub); else connect();
    return function unsubscribe() {
      if (!subs.has(id)) return;
      clearTimeout(sub.timer);
      subs.delete(id);
      if (sub.active && acked) send({ id, type: "complete" });
    };
  };

  self.reconnect = function () {
    if (closed) return;
    attempt = 0;
    clearTimeout(retryTimer);
    retryTimer = null;
    if (socket) drop(); else if (subs.size) connect(true);
  };

  self.close = function () {
    closed = true;
    clearTimeout(retryTimer);
    subs.forEach((s) => clearTimeout(s.timer));
    subs.clear();
    teardown(1000, "client closed");
    setState("closed");
    if (typeof removeEventListener === "function") removeEventListener("online", online);
  };

  function unauthenticated() {
    clearTimeout(retryTimer);
    retryTimer = null;
    teardown(1000, "unauthenticated");
    setState("unauthenticated");
  }

  function variablesOf(sub) {
    try { return typeof sub.variables === "function" ? sub.variables() || {} : sub.variables || {}; }
    catch (e) { return {}; }
  }

  function start(sub) {
    sub.active = true;
    send({ id: sub.id, type: "subscribe", payload: { query: sub.query, variables: variablesOf(sub) } });
  }

  function send(msg) {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify(msg));
  }

  function online() { if (retryTimer) self.reconnect(); }
  if (typeof addEventListener === "function") addEventListener("online", online);

  function connect(now) {
    if (closed || socket || opening || retryTimer || (self.state === "unauthenticated" && !now)) return;
    opening = true;
    setState(everLive || attempt > 0 ? "reconnecting" : "connecting");
    getToken().then((token) => {
      opening = false;
      if (closed || socket || (self.state === "unauthenticated" && !now)) return;
      if (!token) unauthenticated(); else open(token);
    }, () => { opening = false; scheduleRetry(); });
  }

  function open(token) {
    let ws;
    try { ws = new WebSocket(wsUrl.href, "graphql-transport-ws"); }
    catch (e) { scheduleRetry(); return; }
    socket = ws;
    acked = false;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "connection_init", payload: { Authorization: "Bearer " + token } }));
      ackTimer = setTimeout(() => drop(), 10000);
    };
    ws.onmessage = (ev) => { if (ws === socket) receive(ev.data); };
    ws.onerror = () => {};
    ws.onclose = (ev) => {
      if (ws !== socket) return;
      const wasAcked = acked;
      cleanup();
      if (closed) return;
      subs.forEach((s) => { s.active = false; clearTimeout(s.timer); s.timer = null; });
      if (ev.code === 4401 || (ev.code === 4403 && !wasAcked)) { unauthenticated(); return; }
      if (ev.code === 4403) attempt = 0; // rights changed: reconnect at once
      scheduleRetry(ev.code === 4403 ? 0 : undefined);
    };
  }

  function receive(raw) {
    let msg;
    try { msg = JSON.parse(raw); } catch (_) { return; }
    const sub = msg.id != null ? subs.get(String(msg.id)) : null;
    switch (msg.type) {
      case "connection_ack":
        clearTimeout(ackTimer);
        acked = true;
        attempt = 0;
        everLive = true;
        setState("live");
        keepalive();
        subs.forEach((s) => { if (!s.timer) start(s); });
        break;
      case "ping":
        send({ type: "pong" });
        break;
      case "pong":
        clearTimeout(pongTimer);
        break;
      case "next": {
        if (!sub) break;
        const payload = msg.payload || {};
        const errors = Array.isArray(payload.errors) ? payload.errors : [];
        if (payload.data != null && sub.sink.next) call(sub.sink.next.bind(sub.sink), payload.data);
        if (errors.length) {
          const err = graphqlError(errors, payload.data);
          if (err.after != null) sub.interrupted = err; // the server completes it next
          else if (sub.sink.error) call(sub.sink.error.bind(sub.sink), err);
        } else sub.retries = 0;
        break;
      }
      case "error":
        if (!sub) break;
        subs.delete(sub.id);
        if (sub.sink.error) call(sub.sink.error.bind(sub.sink), graphqlError(Array.isArray(msg.payload) ? msg.payload : [msg.payload || {}]));
        break;
      case "complete":
        if (!sub) break;
        sub.active = false;
        if (sub.interrupted) {
          const err = sub.interrupted;
          sub.interrupted = null;
          err.willRetry = true;
          if (sub.sink.error) call(sub.sink.error.bind(sub.sink), err);
          const delay = DELAYS[Math.min(sub.retries++, DELAYS.length - 1)];
          sub.timer = setTimeout(() => { sub.timer = null; if (subs.has(sub.id) && acked) start(sub); }, delay);
        } else {
          subs.delete(sub.id);
          if (sub.sink.complete) call(sub.sink.complete.bind(sub.sink));
        }
        break;
      default:
        break;
    }
  }

  // The server pings at the WebSocket level, which pages cannot see; our own pings find a
  // connection that died silently (a laptop waking up, a proxy dropping it).
  function keepalive() {
    clearInterval(pingTimer);
    pingTimer = setInterval(() => {
      send({ type: "ping" });
      clearTimeout(pongTimer);
      pongTimer = setTimeout(() => drop(), 10000);
    }, 30000);
  }

  function scheduleRetry(delay) {
    if (closed || retryTimer) return;
    if (delay === undefined) delay = DELAYS[Math.min(attempt, DELAYS.length - 1)];
    attempt++;
    setState(everLive || attempt > 1 ? "reconnecting" : "connecting");
    retryTimer = setTimeout(() => { retryTimer = null; if (subs.size) connect(true); }, delay);
  }

  function cleanup() {
    clearTimeout(ackTimer);
    clearInterval(pingTimer);
    clearTimeout(pongTimer);
    socket = null;
    acked = false;
  }

  // Closes the socket as if it had dropped: onclose schedules the reconnect.
  function drop() {
    const ws = socket;
    if (!ws) return;
    cleanup();
    subs.forEach((s) => { s.active = false; clearTimeout(s.timer); s.timer = null; });
    try { ws.close(4000, "reconnect"); } catch (_) { /* already closed */ }
    scheduleRetry(attempt === 0 ? 0 : undefined);
  }

  function teardown(code, reason) {
    const ws = socket;
    cleanup();
    subs.forEach((s) => { s.active = false; });
    if (ws) try { ws.close(code, reason); } catch (_) { /* already closed */ }
  }
}
