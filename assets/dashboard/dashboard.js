/* Kontor live sales dashboard. Plain script on top of client.js (KontorClient), using only
 * the public GraphQL API. The endpoint comes from <meta name="kontor-api">. Every value from
 * the server goes into the page through textContent or attributes, never parsed as HTML. */
(function () {
  "use strict";

  const TOKEN_KEY = "kontor.token";
  const PIPELINE_KEY = "kontor.dashboard.pipeline";
  const PERIOD_KEY = "kontor.dashboard.period";
  const FEED_MAX = 50;
  const meta = document.querySelector('meta[name="kontor-api"]');
  const endpoint = new URL((meta && meta.getAttribute("content")) || "/graphql", location.href);
  // GraphiQL is served next to the endpoint (`/` for `/graphql`).
  const graphiql = new URL("./", endpoint);

  const Q = {
    me: "query Me { me { id name email timeZone } }",
    pipelines: "query Pipelines { pipelines { id name isDefault stages { id name color semantics } } }",
    activities: `query DueActivities($me: ID!, $end: DateTime!) {
  activities(
    filter: { responsibleId: { eq: $me }, completed: { eq: false }, deadline: { lt: $end } }
    orderBy: [{ field: DEADLINE, direction: ASC }]
    first: 50
  ) {
    totalCount
    nodes { id type subject deadline priority direction owner { type id } }
  }
}`,
    complete: "mutation CompleteActivity($id: ID!) { completeActivity(id: $id) { id completed } }",
    funnel: `query DealFunnel($pipelineId: ID!, $from: NaiveDate) {
  dealFunnel(pipelineId: $pipelineId, from: $from) {
    stages { stage { id name color semantics } count amounts { currency amount } }
    won { count amounts { currency amount } }
    lost { count amounts { currency amount } }
    winRate
  }
}`,
    conversion: `query LeadConversion($from: NaiveDate) {
  leadConversion(groupBy: SOURCE, from: $from) {
    source { id name color }
    created converted junked conversionRate
  }
}`,
    history: `query RecentHistory {
  history(first: ${FEED_MAX}) {
    nodes { id kind at elementType elementId text author { id name } changes { field oldValue newValue } }
  }
}`,
    counters: `subscription Counters {
  countersChanged {
    total { ...Set } leads { ...Set } deals { ...Set } contacts { ...Set } companies { ...Set }
    unreadNotifications
  }
}
fragment Set on CounterSet { overdue pending incoming total }`,
    changes: `subscription DealAndLeadChanges($after: String) {
  elementChanged(types: [DEAL, LEAD], after: $after) {
    eventId elementType elementId action
    element { ... on Lead { id title firstName lastName companyTitle } ... on Deal { id title } }
  }
}`,
    timeline: `subscription LiveHistory($after: String) {
  timelineAdded(after: $after) {
    eventId
    entry { id kind at elementType elementId text author { id name } changes { field oldValue newValue } }
  }
}`,
  };

  // What a GraphiQL link fetches per element type.
  const TYPES = {
    LEAD: { word: "lead", fields: ["title", "firstName", "lastName", "companyTitle", "status { name }", "source { name }", "opportunity", "currency", "assignedTo { name }"] },
    DEAL: { word: "deal", fields: ["title", "stage { name }", "opportunity", "currency", "company { title }", "contacts { fullName }", "assignedTo { name }"] },
    CONTACT: { word: "contact", fields: ["fullName", "position", "emails { value }", "phones { value }", "companies { title }", "assignedTo { name }"] },
    COMPANY: { word: "company", fields: ["title", "phones { value }", "emails { value }", "assignedTo { name }"] },
  };
  const NAME_FIELDS = {
    LEAD: "title firstName lastName companyTitle", DEAL: "title", CONTACT: "fullName", COMPANY: "title",
  };
  const ACTIVITY_TYPES = { CALL: "Call", MEETING: "Meeting", TASK: "Task", EMAIL: "E-mail", TODO: "To-do" };
  const STATE_LABELS = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", unauthenticated: "Signed out" };

  const $ = (sel, root) => (root || document).querySelector(sel);
  const view = {
    signIn: $("#sign-in-view"), form: $("#sign-in"), token: $("#token"), dashboard: $("#dashboard"),
    error: $("#error"), connection: $("#connection"), me: $("#me"), meName: $("#me-name"), signOut: $("#sign-out"),
    activities: $("#activities"), activitiesCount: $("#activities-count"), pipeline: $("#pipeline"), period: $("#period"),
    funnel: $("#funnel"), conversion: $("#conversion"), conversionPeriod: $("#conversion-period"), feed: $("#feed"),
  };
  const errorHome = view.error.parentNode;
  const errorHomeNext = view.error.nextSibling;

  let session = null;

  // ---------------------------------------------------------------- small helpers

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    if (attrs) for (const k of Object.keys(attrs)) {
      const v = attrs[k];
      if (v == null || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k === "style") node.style.cssText = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of [].concat(children || [])) if (c != null && c !== false) node.append(c);
    return node;
  }

  function debounce(fn, ms) {
    let t = null;
    const run = function () { clearTimeout(t); t = setTimeout(() => { t = null; fn(); }, ms); };
    run.cancel = () => clearTimeout(t);
    return run;
  }

  function money(a) {
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: a.currency }).format(a.amount);
    } catch (_) {
      return a.amount + " " + a.currency;
    }
  }
  const amounts = (list) => (list || []).map(money).join(" + ");
  const percent = (x) => (x == null ? "–" : Math.round(x * 100) + "%");

  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });
  const relFmt = typeof Intl.RelativeTimeFormat === "function" ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }) : null;

  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  }

  function shortTime(iso) {
    const d = new Date(iso);
    return sameDay(d, new Date()) ? timeFmt.format(d) : dayFmt.format(d) + ", " + timeFmt.format(d);
  }

  function relative(iso) {
    const diff = (new Date(iso).getTime() - Date.now()) / 1000;
    const abs = Math.abs(diff);
    if (!relFmt) return shortTime(iso);
    if (abs < 60) return diff < 0 ? "just now" : "in a moment";
    if (abs < 3600) return relFmt.format(Math.round(diff / 60), "minute");
    if (abs < 86400) return relFmt.format(Math.round(diff / 3600), "hour");
    return relFmt.format(Math.round(diff / 86400), "day");
  }

  // The next midnight in the user's IANA time zone ("today" for counters follows it).
  function endOfToday(timeZone) {
    const now = new Date();
    try {
      const fmt = new Intl.DateTimeFormat("en-US", {
        timeZone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric",
      });
      const parts = (t) => {
        const p = {};
        for (const x of fmt.formatToParts(new Date(t))) p[x.type] = Number(x.value);
        return p;
      };
      const offset = (t) => {
        const p = parts(t);
        return Date.UTC(p.year, p.month - 1, p.day, p.hour % 24, p.minute, p.second) - Math.floor(t / 1000) * 1000;
      };
      const today = parts(now.getTime());
      const midnight = Date.UTC(today.year, today.month - 1, today.day + 1);
      let t = midnight - offset(midnight);
      t = midnight - offset(t);
      return new Date(t);
    } catch (_) {
      return new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
    }
  }

  function periodFrom(value) {
    const d = new Date();
    const iso = (x) => x.getFullYear() + "-" + String(x.getMonth() + 1).padStart(2, "0") + "-" + String(x.getDate()).padStart(2, "0");
    if (value === "30d") return iso(new Date(d.getFullYear(), d.getMonth(), d.getDate() - 30));
    if (value === "quarter") return iso(new Date(d.getFullYear(), d.getMonth() - (d.getMonth() % 3), 1));
    if (value === "year") return iso(new Date(d.getFullYear(), 0, 1));
    return null;
  }

  function errorText(err) {
    if (!err) return "Something went wrong.";
    if (err.code === "NETWORK_ERROR") return "Kontor cannot be reached. Check the connection.";
    if (err.code === "TIMEOUT") return "Kontor did not answer in time.";
    if (err.code === "HTTP_ERROR") return "Kontor is not answering (HTTP " + err.status + ").";
    if (err.code === "UNAUTHENTICATED") return "The token was not accepted.";
    if (err.code === "INTERNAL_SERVER_ERROR") return "Kontor had an internal error.";
    return err.message || "Something went wrong.";
  }

  // Loading, empty and error states of a card body; `fill` draws the content.
  function setBody(name, state, opts) {
    const body = $('[data-body="' + name + '"]');
    const old = body.querySelector(".state");
    if (old) old.remove();
    body.setAttribute("aria-busy", state === "loading" ? "true" : "false");
    body.dataset.state = state;
    if (state === "loading") {
      body.prepend(el("div", { class: "state loading" }, [
        el("span", { class: "visually-hidden", text: "Loading…" }),
        el("span", { class: "skeleton", "aria-hidden": "true" }), el("span", { class: "skeleton", "aria-hidden": "true" }),
        el("span", { class: "skeleton short", "aria-hidden": "true" }),
      ]));
    } else if (state === "empty") {
      body.prepend(el("div", { class: "state empty" }, [el("p", { class: "empty-title", text: opts.title }), opts.hint ? el("p", { class: "hint", text: opts.hint }) : null]));
    } else if (state === "error") {
      const retry = el("button", { type: "button", class: "button small", text: "Retry" });
      retry.addEventListener("click", opts.retry);
      body.prepend(el("div", { class: "state error", role: "alert" }, [el("p", { text: opts.message }), retry]));
    }
  }

  function showError(message, retry) {
    view.error.textContent = "";
    view.error.append(el("p", { text: message }));
    if (retry) {
      const b = el("button", { type: "button", class: "button small", text: "Retry" });
      b.addEventListener("click", () => { hideError(); retry(); });
      view.error.append(b);
    } else if (!view.signIn.hidden) {
      // on the sign-in form the message stays until the next attempt
    } else {
      const b = el("button", { type: "button", class: "button small quiet", text: "Dismiss" });
      b.addEventListener("click", hideError);
      view.error.append(b);
    }
    view.error.hidden = false;
  }

  function hideError() {
    view.error.hidden = true;
    view.error.textContent = "";
  }

  function setConnection(state) {
    if (!STATE_LABELS[state]) return;
    view.connection.dataset.state = state;
    $(".label", view.connection).textContent = STATE_LABELS[state];
    view.connection.title = state === "live" ? "Updates arrive as they happen" : STATE_LABELS[state];
  }

  // ---------------------------------------------------------------- sign-in

  function showSignIn(message) {
    view.dashboard.hidden = true;
    view.me.hidden = true;
    view.signOut.hidden = true;
    view.signIn.hidden = false;
    $(".error-slot", view.form).append(view.error);
    setConnection("unauthenticated");
    if (message) showError(message); else hideError();
    view.token.value = "";
    view.token.setAttribute("aria-invalid", message ? "true" : "false");
    if (message) view.token.setAttribute("aria-errormessage", "error"); else view.token.removeAttribute("aria-errormessage");
    view.token.focus();
  }

  function showDashboard(me) {
    errorHome.insertBefore(view.error, errorHomeNext);
    hideError();
    view.signIn.hidden = true;
    view.dashboard.hidden = false;
    view.signOut.hidden = false;
    view.me.hidden = false;
    view.meName.textContent = me ? me.name || me.email : "…";
    $(".avatar", view.me).textContent = me ? initials(me.name || me.email) : "";
    $(".avatar", view.me).hidden = !me;
    view.me.title = me ? me.email : "";
  }

  function initials(name) {
    const words = String(name || "?").trim().split(/[\s@.]+/).filter(Boolean);
    return ((words[0] || "?")[0] + (words.length > 1 ? words[words.length - 1][0] : "")).toUpperCase();
  }

  view.form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = view.token.value.trim();
    if (!token) { showError("Enter your API token."); view.token.setAttribute("aria-invalid", "true"); view.token.focus(); return; }
    const button = $('button[type="submit"]', view.form);
    button.disabled = true;
    button.textContent = "Signing in…";
    hideError();
    const probe = new KontorClient({ endpoint: endpoint.href, token });
    probe.query(Q.me).then((data) => {
      try { localStorage.setItem(TOKEN_KEY, token); } catch (_) { /* private mode: this tab only */ }
      start(token, data.me);
    }, (err) => {
      showError(err.code === "UNAUTHENTICATED"
        ? "This token was not accepted. Check that it is complete and has not been revoked."
        : "Could not sign in: " + errorText(err));
      view.token.setAttribute("aria-invalid", "true");
      view.token.setAttribute("aria-errormessage", "error");
      view.token.select();
    }).finally(() => {
      probe.close();
      button.disabled = false;
      button.textContent = "Sign in";
    });
  });

  view.signOut.addEventListener("click", () => signOut());

  function signOut(message) {
    try { localStorage.removeItem(TOKEN_KEY); } catch (_) { /* nothing stored */ }
    stop();
    showSignIn(message);
  }

  // ---------------------------------------------------------------- session

  function stop() {
    if (!session) return;
    session.stopped = true;
    session.timers.forEach((t) => clearInterval(t));
    clearTimeout(session.bootTimer);
    session.debouncers.forEach((d) => d.cancel());
    session.client.close();
    session = null;
  }

  function start(token, me) {
    stop();
    const s = {
      token, me: me || null, stopped: false, timers: [], debouncers: [],
      counters: null, completing: new Set(), pipelines: [], stages: new Map(), names: new Map(), pendingNames: new Set(),
      lastChangeEvent: null, lastTimelineEvent: null, seenEvents: new Set(), seenEntries: new Set(),
      wasLive: false, booted: false, booting: false, bootTries: 0, bootTimer: null, seq: { activities: 0, funnel: 0, conversion: 0, history: 0 }, loaded: {},
    };
    session = s;
    s.client = new KontorClient({ endpoint: endpoint.href, token: () => token, onState: (state) => onState(s, state) });
    showDashboard(me);
    for (const name of ["activities", "funnel", "conversion", "feed"]) setBody(name, "loading");
    view.activities.textContent = "";
    view.funnel.textContent = "";
    view.conversion.textContent = "";
    view.feed.textContent = "";
    view.activitiesCount.textContent = "";
    document.querySelectorAll("[data-counter]").forEach((n) => { n.textContent = "–"; });
    document.querySelectorAll(".tiles, table.counters").forEach((n) => n.setAttribute("aria-busy", "true"));
    view.period.value = readPref(PERIOD_KEY) || "all";

    s.refreshActivities = debounce(() => loadActivities(s), 300);
    s.refreshFunnel = debounce(() => loadFunnel(s), 300);
    s.refreshConversion = debounce(() => loadConversion(s), 300);
    s.fetchNames = debounce(() => fetchNames(s), 150);
    s.debouncers.push(s.refreshActivities, s.refreshFunnel, s.refreshConversion, s.fetchNames);
    // Relative deadlines ("in 5 minutes") age; redraw them.
    s.timers.push(setInterval(() => tickActivities(s), 30000));

    // Live data first: it needs nothing but the token, and its socket tells when Kontor is back.
    subscribe(s);
    boot(s, me);
  }

  // Who am I, then everything that depends on it. A wall screen may start before the server:
  // while Kontor cannot be reached, retry by itself (2 s, 4 s ... 30 s) and at once when live.
  function boot(s, me) {
    if (s.stopped || s.booted || s.booting) return;
    clearTimeout(s.bootTimer);
    s.booting = true;
    const whoami = me ? Promise.resolve({ me }) : s.client.query(Q.me);
    whoami.then((data) => {
      s.booting = false;
      if (s.stopped) return;
      s.booted = true;
      s.me = data.me;
      hideError();
      showDashboard(s.me);
      loadActivities(s);
      loadPipelines(s);
      loadConversion(s);
      loadHistory(s);
    }, (err) => {
      s.booting = false;
      if (s.stopped) return;
      if (err.code === "UNAUTHENTICATED") { signOut("Your saved token is no longer accepted. Sign in again."); return; }
      const delay = Math.min(30000, 2000 * Math.pow(2, s.bootTries++));
      showError("The dashboard could not load: " + errorText(err) + " Retrying automatically.", () => boot(s, null));
      s.bootTimer = setTimeout(() => boot(s, null), delay);
    });
  }

  function onState(s, state) {
    if (s.stopped) return;
    if (state === "unauthenticated") {
      signOut("Your session ended: the token is no longer accepted. Sign in again.");
      return;
    }
    if (state === "idle") state = "connecting";
    setConnection(state);
    if (state === "live") {
      if (!s.booted) boot(s, null);
      // Back after a drop: catch up on what no event id can replay, and retry what failed.
      else if (s.wasLive) {
        s.refreshActivities();
        if (!s.lastChangeEvent || !s.loaded.funnel) s.refreshFunnel();
        if (!s.lastChangeEvent || !s.loaded.conversion) s.refreshConversion();
        if (!s.lastTimelineEvent || $('[data-body="feed"]').dataset.state === "error") loadHistory(s);
        if (!s.pipelines.length) loadPipelines(s);
      }
      s.wasLive = true;
    }
  }

  function subscribe(s) {
    subscribeCounters(s);
    subscribeChanges(s);
    subscribeTimeline(s);
  }

  // A subscription the server ended for good (not a dropped socket, which reconnects).
  function stopped(s, what, retry) {
    return (err) => {
      if (err.willRetry || s.stopped) return;
      showError(what + " stopped: " + errorText(err), retry);
    };
  }

  function subscribeCounters(s) {
    s.client.subscribe(Q.counters, {}, {
      next: (data) => {
        const first = !s.counters;
        s.counters = data.countersChanged;
        renderCounters(s.counters);
        if (!first) s.refreshActivities();
      },
      error: stopped(s, "Live counters", () => subscribeCounters(s)),
    });
  }

  function subscribeChanges(s) {
    s.client.subscribe(Q.changes, () => (s.lastChangeEvent ? { after: s.lastChangeEvent } : {}), {
      next: (data) => {
        const c = data.elementChanged;
        if (!fresh(s, "c" + c.eventId)) return;
        s.lastChangeEvent = c.eventId;
        if (c.element) s.names.set(c.elementId, displayName(c.elementType, c.element));
        updateNames(s, c.elementId);
        if (c.elementType === "DEAL") s.refreshFunnel();
        if (c.elementType === "LEAD") s.refreshConversion();
      },
      error: stopped(s, "Live report updates", () => subscribeChanges(s)),
    });
  }

  function subscribeTimeline(s) {
    s.client.subscribe(Q.timeline, () => (s.lastTimelineEvent ? { after: s.lastTimelineEvent } : {}), {
      next: (data) => {
        const ev = data.timelineAdded;
        if (!fresh(s, "t" + ev.eventId)) return;
        s.lastTimelineEvent = ev.eventId;
        addEntry(s, ev.entry, ev.eventId, true);
      },
      error: stopped(s, "The live history", () => subscribeTimeline(s)),
    });
  }

  function fresh(s, key) {
    if (s.seenEvents.has(key)) return false;
    s.seenEvents.add(key);
    if (s.seenEvents.size > 2000) s.seenEvents = new Set(Array.from(s.seenEvents).slice(-1000));
    return true;
  }

  function readPref(key) { try { return localStorage.getItem(key); } catch (_) { return null; } }
  function writePref(key, v) { try { localStorage.setItem(key, v); } catch (_) { /* not kept */ } }

  // ---------------------------------------------------------------- counters

  function renderCounters(c) {
    document.querySelectorAll("[data-counter]").forEach((node) => {
      const path = node.getAttribute("data-counter").split(".");
      let v = c;
      for (const p of path) v = v == null ? v : v[p];
      if (v == null) return;
      const text = String(v);
      if (node.textContent !== text) {
        node.textContent = text;
        node.classList.toggle("zero", v === 0);
        if (!node.closest("[aria-busy=true]")) flash(node);
      }
    });
    document.querySelectorAll(".tiles, table.counters").forEach((n) => n.setAttribute("aria-busy", "false"));
  }

  function flash(node) {
    node.classList.remove("changed");
    void node.offsetWidth;
    node.classList.add("changed");
  }

  // ---------------------------------------------------------------- activities

  function loadActivities(s) {
    if (s.stopped || !s.me) return;
    const seq = ++s.seq.activities;
    if (!s.loaded.activities) setBody("activities", "loading");
    s.client.query(Q.activities, { me: s.me.id, end: endOfToday(s.me.timeZone).toISOString() }).then((data) => {
      if (s.stopped || seq !== s.seq.activities) return;
      s.loaded.activities = true;
      s.activities = data.activities.nodes;
      s.activitiesTotal = data.activities.totalCount;
      s.activities.forEach((a) => a.owner && wantName(s, a.owner.type, a.owner.id));
      renderActivities(s);
    }, (err) => {
      if (s.stopped || seq !== s.seq.activities) return;
      s.loaded.activities = false;
      view.activities.textContent = "";
      view.activitiesCount.textContent = "";
      setBody("activities", "error", { message: "Activities could not be loaded. " + errorText(err), retry: () => loadActivities(s) });
    });
  }

  function renderActivities(s) {
    if (!s.activities || s.stopped) return;
    const list = s.activities;
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest("li[data-activity-id]");
    const focusId = focused && focused.getAttribute("data-activity-id");
    view.activities.textContent = "";
    const now = Date.now();
    activitiesCount(s);
    if (!list.length) {
      setBody("activities", "empty", { title: "No activities due today", hint: "Nothing overdue either. Enjoy the calm." });
      return;
    }
    setBody("activities", "ready");
    for (const a of list) {
      const due = new Date(a.deadline);
      const late = due.getTime() <= now;
      const button = el("button", { type: "button", class: "complete", "aria-label": "Complete: " + a.subject },
        [el("span", { class: "check", "aria-hidden": "true" }), el("span", { class: "complete-label", text: "Done" })]);
      button.addEventListener("click", () => completeActivity(s, a, button));
      if (s.completing.has(a.id)) busy(button, true);
      const meta = [
        el("span", { class: "kind", text: ACTIVITY_TYPES[a.type] || a.type }),
        a.direction === "INCOMING" ? el("span", { class: "tag incoming", text: "Incoming" }) : null,
        a.priority === "HIGH" ? el("span", { class: "tag high", text: "High priority" }) : null,
        a.owner ? elementLink(s, a.owner.type, a.owner.id) : null,
      ];
      const li = el("li", { class: "activity" + (late ? " late" : ""), "data-activity-id": a.id }, [
        el("div", { class: "when" }, [
          el("time", { datetime: a.deadline, title: due.toLocaleString(), text: sameDay(due, new Date()) ? timeFmt.format(due) : dayFmt.format(due) }),
          el("span", { class: "due-label", text: late ? "Overdue" : relative(a.deadline) }),
        ]),
        el("div", { class: "what" }, [el("p", { class: "subject", text: a.subject }), el("p", { class: "meta" }, meta)]),
        button,
      ]);
      view.activities.append(li);
    }
    if (focusId) {
      const again = view.activities.querySelector('li[data-activity-id="' + CSS.escape(focusId) + '"] button.complete');
      if (again) again.focus();
    }
  }

  function activitiesCount(s) {
    const list = s.activities || [];
    const now = Date.now();
    const overdue = list.filter((a) => new Date(a.deadline).getTime() <= now).length;
    view.activitiesCount.textContent = list.length
      ? (overdue ? overdue + " overdue · " : "") + (list.length - overdue) + " today" + (s.activitiesTotal > list.length ? " · " + s.activitiesTotal + " in all" : "")
      : "";
  }

  // Deadlines age: "in 5 minutes" becomes "Overdue" without a new query.
  function tickActivities(s) {
    if (!s.activities || s.stopped) return;
    const now = Date.now();
    for (const a of s.activities) {
      const li = view.activities.querySelector('li[data-activity-id="' + CSS.escape(a.id) + '"]');
      if (!li) continue;
      const late = new Date(a.deadline).getTime() <= now;
      li.classList.toggle("late", late);
      $(".due-label", li).textContent = late ? "Overdue" : relative(a.deadline);
    }
    activitiesCount(s);
  }

  function busy(button, on) {
    button.disabled = on;
    button.classList.toggle("busy", on);
    $(".complete-label", button).textContent = on ? "Saving…" : "Done";
  }

  function completeActivity(s, a, button) {
    busy(button, true);
    s.completing.add(a.id);
    s.client.query(Q.complete, { id: a.id }).then(() => {
      s.completing.delete(a.id);
      if (s.stopped) return;
      const li = view.activities.querySelector('li[data-activity-id="' + CSS.escape(a.id) + '"]') || button.closest("li");
      // Keep the keyboard where it was: on the next activity, else on the card's title.
      const hadFocus = !document.activeElement || document.activeElement === document.body || li.contains(document.activeElement);
      const next = li.nextElementSibling || li.previousElementSibling;
      s.activities = (s.activities || []).filter((x) => x.id !== a.id);
      li.classList.add("done");
      setTimeout(() => {
        renderActivities(s);
        if (!hadFocus) return;
        const target = next && view.activities.querySelector('li[data-activity-id="' + CSS.escape(next.getAttribute("data-activity-id")) + '"] button.complete');
        const title = $("#activities-title");
        title.tabIndex = -1;
        (target || title).focus();
      }, 250);
      s.refreshActivities();
    }, (err) => {
      s.completing.delete(a.id);
      if (s.stopped) return;
      const now = view.activities.querySelector('li[data-activity-id="' + CSS.escape(a.id) + '"] button.complete');
      if (now) busy(now, false);
      showError("Could not complete “" + a.subject + "”: " + errorText(err));
    });
  }

  // ---------------------------------------------------------------- funnel

  function loadPipelines(s) {
    view.pipeline.disabled = true;
    setBody("funnel", "loading");
    s.client.query(Q.pipelines).then((data) => {
      if (s.stopped) return;
      s.pipelines = data.pipelines;
      s.stages.clear();
      for (const p of s.pipelines) for (const st of p.stages) s.stages.set(st.id, st.name);
      view.pipeline.textContent = "";
      for (const p of s.pipelines) view.pipeline.append(el("option", { value: p.id, text: p.name }));
      const saved = readPref(PIPELINE_KEY);
      const chosen = s.pipelines.find((p) => p.id === saved) || s.pipelines.find((p) => p.isDefault) || s.pipelines[0];
      if (!chosen) { setBody("funnel", "empty", { title: "No pipelines yet" }); return; }
      view.pipeline.value = chosen.id;
      view.pipeline.disabled = s.pipelines.length < 2;
      loadFunnel(s);
    }, (err) => {
      if (s.stopped) return;
      view.pipeline.textContent = "";
      view.pipeline.append(el("option", { text: "—" }));
      setBody("funnel", "error", { message: "Pipelines could not be loaded. " + errorText(err), retry: () => loadPipelines(s) });
    });
  }

  view.pipeline.addEventListener("change", () => {
    writePref(PIPELINE_KEY, view.pipeline.value);
    if (session) { session.loaded.funnel = false; loadFunnel(session); }
  });

  view.period.addEventListener("change", () => {
    writePref(PERIOD_KEY, view.period.value);
    if (session) {
      session.loaded.funnel = false;
      session.loaded.conversion = false;
      loadFunnel(session);
      loadConversion(session);
    }
  });

  function loadFunnel(s) {
    if (s.stopped || !view.pipeline.value || !s.pipelines.length) return;
    const seq = ++s.seq.funnel;
    if (!s.loaded.funnel) { view.funnel.textContent = ""; setBody("funnel", "loading"); }
    s.client.query(Q.funnel, { pipelineId: view.pipeline.value, from: periodFrom(view.period.value) }).then((data) => {
      if (s.stopped || seq !== s.seq.funnel) return;
      s.loaded.funnel = true;
      renderFunnel(data.dealFunnel);
    }, (err) => {
      if (s.stopped || seq !== s.seq.funnel) return;
      s.loaded.funnel = false;
      view.funnel.textContent = "";
      setBody("funnel", "error", { message: "The funnel could not be loaded. " + errorText(err), retry: () => loadFunnel(s) });
    });
  }

  function renderFunnel(f) {
    view.funnel.textContent = "";
    const stages = f.stages;
    const total = f.stages.reduce((n, x) => n + x.count, 0);
    setBody("funnel", "ready");
    const max = Math.max(1, ...stages.map((x) => x.count));
    const bars = el("ol", { class: "bars", "aria-label": "Deals per stage" });
    for (const x of stages) {
      const pct = x.count ? Math.max(2, (x.count / max) * 100) : 0;
      const money = amounts(x.amounts);
      const li = el("li", {
        class: "bar-row " + x.stage.semantics.toLowerCase(), "data-stage-id": x.stage.id, "data-count": String(x.count),
        "aria-label": x.stage.name + ": " + x.count + (x.count === 1 ? " deal" : " deals") + (money ? ", " + money : ""),
      }, [
        el("span", { class: "bar-label", text: x.stage.name, title: x.stage.name, "aria-hidden": "true" }),
        el("span", { class: "bar-track", "aria-hidden": "true" }, [
          el("span", { class: "bar", style: "width:" + pct.toFixed(1) + "%;" + (x.stage.color ? "--bar:" + safeColor(x.stage.color) : "") }),
        ]),
        el("span", { class: "bar-count", text: String(x.count), "aria-hidden": "true" }),
        el("span", { class: "bar-amount", text: money || "–", "aria-hidden": "true" }),
      ]);
      bars.append(li);
    }
    const outcome = (cls, label, fig) => el("div", { class: "outcome " + cls }, [
      el("p", { class: "outcome-label", text: label }),
      el("p", { class: "outcome-value", text: String(fig.count) }),
      el("p", { class: "outcome-amount", text: amounts(fig.amounts) || "–" }),
    ]);
    const winRate = el("div", { class: "outcome rate" }, [
      el("p", { class: "outcome-label", text: "Win rate" }),
      el("p", { class: "outcome-value", text: percent(f.winRate) }),
      el("div", { class: "rate-track", "aria-hidden": "true" }, [el("span", { style: "width:" + (f.winRate == null ? 0 : (f.winRate * 100).toFixed(1)) + "%" })]),
    ]);
    view.funnel.append(el("div", { class: "outcomes" }, [outcome("won", "Won", f.won), outcome("lost", "Lost", f.lost), winRate]),
      total ? "" : el("p", { class: "hint funnel-empty", text: "No deals in this pipeline yet: stages fill as deals are created." }), bars);
  }

  function safeColor(c) {
    return /^#[0-9a-f]{3,8}$/i.test(c) ? c : "var(--accent)";
  }

  // ---------------------------------------------------------------- conversion

  function loadConversion(s) {
    if (s.stopped) return;
    const seq = ++s.seq.conversion;
    const label = view.period.options[view.period.selectedIndex];
    view.conversionPeriod.textContent = label ? label.textContent : "";
    if (!s.loaded.conversion) { view.conversion.textContent = ""; setBody("conversion", "loading"); }
    s.client.query(Q.conversion, { from: periodFrom(view.period.value) }).then((data) => {
      if (s.stopped || seq !== s.seq.conversion) return;
      s.loaded.conversion = true;
      renderConversion(data.leadConversion);
    }, (err) => {
      if (s.stopped || seq !== s.seq.conversion) return;
      s.loaded.conversion = false;
      view.conversion.textContent = "";
      setBody("conversion", "error", { message: "Lead conversion could not be loaded. " + errorText(err), retry: () => loadConversion(s) });
    });
  }

  function renderConversion(groups) {
    view.conversion.textContent = "";
    const rows = groups.filter((g) => g.created > 0).sort((a, b) => b.created - a.created);
    if (!rows.length) {
      setBody("conversion", "empty", { title: "No leads in this period", hint: "Sources appear as leads come in." });
      return;
    }
    setBody("conversion", "ready");
    const max = Math.max(1, ...rows.map((g) => g.created));
    const list = el("ol", { class: "bars conversion-bars", "aria-label": "Leads per source" });
    for (const g of rows) {
      const name = g.source ? g.source.name : "No source";
      const open = Math.max(0, g.created - g.converted - g.junked);
      const w = (n) => ((n / max) * 100).toFixed(1) + "%";
      list.append(el("li", {
        class: "bar-row", "data-source-id": g.source ? g.source.id : "",
        "aria-label": name + ": " + g.created + " created, " + g.converted + " converted, " + g.junked + " junk, conversion " + percent(g.conversionRate),
      }, [
        el("span", { class: "bar-label", text: name, title: name, "aria-hidden": "true" }),
        el("span", { class: "bar-track stacked", "aria-hidden": "true" }, [
          el("span", { class: "seg converted", style: "width:" + w(g.converted) }),
          el("span", { class: "seg open", style: "width:" + w(open) }),
          el("span", { class: "seg junked", style: "width:" + w(g.junked) }),
        ]),
        el("span", { class: "bar-count", "aria-hidden": "true", text: g.converted + "/" + g.created }),
        el("span", { class: "bar-amount rate", "aria-hidden": "true", text: percent(g.conversionRate) }),
      ]));
    }
    const legend = el("p", { class: "legend", "aria-hidden": "true" }, [
      el("span", { class: "key converted", text: "Converted" }), el("span", { class: "key open", text: "In progress" }), el("span", { class: "key junked", text: "Junk" }),
    ]);
    view.conversion.append(list, legend);
  }

  // ---------------------------------------------------------------- history feed

  function loadHistory(s) {
    if (s.stopped) return;
    const seq = ++s.seq.history;
    if (!view.feed.children.length) setBody("feed", "loading");
    view.feed.setAttribute("aria-busy", "true"); // one announcement, not fifty
    s.client.query(Q.history).then((data) => {
      view.feed.setAttribute("aria-busy", "false");
      if (s.stopped || seq !== s.seq.history) return;
      // Oldest first, so that each is put in its place by time.
      data.history.nodes.slice().reverse().forEach((e) => addEntry(s, e, null, false));
      feedState(s);
    }, (err) => {
      view.feed.setAttribute("aria-busy", "false");
      if (s.stopped || seq !== s.seq.history) return;
      if (view.feed.children.length) { feedState(s); return; }
      setBody("feed", "error", { message: "The history could not be loaded. " + errorText(err), retry: () => loadHistory(s) });
    });
  }

  function feedState(s) {
    if (view.feed.children.length) setBody("feed", "ready");
    else setBody("feed", "empty", { title: "Waiting for changes…", hint: "New leads, deals, comments and stage moves appear here as they happen." });
  }

  function addEntry(s, e, eventId, live) {
    if (s.seenEntries.has(e.id)) {
      if (eventId) {
        const existing = view.feed.querySelector('li[data-entry-id="' + CSS.escape(e.id) + '"]');
        if (existing) existing.setAttribute("data-event-id", eventId);
      }
      return;
    }
    s.seenEntries.add(e.id);
    if (e.elementType) wantName(s, e.elementType, e.elementId);
    // data-event-id only where the event is known (live or replayed): history has no event ids.
    const li = el("li", { class: "entry kind-" + e.kind.toLowerCase() + (live ? " new" : ""), "data-event-id": eventId || null, "data-entry-id": e.id, "data-at": e.at }, [
      el("time", { datetime: e.at, title: new Date(e.at).toLocaleString(), text: shortTime(e.at) }),
      el("span", { class: "avatar", "aria-hidden": "true", text: e.author ? initials(e.author.name) : "K" }),
      el("div", { class: "what" }, [el("p", { class: "sentence" }, sentence(s, e)), detail(s, e)]),
    ]);
    // Newest first: find the first entry that is not newer.
    const at = new Date(e.at).getTime();
    let before = view.feed.firstElementChild;
    while (before && new Date(before.getAttribute("data-at")).getTime() > at) before = before.nextElementSibling;
    view.feed.insertBefore(li, before);
    while (view.feed.children.length > FEED_MAX) {
      const last = view.feed.lastElementChild;
      s.seenEntries.delete(last.getAttribute("data-entry-id"));
      last.remove();
    }
    if (live) feedState(s);
  }

  const VERBS = {
    CREATED: "created", UPDATED: "updated", DELETED: "deleted", COMMENT: "commented on", STATUS_CHANGED: "changed the status of",
    JUNKED: "marked as junk", CONVERTED: "converted", STAGE_CHANGED: "moved", CLOSED: "closed", REOPENED: "reopened",
    MERGED: "merged", IMPORTED: "imported", IMPORT_ROLLED_BACK: "rolled back the import of", ACTIVITY_ADDED: "added an activity to",
    ACTIVITY_COMPLETED: "completed an activity on", ACTIVITY_REOPENED: "reopened an activity on", ACTIVITY_MOVED: "moved an activity to",
  };

  function sentence(s, e) {
    const who = el("strong", { class: "who", text: e.author ? e.author.name : "Kontor" });
    const verb = VERBS[e.kind] || e.kind.toLowerCase().replace(/_/g, " ");
    const type = TYPES[e.elementType];
    return [who, " " + verb + " " + (type ? type.word + " " : ""), type ? elementLink(s, e.elementType, e.elementId, e.kind === "DELETED") : e.elementId];
  }

  function detail(s, e) {
    const stageName = (id) => s.stages.get(id) || id;
    const change = (field) => e.changes.find((c) => c.field === field);
    let text = null;
    const stage = change("stageId");
    if ((e.kind === "STAGE_CHANGED" || e.kind === "CLOSED" || e.kind === "REOPENED") && stage) {
      text = (stage.oldValue ? stageName(stage.oldValue) + " → " : "") + (stage.newValue ? stageName(stage.newValue) : "");
      if (e.text) text += " · " + e.text;
    } else if (e.kind === "UPDATED" && e.changes.length) {
      const shown = e.changes.slice(0, 3).map((c) => humanField(c.field) + (c.newValue != null && c.newValue.length <= 40 && !/Id$/.test(c.field) ? ": " + c.newValue : ""));
      text = shown.join(" · ") + (e.changes.length > 3 ? " · +" + (e.changes.length - 3) + " more" : "");
    } else if (e.text) {
      const act = /^(\w+) activity:\d+: ([\s\S]*)$/.exec(e.text);
      text = act ? (ACTIVITY_TYPES[act[1].toUpperCase()] || act[1]) + ": " + act[2] : e.text.replace(/@\[([^\]]+)\]\([^)]*\)/g, "@$1");
    }
    if (!text) return null;
    if (text.length > 180) text = text.slice(0, 177) + "…";
    return el("p", { class: e.kind === "COMMENT" ? "detail quote" : "detail", text });
  }

  function humanField(f) {
    const words = f.replace(/Id$/, "").replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  // ---------------------------------------------------------------- element names and links

  function displayName(type, n) {
    if (!n) return null;
    if (type === "LEAD") return n.title || [n.firstName, n.lastName].filter(Boolean).join(" ") || n.companyTitle || null;
    if (type === "CONTACT") return n.fullName || null;
    return n.title || null;
  }

  function elementQuery(type, id, deleted) {
    const t = TYPES[type];
    const history = "    nodes { kind at text author { name } changes { field oldValue newValue } }\n";
    if (deleted || !t) {
      return "query ElementHistory {\n  history(filter: { elementId: { eq: " + JSON.stringify(id) + " } }, first: 20) {\n" + history + "  }\n}\n";
    }
    const name = t.word.charAt(0).toUpperCase() + t.word.slice(1);
    return "query " + name + " {\n  " + t.word + "(id: " + JSON.stringify(id) + ") {\n    id\n" +
      t.fields.map((f) => "    " + f + "\n").join("") +
      "    timeline(first: 10) {\n  " + history + "    }\n  }\n}\n";
  }

  function elementHref(type, id, deleted) {
    const url = new URL(graphiql.href);
    url.search = "?query=" + encodeURIComponent(elementQuery(type, id, deleted));
    return url.origin === location.origin ? url.pathname + url.search : url.href;
  }

  function elementLink(s, type, id, deleted) {
    const name = s.names.get(id);
    const a = el("a", {
      class: "element", href: elementHref(type, id, deleted), "data-name-for": id, target: "_blank", rel: "noopener",
      title: "Open " + id + " in GraphiQL", text: name || id,
    });
    return a;
  }

  function wantName(s, type, id) {
    if (!NAME_FIELDS[type] || s.names.has(id) || s.pendingNames.has(type + "|" + id)) return;
    s.pendingNames.add(type + "|" + id);
    s.fetchNames();
  }

  function fetchNames(s) {
    if (s.stopped || !s.pendingNames.size) return;
    const wanted = Array.from(s.pendingNames).slice(0, 40);
    wanted.forEach((w) => s.pendingNames.delete(w));
    const vars = {};
    const fields = [];
    const decl = [];
    wanted.forEach((w, i) => {
      const [type, id] = w.split("|");
      vars["i" + i] = id;
      decl.push("$i" + i + ": ID!");
      fields.push("n" + i + ": " + TYPES[type].word + "(id: $i" + i + ") { " + NAME_FIELDS[type] + " }");
    });
    s.client.request("query ElementNames(" + decl.join(", ") + ") {\n  " + fields.join("\n  ") + "\n}", vars).then((r) => {
      if (s.stopped) return;
      wanted.forEach((w, i) => {
        const [type, id] = w.split("|");
        const n = r.data && r.data["n" + i];
        if (n) s.names.set(id, displayName(type, n) || id);
        else s.names.set(id, null); // deleted or not readable: keep the id
        updateNames(s, id);
      });
    }, () => { /* names are a nicety: ids stay */ });
    if (s.pendingNames.size) s.fetchNames();
  }

  function updateNames(s, id) {
    const name = s.names.get(id);
    if (!name) return;
    document.querySelectorAll('[data-name-for="' + CSS.escape(id) + '"]').forEach((a) => { a.textContent = name; });
  }

  // ---------------------------------------------------------------- start

  const saved = readPref(TOKEN_KEY);
  if (saved) start(saved, null); else showSignIn();
})();
