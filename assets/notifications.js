/* Kontor notification bell, served after client.js in one closure. Usage:
 * <script src="https://crm.example.com/embed/notifications.js" data-token-provider="myFn" async></script>
 * window.myFn() gives the token or a Promise of it. Server data is set as text only. */
(() => {
  "use strict";
  const script = document.currentScript ||
    Array.from(document.querySelectorAll("script[data-token-provider]")).filter((s) => /notifications\.js/.test(s.src)).pop();
  if (!script || !script.src) return;
  const provider = () => window[script.getAttribute("data-token-provider")];
  const client = new KontorClient({
    endpoint: new URL("/graphql", script.src).href,
    token: () => (typeof provider() === "function" ? provider()() : null),
  });
  const N = "id title body createdAt readAt tag";
  let host, bell, badge, panel, list, empty, count = 0, items = [];

  function el(tag, cls, text, attrs) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text != null) n.textContent = text;
    for (const k in attrs || {}) n.setAttribute(k, attrs[k]);
    return n;
  }

  function mount() {
    host = document.createElement("kontor-notifications");
    host.dataset.state = "connecting";
    const target = document.querySelector("[data-kontor-notifications]");
    if (target) target.append(host);
    else if (document.body.contains(script)) script.after(host);
    else document.body.append(host);
    const root = host.attachShadow({ mode: "open" });
    bell = el("button", "bell", null, { type: "button", "aria-expanded": "false", "aria-controls": "panel" });
    bell.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 3a6 6 0 0 0-6 6v3.6L4.3 16h15.4L18 12.6V9a6 6 0 0 0-6-6Zm-2.5 15a2.5 2.5 0 0 0 5 0Z"/></svg>';
    badge = el("span", "badge", "0", { "aria-hidden": "true" });
    bell.append(badge);
    panel = el("div", "panel", null, { id: "panel", role: "region", "aria-label": "Notifications", hidden: "" });
    const markAll = el("button", "mark-all", "Mark all read", { type: "button" });
    const head = el("div", "head", "Notifications");
    head.append(markAll);
    list = el("ul", "list");
    empty = el("p", "empty", "Loading…");
    panel.append(head, list, empty);
    const w = el("div", "w"); // all:initial: nothing the page sets is inherited
    w.append(bell, panel);
    root.append(el("style", null, STYLE), w);
    setCount(0);
    bell.onclick = () => toggle(panel.hidden);
    markAll.onclick = () => markRead(null);
    list.onclick = (e) => { const li = e.target.closest("li[data-id]"); if (li) markRead(li.dataset.id); };
    root.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !panel.hidden) { e.stopPropagation(); toggle(false); bell.focus(); }
    });
    document.addEventListener("click", (e) => { if (!e.composedPath().includes(host)) toggle(false); });
    host.addEventListener("focusout", (e) => { if (e.relatedTarget && !host.contains(e.relatedTarget)) toggle(false); });
  }

  function toggle(open) {
    if (panel.hidden === !open) return;
    panel.hidden = !open;
    bell.setAttribute("aria-expanded", String(open));
    if (open) (list.querySelector("button") || panel.querySelector("button")).focus();
  }

  function setCount(n) {
    count = n;
    badge.textContent = String(n);
    badge.hidden = !n;
    bell.setAttribute("aria-label", "Notifications, " + n + " unread");
  }

  function ago(iso) {
    const s = (Date.now() - new Date(iso)) / 1000;
    const f = (v, u) => new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }).format(-Math.round(s / v), u);
    return s < 60 ? "just now" : s < 3600 ? f(60, "minute") : s < 86400 ? f(3600, "hour") : f(86400, "day");
  }

  function render(error) {
    list.textContent = "";
    for (const n of items) {
      const li = el("li", n.readAt ? "read" : "unread", null, { "data-id": n.id });
      const b = el("button", "item", null, { type: "button" });
      b.append(el("span", "title", n.title));
      if (n.body) b.append(el("span", "body", n.body));
      b.append(el("time", "time", ago(n.createdAt), { datetime: n.createdAt }));
      if (!n.readAt) b.append(el("span", "sr", " (unread)"));
      li.append(b);
      list.append(li);
    }
    empty.textContent = error || (items.length ? "" : "No notifications yet.");
    empty.hidden = !empty.textContent;
  }

  function load() {
    client.query("query Notifications { notifications(first: 20) { nodes { " + N + " } } }").then((d) => {
      items = d.notifications.nodes;
      render();
    }, (e) => render("Notifications could not be loaded (" + e.code + ")."));
  }

  function markRead(id) {
    const affected = items.filter((n) => !n.readAt && (id == null || n.id === id));
    if (!affected.length && (id != null || !count)) return;
    affected.forEach((n) => { n.readAt = new Date().toISOString(); });
    render();
    const again = id && list.querySelector('li[data-id="' + CSS.escape(id) + '"] button');
    if (again) again.focus();
    client.query("mutation MarkRead($ids: [ID!], $all: Boolean) { markNotificationsRead(ids: $ids, all: $all) }",
      id == null ? { all: true } : { ids: [id] }).catch(() => { affected.forEach((n) => { n.readAt = null; }); render(); });
  }

  function start() {
    let wasLive = false;
    client.onState((state) => {
      host.dataset.state = state === "idle" ? "connecting" : state;
      if (state === "live" && wasLive) load();
      if (state === "live") wasLive = true;
    });
    client.subscribe("subscription Unread { countersChanged { unreadNotifications } }", {}, {
      next: (d) => setCount(d.countersChanged.unreadNotifications),
    });
    client.subscribe("subscription NewNotifications { notificationAdded { " + N + " } }", {}, {
      next: (d) => {
        const n = d.notificationAdded;
        // It replaces an unread one with the same tag.
        items = [n].concat(items.filter((x) => x.id !== n.id && !(n.tag && x.tag === n.tag && !x.readAt))).slice(0, 20);
        render();
      },
    });
    load();
  }

  function init() {
    if (!document.body) return void document.addEventListener("DOMContentLoaded", init, { once: true });
    mount();
    // The page may define its token provider later: wait up to 10 s.
    let tries = 0;
    (function wait() {
      typeof provider() === "function" || tries++ > 50 ? start() : setTimeout(wait, 200);
    })();
  }

  const STYLE = `:host{all:initial;display:inline-block}
.w{all:initial;display:inline-block;position:relative;font:14px/1.4 system-ui,sans-serif;color:#18202b}
button{font:inherit;color:inherit;cursor:pointer}:focus-visible{outline:3px solid #2f6bea;outline-offset:2px}
.bell{position:relative;display:grid;place-items:center;width:40px;height:40px;padding:0;border-radius:50%;border:1px solid #d9dee6;background:#fff}
.bell svg{width:22px;fill:currentColor}.bell:hover,.item:hover{background:#f3f5f8}
.badge{position:absolute;top:-4px;right:-4px;min-width:18px;padding:0 5px;border-radius:9px;background:#d23f3f;color:#fff;font:700 11px/18px system-ui,sans-serif}
.panel{position:absolute;right:0;top:48px;z-index:2147483000;width:340px;max-width:90vw;max-height:60vh;display:flex;flex-direction:column;background:#fff;border:1px solid #e3e7ed;border-radius:12px;box-shadow:0 12px 32px #1018402a;overflow:hidden}
.head{display:flex;justify-content:space-between;padding:12px 14px;font-weight:700}
.mark-all{border:0;background:none;color:#2f6bea}
.list{list-style:none;margin:0;padding:0;overflow:auto}
.item{display:grid;width:100%;text-align:left;border:0;border-top:1px solid #edf0f4;background:none;padding:10px 14px 10px 26px;position:relative}
.unread .item{background:#f3f7ff}.unread .item::before{content:"";position:absolute;left:11px;top:16px;width:8px;height:8px;border-radius:50%;background:#2f6bea}
.unread .title{font-weight:650}.body,.empty{color:#5d6877;font-size:13px}.time{color:#8a94a3;font-size:12px}
.empty{margin:0;padding:24px;text-align:center}.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
[hidden]{display:none!important}`;

  init();
})();
