/*! Kontor web-form widget:
 *  <script src="https://crm.example.com/widget.js" data-kontor-form="KEY" async></script>
 *  It lives in a shadow root so the site's CSS and the widget cannot break each other, and
 *  builds its DOM with createElement/textContent only: no server or page data is parsed as HTML. */
(() => {
  "use strict";
  // A second copy would add a second button and fight over window.KontorWidget.
  if (window.KontorWidget) return;

  const script = findScript();
  if (!script) return;
  const key = script.getAttribute("data-kontor-form");
  const src = new URL(script.src, location.href);
  const formUrl = src.origin + src.pathname.replace(/\/widget\.js$/, "") + "/forms/" + encodeURIComponent(key);
  const left = script.getAttribute("data-kontor-position") === "left";
  const NETWORK_ERROR = "Could not send. Please try again.";

  let ui = null;
  let wantOpen = false; // open() may come before the config has arrived
  window.KontorWidget = {
    open() { if (ui) ui.open(); else wantOpen = true; },
    close() { if (ui) ui.close(); else wantOpen = false; },
  };

  fetch(formUrl + "/config", { credentials: "omit" })
    .then((res) => { if (!res.ok) throw new Error("HTTP " + res.status); return res.json(); })
    .then((config) => {
      const start = () => { ui = build(config); if (wantOpen) ui.open(); };
      if (document.body) start(); else document.addEventListener("DOMContentLoaded", start, { once: true });
    })
    .catch((err) => console.warn("Kontor widget: form " + key + " not shown:", err));

  function findScript() {
    const own = (s) => s && s.getAttribute("data-kontor-form") && /\/widget\.js$/.test(new URL(s.src, location.href).pathname);
    if (own(document.currentScript)) return document.currentScript;
    const all = Array.from(document.querySelectorAll("script[data-kontor-form]")).filter(own);
    if (!all.length) console.warn("Kontor widget: no <script data-kontor-form> found");
    return all.pop();
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "text") node.textContent = value;
      else if (value !== false && value != null) node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children || []) if (child) node.append(child);
    return node;
  }

  function build(config) {
    const host = el("div", { "data-kontor-widget": key });
    host.style.cssText = "all:initial"; // via CSSOM: a strict site CSP blocks style attributes
    const root = host.attachShadow({ mode: "open" });
    addStyle(root);
    let openedAt = 0;
    let returnFocus = null;

    const launcher = el("button", {
      type: "button", class: "launcher", part: "button", "data-kontor": "button", "aria-label": "Contact us",
      title: "Contact us", "aria-expanded": "false", "aria-controls": "k-panel",
    }, [chatIcon()]);
    const closer = el("button", { type: "button", class: "close", "aria-label": "Close", text: "\u00d7" });
    const body = el("div", { class: "body" });
    const panel = el("div", {
      id: "k-panel", class: "panel", part: "panel", role: "dialog", "aria-modal": "false",
      "aria-labelledby": "k-title", "data-kontor": "panel", tabindex: "-1", hidden: true,
    }, [el("div", { class: "head" }, [el("h2", { id: "k-title", text: config.name || "Contact us" }), closer]), body]);
    root.append(el("div", { class: left ? "root left" : "root" }, [panel, launcher]));

    const success = (data) => {
      const text = (data && data.message) || config.successMessage || "Thank you! We will get back to you soon.";
      const node = el("div", { class: "success", role: "status", "data-kontor": "success", tabindex: "-1", text });
      body.replaceChildren(node);
      node.focus();
      const target = safeUrl(data && data.redirectUrl);
      if (target) setTimeout(() => { location.href = target; }, 2000);
    };
    const common = { success, stamp: () => openedAt };
    const write = makeForm({
      ...common, hook: "form", id: "kw", url: formUrl + "/submit", submitLabel: "Send",
      fields: config.fields || [], consentText: config.consentText,
      payload: (values, consent) => ({ fields: values, consent }),
    });
    if (config.callback) {
      const call = makeForm({
        ...common, hook: "callback-form", id: "kc", url: formUrl + "/callback", submitLabel: "Call me back",
        fields: [
          { key: "name", label: "Your name", type: "STRING", autocomplete: "name" },
          { key: "phone", label: "Phone", type: "PHONE", required: true },
        ],
        payload: (values) => ({ name: values.name, phone: values.phone }),
      });
      body.append(choices([["Write to us", "form-tab", write], ["Call me back", "callback-tab", call]]), write, call);
    } else {
      body.append(write);
    }

    function open() {
      if (!panel.hidden) return;
      // Focus returns to where it came from: our button, or the site's own for open().
      returnFocus = document.activeElement === host ? launcher : document.activeElement;
      openedAt = openedAt || Date.now();
      panel.hidden = false;
      launcher.setAttribute("aria-expanded", "true");
      // On touch screens a focused field pops the keyboard up over the form.
      const fine = window.matchMedia && matchMedia("(pointer: fine)").matches;
      const first = fine && Array.from(body.querySelectorAll("input,select,textarea"))
        .find((n) => n.tabIndex >= 0 && !n.closest("[hidden]"));
      (first || panel).focus();
    }

    function close() {
      if (panel.hidden) return;
      const hadFocus = panel.contains(root.activeElement);
      panel.hidden = true;
      launcher.setAttribute("aria-expanded", "false");
      const back = returnFocus && returnFocus !== document.body && returnFocus.isConnected ? returnFocus : launcher;
      if (hadFocus) back.focus();
    }

    launcher.addEventListener("click", () => (panel.hidden ? open() : close()));
    closer.addEventListener("click", close);
    root.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !panel.hidden) { e.stopPropagation(); close(); }
    });
    document.body.append(host);
    return { open, close };
  }

  // Two pressed/unpressed buttons rather than ARIA tabs: same clarity, no arrow-key contract.
  function choices(entries) {
    const buttons = entries.map(([text, hook], i) => {
      const button = el("button", { type: "button", class: "choice", "data-kontor": hook, text });
      button.addEventListener("click", () => pick(i));
      return button;
    });
    const pick = (index) => entries.forEach(([, , pane], i) => {
      buttons[i].setAttribute("aria-pressed", String(i === index));
      pane.hidden = i !== index;
    });
    pick(0);
    return el("div", { class: "choices", role: "group", "aria-label": "How to reach us" }, buttons);
  }

  function makeForm(opts) {
    const form = el("form", { "data-kontor": opts.hook });
    const top = el("p", { class: "error top", role: "alert" });
    const rows = new Map(); // field key -> { control, error }; keys come from the server
    form.append(top);
    opts.fields.forEach((f, i) => rows.set(f.key, fieldRow(form, f, opts.id + i)));
    const consentRow = opts.consentText
      ? fieldRow(form, { key: "consent", label: opts.consentText, type: "CHECKBOX", required: true }, opts.id + "-consent")
      : null;
    // A real text input moved off-screen: bots skip type=hidden but fill what looks visible.
    const hp = el("input", { type: "text", name: "_hp", id: opts.id + "-hp", tabindex: "-1", autocomplete: "off", "aria-hidden": "true" });
    form.append(el("div", { class: "hp", "aria-hidden": "true" }, [el("label", { for: hp.id, text: "Leave empty" }), hp]));
    const submit = el("button", { type: "submit", class: "submit", "data-kontor": "submit", text: opts.submitLabel });
    form.append(submit);

    const rowsAll = () => Array.from(rows.values()).concat(consentRow || []);
    const say = (row, message) => {
      const node = row ? row.error : top;
      node.textContent = (node.textContent ? node.textContent + " " : "") + message;
      node.setAttribute("data-kontor", "error");
      if (row) row.control.setAttribute("aria-invalid", "true");
    };
    let refocus = false;
    const busy = (on) => {
      // Disabling the focused button drops focus to <body>; keyboard users get it back.
      if (on) refocus = form.getRootNode().activeElement === submit;
      submit.disabled = on;
      submit.textContent = on ? "Sending\u2026" : opts.submitLabel;
      if (!on && refocus && !form.getRootNode().activeElement) submit.focus();
    };

    // The Idempotency-Key of a send that may have reached the server: retrying the same
    // values reuses it so the server stores one lead; changed values get a new one.
    let pending = null;
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (submit.disabled) return;
      const values = Object.create(null);
      for (const [k, r] of rows) values[k] = r.control.type === "checkbox" ? r.control.checked : r.control.value;
      const consent = consentRow ? consentRow.control.checked : false;
      const signature = JSON.stringify([values, consent]);
      if (!pending || pending.signature !== signature) pending = { signature, id: randomId() };
      const payload = Object.assign(opts.payload(values, consent), {
        pageUrl: location.href, referrer: document.referrer, utm: utm(), _hp: hp.value, _ts: opts.stamp() || Date.now(),
      });
      for (const node of [top, ...rowsAll().map((r) => r.error)]) { node.textContent = ""; node.removeAttribute("data-kontor"); }
      rowsAll().forEach((r) => r.control.removeAttribute("aria-invalid"));
      busy(true);
      let res, data;
      try {
        res = await fetch(opts.url, {
          method: "POST", credentials: "omit", body: JSON.stringify(payload),
          headers: { "Content-Type": "application/json", "Idempotency-Key": pending.id },
        });
        data = await res.json().catch(() => null);
      } catch (err) {
        busy(false);
        return say(null, NETWORK_ERROR);
      }
      busy(false);
      // A server error may come after the lead was stored: the retry keeps the key.
      if (res.status >= 500) return say(null, NETWORK_ERROR);
      pending = null;
      if (res.ok && (!data || data.ok !== false)) return opts.success(data);
      if (res.status === 429) return say(null, retryMessage(res, data));
      const errors = (data && Array.isArray(data.errors) && data.errors) || [];
      if (!errors.length) say(null, (data && data.message) || NETWORK_ERROR);
      let first = null;
      for (const item of errors.filter(Boolean)) {
        const row = (item.key === "consent" && consentRow) || (item.key && rows.get(item.key)) || null;
        say(row, String(item.message || "Please check this field."));
        first = first || (row && row.control);
      }
      if (first) first.focus();
    });
    return form;
  }

  function fieldRow(form, f, id) {
    const type = String(f.type || "STRING").toUpperCase();
    let control;
    if (type === "TEXT") control = el("textarea", { rows: 4 });
    else if (type === "LIST") {
      control = el("select", {}, [!f.required && el("option", { value: "", text: "Select\u2026" })]);
      for (const item of f.items || []) control.append(el("option", { value: item, text: item }));
    } else {
      const types = { EMAIL: "email", PHONE: "tel", CHECKBOX: "checkbox" };
      control = el("input", { type: types[type] || "text", autocomplete: f.autocomplete || { EMAIL: "email", PHONE: "tel" }[type] });
      if (type === "CHECKBOX") control.value = "true";
    }
    control.id = id;
    control.name = f.key;
    control.required = !!f.required;
    control.setAttribute("aria-describedby", id + "-error");
    const label = el("label", { for: id }, [String(f.label || f.key), f.required && el("span", { class: "req", "aria-hidden": "true", text: " *" })]);
    const error = el("p", { class: "error", id: id + "-error", role: "alert" });
    const parts = type === "CHECKBOX" ? [el("div", { class: "check" }, [control, label]), error] : [label, control, error];
    form.append(el("div", { class: "field" }, parts));
    return { control, error };
  }

  function utm() {
    const query = new URLSearchParams(location.search);
    const out = {};
    for (const name of ["source", "medium", "campaign", "content", "term"]) {
      const value = query.get("utm_" + name);
      if (value) out[name] = value;
    }
    return out;
  }

  function retryMessage(res, data) {
    const header = res.headers.get("Retry-After"); // readable cross-origin only if exposed
    const fromBody = data && data.retryAfter != null ? Number(data.retryAfter) : NaN;
    const seconds = header && /^\s*\d+\s*$/.test(header) ? Number(header) : fromBody;
    if (!(seconds >= 0)) return "Too many requests, please try again later.";
    const n = Math.max(1, Math.ceil(seconds));
    return "Too many requests, please try again in " + n + (n > 1 ? " seconds." : " second.");
  }

  function randomId() {
    // getRandomValues, unlike randomUUID, also works on plain-http sites.
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function safeUrl(value) {
    if (!value) return null;
    try {
      const url = new URL(value, location.href);
      return /^https?:$/.test(url.protocol) ? url.href : null;
    } catch (err) {
      return null;
    }
  }

  function chatIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    const path = document.createElementNS(ns, "path");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6v2h10V9H7zm0 4v2h7v-2H7z");
    svg.append(path);
    return svg;
  }

  function addStyle(root) {
    const css = `
*,*::before,*::after{box-sizing:border-box}
[hidden]{display:none!important}
.root{--a:var(--kontor-accent,#2456d3);--e:#b42318;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1f2328}
.launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:60px;height:60px;border:0;border-radius:50%;background:var(--a);color:#fff;box-shadow:0 6px 20px rgba(0,0,0,.25);cursor:pointer;display:grid;place-items:center}
.launcher svg{width:28px;height:28px}
.panel{position:fixed;right:20px;bottom:92px;z-index:2147483001;width:380px;max-width:calc(100vw - 40px);max-height:calc(100vh - 112px);overflow:auto;background:#fff;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.25)}
.left .launcher,.left .panel{right:auto;left:20px}
.head{position:sticky;top:0;display:flex;align-items:center;justify-content:space-between;padding:12px 12px 12px 20px;background:var(--a);color:#fff}
h2{margin:0;font-size:17px}
.close{width:36px;height:36px;border:0;border-radius:8px;background:none;color:inherit;font-size:26px;cursor:pointer}
.body{padding:16px 20px 20px}
.choices{display:flex;gap:4px;margin:0 0 16px;padding:4px;border-radius:10px;background:#eef0f3}
.choice{flex:1;padding:8px;border:0;border-radius:8px;background:none;color:#59636e;font:inherit;font-weight:600;cursor:pointer}
.choice[aria-pressed=true]{background:#fff;color:#1f2328;box-shadow:0 1px 3px rgba(0,0,0,.15)}
.field{margin:0 0 14px}
label{display:block;margin:0 0 4px;font-weight:600}
.req,.error{color:var(--e)}
input,select,textarea{display:block;width:100%;margin:0;padding:9px 11px;border:1px solid #c9d1d9;border-radius:8px;background:#fff;color:inherit;font:inherit}
textarea{resize:vertical}
.check{display:flex;gap:10px;align-items:flex-start}
.check input{width:18px;height:18px;flex:none;margin-top:2px;padding:0;accent-color:var(--a)}
.check label{margin:0;font-weight:400}
[aria-invalid=true]{border-color:var(--e)}
.error{margin:4px 0 0;font-size:13px}
.error:empty{display:none}
.top{margin:0 0 12px;padding:8px 12px;border:1px solid var(--e);border-radius:8px}
.submit{width:100%;padding:11px;border:0;border-radius:8px;background:var(--a);color:#fff;font:inherit;font-weight:600;cursor:pointer}
.submit:disabled{opacity:.65;cursor:progress}
.success{font-size:16px;white-space:pre-line}
.panel:focus,.success:focus{outline:none}
.hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
:focus-visible{outline:3px solid var(--a);outline-offset:2px}
.head :focus-visible{outline-color:#fff;outline-offset:-3px}
@media (max-width:480px){.panel,.left .panel{left:0;right:0;bottom:0;width:100%;max-width:none;max-height:100%;border-radius:14px 14px 0 0}input,select,textarea{font-size:16px}}
`;
    // Constructed sheets still work where the site's CSP forbids inline <style>.
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      root.adoptedStyleSheets = [sheet];
    } catch (err) {
      root.append(el("style", { text: css }));
    }
  }
})();
