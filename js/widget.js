/* Parley chat widget.
 *
 * Embed:  <script src="https://HOST/widget.js" data-site="SITE" async></script>
 * Options (data-*): title, accent, position (left|right), lang (en|de),
 * open ("true"), consent ("required"), greet (seconds), and for a logged-in
 * user user-id, user-hash, user-name, user-email, user-phone.
 * API:    window.Parley.open() close() toggle() send(text) setVariables(obj)
 *         identify(userId, {name, email, phone}, hash) reset()
 *         consent() on(event, fn) with events ready, open, close, message,
 *         identified.
 *
 * A page view opens no socket: the widget connects when the chat is opened
 * (by the visitor, data-open, Parley.open(), data-greet) or when this tab
 * has a conversation going.
 *
 * Plain ES2020, no dependencies, no build step. All data reaches the DOM through
 * textContent, text nodes and attribute values, never through HTML parsing.
 * The file stays ASCII (non-ASCII as \u escapes) so the host page's charset
 * cannot garble it.
 */
(() => {
  'use strict';
  if (window.Parley && window.Parley.version) return; // loaded twice

  const me = document.currentScript || document.querySelector('script[src*="widget.js"][data-site]');
  const ds = me ? me.dataset : {};
  const SITE = ds.site;
  if (!me || !SITE) return;
  const ORIGIN = new URL(me.src, location.href).origin;
  const PROBE = ORIGIN + '/v1/ws?site=' + encodeURIComponent(SITE);
  const WS_URL = PROBE.replace(/^http/, 'ws');
  const KEY = 'parley:' + SITE + ':';
  const CONSENT = ds.consent === 'required';
  const MAX_FRAME = 8000; // stay below the server's 8 KiB read limit, which closes the socket

  const STR = {
    en: {
      title: 'Chat with us', ph: 'Type a message\u2026', send: 'Send', close: 'Close chat',
      open: 'Open chat', unread: 'unread', offline: 'Offline \u2013 reconnecting\u2026',
      sending: 'sending\u2026', upload: 'Attach a file', big: 'The file is too large (max. {n}).',
      type: 'This file type is not accepted.', email: 'Please enter a valid email address.',
      phone: 'Please enter a valid phone number.', long: 'This message is too long.',
      fail: 'Upload failed. Please try again.', log: 'Messages', visitor: 'You', bot: 'Bot',
      agent: 'Agent', over: 'This conversation has ended.', again: 'Start a new conversation',
      joined: '{n} joined the conversation', back: 'You are chatting with the bot again.',
      gone: 'Chat unavailable',
      consent: 'By chatting you agree that this site stores an ID in your browser to keep the conversation.',
    },
    de: {
      title: 'Schreiben Sie uns', ph: 'Nachricht eingeben\u2026', send: 'Senden',
      close: 'Chat schlie\u00dfen', open: 'Chat \u00f6ffnen', unread: 'ungelesen',
      offline: 'Offline \u2013 Verbindung wird wiederhergestellt\u2026', sending: 'wird gesendet\u2026',
      upload: 'Datei anh\u00e4ngen', big: 'Die Datei ist zu gro\u00df (max. {n}).',
      type: 'Dieser Dateityp wird nicht akzeptiert.',
      email: 'Bitte geben Sie eine g\u00fcltige E-Mail-Adresse ein.',
      phone: 'Bitte geben Sie eine g\u00fcltige Telefonnummer ein.',
      long: 'Diese Nachricht ist zu lang.', fail: 'Hochladen fehlgeschlagen. Bitte erneut versuchen.',
      log: 'Nachrichten', visitor: 'Sie', bot: 'Bot', agent: 'Mitarbeiter',
      joined: '{n} ist dem Gespr\u00e4ch beigetreten', back: 'Sie schreiben wieder mit dem Bot.',
      over: 'Dieses Gespr\u00e4ch ist beendet.', again: 'Neues Gespr\u00e4ch beginnen', gone: 'Chat nicht verf\u00fcgbar',
      consent: 'Wenn Sie chatten, stimmen Sie zu, dass diese Website eine ID in Ihrem Browser speichert, um das Gespr\u00e4ch fortzuf\u00fchren.',
    },
  };
  const dl = (ds.lang || '').slice(0, 2).toLowerCase();
  const LANG = STR[dl] ? dl : /^de/i.test(navigator.language || '') ? 'de' : 'en';
  const T = STR[LANG];
  const TITLE = ds.title || T.title;
  // Server error codes we can say in the visitor's language.
  const CODES = { invalid_email: 'email', invalid_phone: 'phone', text_too_long: 'long', ended: 'over' };
  // Input kind -> [type, inputmode, autocomplete].
  const KINDS = {
    text: ['text', 'text', 'off'], email: ['email', 'email', 'email'], phone: ['tel', 'tel', 'tel'],
    url: ['url', 'url', 'url'], number: ['text', 'decimal', 'off'],
  };

  // Storage of the host page; any access may throw (blocked, sandboxed, full).
  const store = (area, key, val) => {
    try {
      const s = window[area];
      if (val === undefined) return s.getItem(KEY + key);
      if (val === null) s.removeItem(KEY + key);
      else s.setItem(KEY + key, val);
    } catch (e) { /* run without storage */ }
    return null;
  };
  const local = (k, v) => store('localStorage', k, v);
  const sess = (k, v) => store('sessionStorage', k, v);

  const PREFIX = 'c' + crypto.getRandomValues(new Uint32Array(1))[0].toString(36).padStart(7, '0');
  let seq = 0;
  const cid = () => PREFIX + (++seq).toString(36);
  const enc = new TextEncoder();
  const TF = new Intl.DateTimeFormat(LANG, { hour: '2-digit', minute: '2-digit' });
  const fmt = at => { const d = new Date(at || Date.now()); return isNaN(d) ? '' : TF.format(d); };
  const size = n => n < 1024 ? n + ' B' : n < 1048576 ? (n / 1024).toFixed(1) + ' KB' : (n / 1048576).toFixed(1) + ' MB';
  const httpURL = u => {
    try { return typeof u === 'string' && /^https?:$/.test(new URL(u).protocol); } catch (e) { return false; }
  };

  // State.
  let ws = null, online = false, dropped = false, consented = false, isOpen = false;
  let token = null, session = null, welcome = null, vars = null, pending = null, up = null;
  // user: the host page's logged-in user, its hash signed by the site's
  // backend; every hello carries it (the server checks it each time).
  let anon = false; // reset(): the next socket asks for a new visitor
  let user = ds.userId ? { id: ds.userId, hash: ds.userHash, name: ds.userName, email: ds.userEmail, phone: ds.userPhone } : null;
  // over: the story ended; gone: the server refused this page for good;
  // fresh: the next hello asks for a new session; saved: the log's scroll
  // to restore; stuck: the log is scrolled to its end.
  let over = false, gone = false, fresh = false, saved = null, stuck = true;
  let attempt = 0, retryTimer = 0, typingTimer = 0, lastTyping = 0, unread = 0, uploading = false, held = false;
  let outbox = []; // [{f: frame, t: text shown}] sent or to send, not yet acknowledged
  const msgs = [], byId = new Map(), byCid = new Map(), choices = new Map(), blobs = [];
  const handlers = {};
  const emit = (ev, data) => (handlers[ev] || []).slice().forEach(fn => {
    try { fn(data); } catch (e) { setTimeout(() => { throw e; }); } // host bugs must not break us
  });

  // ---- DOM ----
  const el = (tag, cls, attrs, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    return e;
  };
  const icon = d => {
    const NS = 'http://www.w3.org/2000/svg', s = document.createElementNS(NS, 'svg'), p = document.createElementNS(NS, 'path');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('aria-hidden', 'true');
    s.setAttribute('focusable', 'false');
    p.setAttribute('d', d);
    s.append(p);
    return s;
  };

  const STYLE = `
:host{all:initial!important}
*{box-sizing:border-box;margin:0;padding:0;border:0;font:inherit;color:inherit;background:none;letter-spacing:normal;text-transform:none;text-decoration:none}
[hidden]{display:none!important}
svg{display:block;fill:currentColor}
.w{--a:#1f5fbf;--af:#fff;--at:var(--a);--ab:var(--a);font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1a1a1a;text-align:left;direction:ltr;-webkit-text-size-adjust:100%}
button{cursor:pointer}
:focus{outline:none}
:focus-visible{outline:2px solid #1a1a1a;outline-offset:2px;box-shadow:0 0 0 2px #fff}
.launcher{position:fixed;bottom:20px;right:20px;z-index:2147483000;width:56px;height:56px;border-radius:50%;background:var(--a);color:var(--af);display:flex;align-items:center;justify-content:center;box-shadow:0 4px 14px rgba(0,0,0,.25)}
.launcher svg{width:28px;height:28px}
.badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#c5221f;color:#fff;font-size:12px;font-weight:700;line-height:20px;text-align:center}
.panel{position:fixed;bottom:88px;right:20px;z-index:2147483001;width:370px;height:560px;max-height:calc(100vh - 108px);display:flex;flex-direction:column;background:#fff;border-radius:12px;box-shadow:0 8px 32px rgba(0,0,0,.25);overflow:hidden}
.left .launcher,.left .panel{right:auto;left:20px}
.head{display:flex;align-items:center;gap:8px;padding:12px 12px 12px 16px;background:var(--a);color:var(--af)}
.title{flex:1;font-size:16px;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.close{width:32px;height:32px;border-radius:6px;font-size:24px;line-height:32px;text-align:center}
.status{padding:6px 16px;background:#fff4e5;color:#6b4200;font-size:13px}
.hint{padding:8px 16px;background:#f1f3f5;color:#3c4043;font-size:12px}
.log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:10px;background:#fff}
.log:focus-visible{outline-offset:-3px;box-shadow:none}
.msg{position:relative;display:flex;flex-direction:column;align-items:flex-start;max-width:85%}
.msg.visitor{align-self:flex-end;align-items:flex-end}
.bubble{padding:8px 12px;border-radius:14px;background:#eef0f3;color:#1a1a1a;white-space:pre-wrap;overflow-wrap:anywhere;font-size:14px}
.visitor .bubble{background:var(--a);color:var(--af)}
.agent .bubble{background:#e6f4ea;color:#0d3b1e}
.who{margin:0 0 2px 4px;font-size:12px;color:#3c4043}
.note{align-self:center;font-size:12px;color:#5f6368;text-align:center}
.bubble a{color:inherit;text-decoration:underline}
.pending .bubble{background:#fff;color:var(--at);box-shadow:inset 0 0 0 1px var(--ab)}
.meta{margin-top:2px;font-size:11px;color:#5f6368}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.img,.thumb{display:block;max-width:100%;max-height:240px;margin-top:4px;border-radius:10px}
.thumb{margin:0 0 4px}
.filebox{display:flex;flex-direction:column}
.fname{font-weight:600;overflow-wrap:anywhere}
.opts{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}
.opt{padding:6px 12px;border:1px solid var(--ab);border-radius:16px;background:#fff;color:var(--at);font-size:14px;text-align:left}
.opt:disabled{cursor:default;opacity:.6}
.opt.chosen{background:var(--a);color:var(--af);opacity:1}
.again{margin:8px 12px 0;padding:8px 14px;border-radius:20px;background:var(--a);color:var(--af);font-weight:600}
.in:disabled,.send:disabled{cursor:default;opacity:.6}
.typing{display:flex;gap:4px;padding:0 16px 8px}
.typing i{width:7px;height:7px;border-radius:50%;background:#5f6368;animation:pb 1s infinite}
.typing i:nth-child(2){animation-delay:.15s}
.typing i:nth-child(3){animation-delay:.3s}
@keyframes pb{0%,80%,100%{opacity:.3}40%{opacity:1}}
@media (prefers-reduced-motion:reduce){.typing i{animation:none}}
.prog{height:4px;margin:6px 16px 0;background:#e0e0e0;border-radius:2px;overflow:hidden}
.bar{width:0;height:100%;background:var(--a)}
.err{padding:6px 16px 0;color:#b00020;font-size:13px}
.err:empty{display:none}
.form{display:flex;align-items:center;gap:8px;padding:10px 12px;border-top:1px solid #e0e0e0;background:#fff}
.in{flex:1;min-width:0;height:40px;padding:0 14px;border:1px solid #767c85;border-radius:20px;background:#fff;color:#1a1a1a;font-size:15px;-webkit-appearance:none;appearance:none}
.in::placeholder{color:#5f6368;opacity:1}
.in[aria-invalid=true]{border-color:#b00020}
.send{height:40px;padding:0 16px;border-radius:20px;background:var(--a);color:var(--af);font-size:14px;font-weight:600}
.att{flex:none;width:40px;height:40px;border-radius:50%;color:#3c4043;display:flex;align-items:center;justify-content:center}
.att svg{width:22px;height:22px}
.drag .log{outline:2px dashed var(--ab);outline-offset:-6px}
@media (max-width:480px){
.w .panel{top:0;right:0;bottom:0;left:0;width:auto;height:auto;max-height:none;border-radius:0}
.open .launcher{display:none}
.in{font-size:16px}
}`;

  const host = el('div', '', { id: 'parley-widget', 'data-site': SITE });
  const root = host.attachShadow({ mode: 'open' });
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLE);
    root.adoptedStyleSheets = [sheet]; // not subject to the host's CSP style-src
  } catch (e) {
    root.append(el('style', '', {}, STYLE));
  }
  const w = el('div', 'w' + (ds.position === 'left' ? ' left' : ''), { lang: LANG });
  if (ds.accent && window.CSS && CSS.supports('color', ds.accent)) w.style.setProperty('--a', ds.accent);

  const launcher = el('button', 'launcher', { type: 'button', 'aria-expanded': 'false', 'aria-controls': 'parley-panel' });
  // The name comes from the content, so it contains the badge's visible count.
  const lname = el('span', 'sr');
  const badge = el('span', 'badge');
  launcher.append(icon('M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2z'), lname, badge);
  const panel = el('div', 'panel', { id: 'parley-panel', role: 'dialog', 'aria-label': TITLE });
  const head = el('div', 'head');
  const closeBtn = el('button', 'close', { type: 'button', 'aria-label': T.close }, '\u00d7');
  head.append(el('h2', 'title', {}, TITLE), closeBtn);
  const status = el('div', 'status', { role: 'status' });
  const hint = el('p', 'hint', {}, T.consent);
  const log = el('div', 'log', { id: 'parley-log', role: 'log', 'aria-live': 'polite', 'aria-label': T.log, tabindex: '0' });
  const typing = el('div', 'typing', { 'aria-hidden': 'true' });
  typing.append(el('i'), el('i'), el('i'));
  const prog = el('div', 'prog', { role: 'progressbar', 'aria-label': T.upload, 'aria-valuemin': '0', 'aria-valuemax': '100' });
  const bar = el('div', 'bar');
  prog.append(bar);
  const err = el('div', 'err', { id: 'parley-error', role: 'alert' });
  const form = el('form', 'form', { novalidate: '' });
  const attach = el('button', 'att', { type: 'button', 'aria-label': T.upload });
  attach.append(icon('M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6h-1.5z'));
  const file = el('input', 'file', { type: 'file', tabindex: '-1', 'aria-hidden': 'true' });
  const input = el('input', 'in', { type: 'text', 'aria-describedby': 'parley-error', autocomplete: 'off' });
  const sendBtn = el('button', 'send', { type: 'submit' }, T.send);
  const again = el('button', 'again', { type: 'button' }, T.again);
  form.append(attach, file, input, sendBtn);
  panel.append(head, status, hint, log, typing, prog, err, again, form);
  w.append(launcher, panel);
  root.append(w);
  panel.hidden = status.hidden = typing.hidden = prog.hidden = attach.hidden = file.hidden = again.hidden = true;
  hint.hidden = !CONSENT;

  const scrollDown = () => { log.scrollTop = log.scrollHeight; };
  // toEnd shows the log's end, or once the position saved before a
  // navigation, when the panel is open with the history in it.
  const toEnd = () => {
    if (saved != null && isOpen && msgs.length) { log.scrollTop = +saved; saved = null; } else scrollDown();
  };
  const showErr = text => { err.textContent = text; input.setAttribute('aria-invalid', 'true'); };
  const clearErr = () => { err.textContent = ''; input.removeAttribute('aria-invalid'); };
  const paintStatus = () => { status.textContent = gone ? T.gone : T.offline; status.hidden = !gone && (online || !dropped); };
  const paintLauncher = () => {
    lname.textContent = isOpen ? T.close : T.open;
    badge.hidden = isOpen || !unread;
    badge.replaceChildren(unread > 99 ? '99+' : String(unread), el('span', 'sr', {}, ' ' + T.unread));
  };

  // A custom accent too light for white text gets dark text instead (WCAG 4.5:1).
  const fitAccent = () => {
    const c = getComputedStyle(launcher).backgroundColor;
    if (!/^rgb/.test(c)) return;
    const rgb = c.match(/[\d.]+/g).slice(0, 3);
    const L = rgb.map(v => (v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    if (1.05 / (0.2126 * L[0] + 0.7152 * L[1] + 0.0722 * L[2] + 0.05) < 4.5) {
      w.style.setProperty('--af', '#111');
      w.style.setProperty('--at', '#1a1a1a');
      // Borders on white in a darker shade of the accent (3:1 for controls).
      w.style.setProperty('--ab', `rgb(${rgb.map(v => v * 0.45 | 0)})`);
    }
  };

  // Text with http(s) URLs turned into links; everything else stays text.
  const linkify = (node, text) => {
    let last = 0;
    for (const m of text.matchAll(/\bhttps?:\/\/[^\s<>"'`]+/gi)) {
      const u = m[0].replace(/[.,;:!?)\]}]+$/, '');
      if (!httpURL(u)) continue;
      node.append(text.slice(last, m.index), el('a', '', { href: u, target: '_blank', rel: 'noopener noreferrer' }, u));
      last = m.index + u.length;
    }
    node.append(text.slice(last));
  };

  const fileBox = (x, from) => {
    const box = el('div', 'bubble filebox');
    box.append(el('span', 'fname', {}, String(x.name || 'file')), el('span', 'fsize', {}, size(+x.size || 0)));
    const type = String(x.type || '').toLowerCase();
    // Only the visitor's own images: fetched with the token, shown from a blob: URL.
    if (from === 'visitor' && x.id && /^image\/(png|jpe?g|gif|webp|avif|bmp)$/.test(type)) {
      fetch(`${ORIGIN}/v1/files/${encodeURIComponent(x.id)}?site=${encodeURIComponent(SITE)}`, {
        credentials: 'include', headers: token ? { 'X-Parley-Token': token } : {},
      }).then(r => r.ok ? r.blob() : Promise.reject(r.status)).then(b => {
        const u = URL.createObjectURL(new Blob([b], { type }));
        blobs.push(u);
        const img = el('img', 'thumb', { alt: String(x.name || '') });
        img.addEventListener('load', () => stuck && scrollDown());
        img.src = u;
        box.prepend(img);
      }).catch(() => {});
    }
    return box;
  };

  // ---- messages ----
  // Each shown message: {id, cid, from, f (frame), text, pending, chosen, el, meta, opts}.
  const build = m => {
    const f = m.f, row = el('div', 'msg ' + m.from);
    if (m.id) { row.dataset.id = m.id; byId.set(m.id, m); }
    if (m.cid) { row.dataset.cid = m.cid; byCid.set(m.cid, m); }
    // A person's message names them (the wire's agent field).
    const who = m.from === 'agent' && typeof f.agent === 'string' && f.agent;
    row.append(el('span', 'sr', {}, (who || T[m.from]) + ': '));
    if (who) row.append(el('div', 'who', { 'aria-hidden': 'true' }, who));
    const fileObj = f.file && typeof f.file === 'object';
    if (m.text && !(fileObj && m.text === f.file.name)) { // a file's text is its name, shown in its box
      const b = el('div', 'bubble');
      linkify(b, m.text);
      row.append(b);
    }
    if (httpURL(f.image)) {
      const img = el('img', 'img', { alt: '', referrerpolicy: 'no-referrer' });
      img.addEventListener('load', () => stuck && scrollDown());
      img.src = f.image;
      row.append(img);
    }
    if (fileObj) row.append(fileBox(f.file, m.from));
    if (Array.isArray(f.options) && f.options.length) {
      m.opts = el('div', 'opts', { role: 'group' });
      for (const o of f.options) {
        if (!o || o.id == null) continue;
        const b = el('button', 'opt', { type: 'button', 'data-option': String(o.id) }, String(o.label ?? o.id));
        b.addEventListener('click', () => choose(m, o));
        m.opts.append(b);
      }
      row.append(m.opts);
    }
    m.meta = el('span', 'meta', {}, m.pending ? T.sending : fmt(f.at));
    row.append(m.meta);
    row.classList.toggle('pending', !!m.pending);
    m.el = row;
    log.append(row);
    msgs.push(m);
  };

  const drop = m => {
    m.el.remove();
    msgs.splice(msgs.indexOf(m), 1);
    byCid.delete(m.cid);
  };

  // settle marks a local visitor bubble as stored under the server id, with
  // the text as stored when the frame has it (a phone number normalised).
  const settle = (m, id, at, text) => {
    if (id) {
      const other = byId.get(id);
      if (other && other !== m) return drop(m); // already shown (history after reconnect)
      m.id = id;
      byId.set(id, m);
      m.el.dataset.id = id;
    }
    const b = m.el.querySelector('.bubble:not(.filebox)');
    if (b && typeof text === 'string' && text && text !== m.text) {
      b.textContent = '';
      linkify(b, m.text = text);
    }
    m.pending = false;
    m.el.classList.remove('pending');
    m.meta.textContent = fmt(at);
  };

  // add shows a server message frame once; returns true when it is new.
  const add = f => {
    if (!f || typeof f !== 'object' || (f.id && byId.has(f.id))) return false;
    const text = f.text == null ? '' : String(f.text);
    if (f.from === 'visitor') {
      // Our own message echoed back: by ref, else a pending bubble with the same text.
      const m = (f.ref && byCid.get(f.ref)) || msgs.find(x => x.pending && !x.id && x.text === text);
      if (m) { settle(m, f.id, f.at, f.text); return false; }
    }
    build({ id: f.id, from: ['visitor', 'agent'].includes(f.from) ? f.from : 'bot', f, text });
    return true;
  };

  // refresh derives from the list which question is open: the latest bot
  // prompt with no visitor answer after it (free text in flight is none;
  // the server asks the question again after it). Its buttons, input kind,
  // paperclip and skip stay usable until it is answered; nothing is after
  // the story's end.
  const refresh = () => {
    let q = null;
    // While a person holds the conversation no question of the story is open.
    for (let i = msgs.length; i-- && !over && !held;) {
      const m = msgs[i], f = m.f;
      if (m.from === 'visitor') { if (m.pending && m.free) continue; break; }
      if (f.options || f.input || f.upload) { q = m; break; }
    }
    msgs.forEach((m, i) => m.opts && [...m.opts.children].forEach(b => {
      // After a reload the choice is known from the visitor's next message.
      const next = m.chosen == null && msgs.slice(i + 1).find(x => x.from === 'visitor');
      if (next && next.text === b.textContent) m.chosen = b.dataset.option;
      const on = m.chosen === b.dataset.option;
      b.disabled = !q || m.f.block !== q.f.block || m.chosen != null;
      b.classList.toggle('chosen', on);
      b.setAttribute('aria-pressed', String(on));
    }));
    const f = q ? q.f : {};
    pending = f.input && typeof f.input === 'object' ? { block: f.block, kind: String(f.input.kind || 'text'), ph: f.input.placeholder } : null;
    const kind = pending && Object.prototype.hasOwnProperty.call(KINDS, pending.kind) ? pending.kind : 'text';
    const [type, mode, ac] = KINDS[kind];
    if (input.type !== type) input.type = type;
    input.inputMode = mode;
    input.autocomplete = ac;
    input.disabled = sendBtn.disabled = over || gone;
    const ph = over ? T.over : gone ? T.gone : (pending && typeof pending.ph === 'string' && pending.ph) || T.ph;
    input.placeholder = ph;
    input.setAttribute('aria-label', ph);
    up = f.upload && typeof f.upload === 'object' ? f.upload : null;
    attach.hidden = !up;
    again.hidden = !over;
    file.accept = up && Array.isArray(up.accept) ? up.accept.join(',') : '';
  };

  const reset = list => {
    blobs.splice(0).forEach(u => URL.revokeObjectURL(u));
    msgs.length = 0;
    byId.clear();
    byCid.clear();
    log.setAttribute('aria-busy', 'true'); // do not read the whole history aloud again
    log.textContent = '';
    list = Array.isArray(list) ? list : [];
    list.forEach(add);
    // Unacked messages stay pending, unless the history shows them stored
    // (the ack was lost); the resend still gets their ack.
    const refs = new Set(list.map(f => f && f.ref));
    outbox.forEach(o => refs.has(o.f.id) || build({ cid: o.f.id, from: 'visitor', f: {}, text: o.t, pending: true, free: o.f.type === 'text' }));
    log.setAttribute('aria-busy', 'false');
    refresh();
    toEnd();
  };

  // ---- sending ----
  const fits = s => enc.encode(s).length <= MAX_FRAME;
  const raw = f => {
    const s = JSON.stringify(f);
    if (online && fits(s)) ws.send(s);
  };
  const saveOutbox = () => { if (consented) sess('outbox', outbox.length ? JSON.stringify(outbox) : null); };

  // queue shows a visitor message at once and keeps it until the server acks it.
  const queue = (f, text) => {
    outbox.push({ f, t: text });
    saveOutbox();
    build({ cid: f.id, from: 'visitor', f: {}, text, pending: true, free: f.type === 'text' });
    refresh();
    scrollDown();
    raw(f);
    if (consented) connect();
  };

  // submit sends text as the answer to the pending input, else as free text
  // (an option's label typed counts as its click on the server). Whether an
  // answer is valid is the server's to say, in the story's words. It
  // returns the client id, or '' when nothing was sent.
  const submit = value => {
    const v = String(value ?? '').trim();
    if (!v || over || gone) return '';
    const id = cid();
    const f = pending ? { type: 'input', id, block: pending.block, value: v } : { type: 'text', id, text: v };
    if (!fits(JSON.stringify(f))) {
      showErr(T.long);
      return '';
    }
    clearErr();
    queue(f, v);
    return id;
  };

  const choose = (m, o) => {
    if (m.chosen != null) return;
    consent();
    m.chosen = String(o.id);
    const id = cid();
    choices.set(id, m);
    queue({ type: 'choice', id, block: m.f.block, option: o.id }, String(o.label ?? o.id));
    focusIn(); // the clicked button is now disabled
  };

  const accepts = (f, list) => !Array.isArray(list) || !list.length || list.some(a => {
    a = String(a).trim().toLowerCase();
    const t = (f.type || '').toLowerCase();
    if (a === '*' || a === '*/*') return true;
    if (a[0] === '.') return f.name.toLowerCase().endsWith(a);
    return a.endsWith('/*') ? t.startsWith(a.slice(0, -1)) : t === a;
  });

  const setProg = p => {
    bar.style.width = p + '%';
    prog.setAttribute('aria-valuenow', String(Math.round(p)));
  };

  const upload = f => {
    clearErr();
    if (!up || uploading || !f) return;
    if (up.maxBytes > 0 && f.size > up.maxBytes) return showErr(T.big.replace('{n}', size(up.maxBytes)));
    if (!accepts(f, up.accept)) return showErr(T.type);
    if (!session) return showErr(T.offline);
    uploading = true;
    prog.hidden = false;
    setProg(0);
    const x = new XMLHttpRequest();
    x.open('POST', `${ORIGIN}/v1/upload?site=${encodeURIComponent(SITE)}&session=${encodeURIComponent(session)}`);
    x.withCredentials = true;
    if (token) x.setRequestHeader('X-Parley-Token', token);
    x.upload.addEventListener('progress', e => { if (e.lengthComputable) setProg(e.loaded / e.total * 100); });
    x.addEventListener('loadend', () => {
      uploading = false;
      prog.hidden = true;
      if (x.status >= 200 && x.status < 300) return; // the upload message arrives over the socket
      let m = '';
      try { m = JSON.parse(x.responseText).message; } catch (e) { /* not JSON */ }
      showErr(typeof m === 'string' && m ? m : T.fail);
    });
    const fd = new FormData();
    fd.append('file', f, f.name);
    x.send(fd);
  };

  // ---- connection ----
  const onWelcome = f => {
    online = true;
    anon = false;
    dropped = over = fresh = false;
    attempt = 0;
    token = f.token || token;
    session = f.session || session;
    if (token) local('token', token);
    if (session) sess('session', session);
    paintStatus();
    held = !!f.handover;
    reset(f.history);
    if (vars) raw({ type: 'variables', variables: vars });
    outbox.forEach(o => raw(o.f)); // resends keep their ids; the server dedupes
    welcome = { visitor: f.visitor, session, resumed: !!f.resumed };
    emit('ready', welcome);
  };

  const onAck = f => {
    const i = outbox.findIndex(o => o.f.id === f.ref);
    if (i >= 0) { outbox.splice(i, 1); saveOutbox(); }
    choices.delete(f.ref);
    const m = byCid.get(f.ref);
    if (m) settle(m, f.id, f.at, f.text);
  };

  // onEnded: the story is over. The session is never resumed, so this tab
  // forgets it; the visitor may start a new one.
  const onEnded = () => {
    const had = isOpen && root.activeElement; // the message box is about to be disabled
    over = true;
    session = null;
    sess('session', null);
    clearErr();
    refresh();
    scrollDown();
    if (had) again.focus({ preventScroll: true });
  };

  // restart starts a new conversation after the end: a hello asking for a
  // new session, on the open socket or a new one.
  const restart = () => {
    fresh = true;
    over = false;
    reset([]);
    if (online) raw(hello());
    else connect();
    focusIn();
  };

  // onError shows a rejected answer's error and gives the visitor the value back.
  const onError = f => {
    // A refused identify is the site's mistake, not the visitor's.
    if (/^(identity_|bad_user)/.test(f.code)) return console.warn(`Parley: identify refused: ${f.message} (${f.code})`);
    if (f.ref) {
      const i = outbox.findIndex(o => o.f.id === f.ref);
      if (i >= 0) {
        const [o] = outbox.splice(i, 1);
        saveOutbox();
        if (o.f.type !== 'choice' && !input.value) input.value = o.t;
      }
      const c = choices.get(f.ref);
      if (c) { c.chosen = null; choices.delete(f.ref); }
      const m = byCid.get(f.ref);
      if (m && !m.id) drop(m);
      refresh();
    }
    showErr((CODES[f.code] && T[CODES[f.code]]) || (typeof f.message === 'string' && f.message) || String(f.code || 'error'));
  };

  const hideTyping = () => { clearTimeout(typingTimer); typing.hidden = true; };
  const handle = f => {
    switch (f.type) {
      case 'welcome': return onWelcome(f);
      case 'ack': return onAck(f);
      case 'ended': return onEnded();
      case 'identified':
        token = f.token || token;
        if (token) local('token', token);
        if (welcome) welcome.visitor = f.visitor;
        return emit('identified', { user: f.user, visitor: f.visitor, merged: !!f.merged });
      case 'error': return onError(f);
      case 'handover':
        // A person took over (held) or gave back to the bot (released).
        hideTyping();
        held = f.status === 'held';
        log.append(el('p', 'note', {}, held ? T.joined.replace('{n}', String(f.agent || T.agent)) : T.back));
        refresh();
        return scrollDown();
      case 'typing':
        typing.hidden = false;
        clearTimeout(typingTimer);
        typingTimer = setTimeout(hideTyping, 5000);
        return scrollDown();
      case 'message':
        hideTyping();
        if (add(f)) {
          refresh();
          scrollDown();
          if (!isOpen && f.from !== 'visitor') { unread++; paintLauncher(); }
        }
        return emit('message', f);
    }
  };

  // retry waits with exponential backoff and full jitter (500 ms base, 30 s cap).
  const retry = code => {
    let d = Math.random() * Math.min(30000, 500 * 2 ** Math.min(attempt++, 16));
    if (code === 1001) d = Math.max(d, 1000 + Math.random() * 4000); // server restart: spread the herd
    if (code === 1008) d = Math.max(d, 30000); // policy: do not hammer
    retryTimer = setTimeout(connect, d);
  };

  const hello = () => ({
    type: 'hello', token: token || undefined, session: session || undefined, page: location.href.slice(0, 2000),
    // The visitor's language (the session records it), not only the widget's.
    lang: ds.lang || navigator.language || LANG, new: fresh || undefined, user: user || undefined,
  });

  // probe asks Parley why a socket failed before it opened: a browser
  // hides the handshake's status. A refusal (403 origin, 404 site) is for
  // good: stop and say so; anything else is passing: retry.
  const probe = code => fetch(PROBE, { cache: 'no-store' }).then(r => r.json().then(j => {
    if (r.status !== 403 && r.status !== 404) return retry(code);
    gone = true;
    console.warn(`Parley: chat unavailable: ${j.message} (${r.status} ${j.code}, site "${SITE}", origin ${location.origin})`);
    paintStatus();
    refresh();
  })).catch(() => retry(code));

  const connect = () => {
    clearTimeout(retryTimer);
    if (ws || gone) return;
    let s, opened = false;
    try { s = new WebSocket(WS_URL + (anon ? '&visitor=new' : '')); } catch (e) { return retry(0); }
    ws = s;
    s.addEventListener('open', () => { opened = true; s.send(JSON.stringify(hello())); });
    s.addEventListener('message', e => {
      let f;
      try { f = JSON.parse(e.data); } catch (x) { return; }
      if (f && typeof f === 'object' && ws === s) handle(f);
    });
    s.addEventListener('close', e => {
      if (ws !== s) return;
      ws = null;
      online = false;
      dropped = !over;
      paintStatus();
      hideTyping();
      if (over) return; // nothing to resume; a new conversation connects anew
      if (opened) retry(e.code);
      else probe(e.code);
    });
  };

  // consent lets the widget use storage, and so connect when the chat opens.
  function consent() {
    if (consented) return;
    consented = true;
    token = local('token');
    session = sess('session');
    saved = sess('scroll');
    let kept = [];
    try { kept = JSON.parse(sess('outbox')) || []; } catch (e) { /* ignore a bad outbox */ }
    if (Array.isArray(kept)) outbox = kept.filter(o => o && o.f && o.f.id && !byCid.has(o.f.id)).concat(outbox);
    saveOutbox();
  }
  // start: the chat is opened, so it may connect (a session starts or resumes).
  const start = () => { consent(); connect(); };

  // ---- panel ----
  // focusIn moves focus into the panel: the message box, or the log on touch
  // screens, where focusing the box would pop up the keyboard.
  const focusIn = () => (matchMedia('(pointer:coarse)').matches || input.disabled ? (over ? again : log) : input).focus({ preventScroll: true });
  const open = (focus = true) => {
    if (isOpen) return;
    isOpen = true;
    panel.hidden = false;
    w.classList.add('open');
    launcher.setAttribute('aria-expanded', 'true');
    unread = 0;
    paintLauncher();
    if (consented) sess('open', '1');
    toEnd();
    if (focus) focusIn();
    emit('open');
  };
  const close = () => {
    if (!isOpen) return;
    isOpen = false;
    panel.hidden = true;
    w.classList.remove('open', 'drag');
    launcher.setAttribute('aria-expanded', 'false');
    if (consented) sess('open', '0');
    paintLauncher();
    launcher.focus({ preventScroll: true });
    emit('close');
  };
  // A visitor's or the host's open() counts as consent; data-open alone does not.
  const userOpen = () => { start(); open(); };

  launcher.addEventListener('click', () => isOpen ? close() : userOpen());
  closeBtn.addEventListener('click', close);
  again.addEventListener('click', restart);
  // The scroll position survives a navigation (sessionStorage, this tab).
  log.addEventListener('scroll', () => {
    stuck = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
    if (consented && isOpen && saved == null) sess('scroll', stuck ? null : String(log.scrollTop | 0));
  });
  w.addEventListener('keydown', e => {
    if (e.key === 'Escape' && isOpen) { e.stopPropagation(); close(); }
  });
  form.addEventListener('submit', e => {
    e.preventDefault();
    consent();
    if (submit(input.value)) input.value = '';
  });
  input.addEventListener('input', () => {
    clearErr();
    const now = Date.now();
    if (online && input.value && now - lastTyping >= 3000) { lastTyping = now; raw({ type: 'typing' }); }
  });
  attach.addEventListener('click', () => file.click());
  file.addEventListener('change', () => { upload(file.files[0]); file.value = ''; });
  panel.addEventListener('dragover', e => {
    e.preventDefault(); // never let a drop navigate the host page away
    if (e.dataTransfer) e.dataTransfer.dropEffect = up ? 'copy' : 'none';
    if (up) w.classList.add('drag');
  });
  panel.addEventListener('dragleave', e => { if (!panel.contains(e.relatedTarget)) w.classList.remove('drag'); });
  panel.addEventListener('drop', e => {
    e.preventDefault();
    w.classList.remove('drag');
    if (up && e.dataTransfer) upload(e.dataTransfer.files[0]);
  });

  window.Parley = {
    version: '1',
    open: userOpen,
    close,
    toggle: () => isOpen ? close() : userOpen(),
    send: submit,
    consent,
    // identify says who the logged-in user is: hash is HMAC-SHA256 of userId
    // with the site's identity secret, computed by the site's backend.
    identify(id, info, hash) {
      if (!id || !hash) return console.warn('Parley.identify(userId, {name, email, phone}, hash): userId and hash are required');
      const i = info || {};
      user = { id: String(id), hash: String(hash), name: i.name, email: i.email, phone: i.phone };
      raw({ type: 'identify', id: 'u' + Date.now().toString(36), user });
    },
    // reset forgets the user and the conversation (a log-out): the chat goes on
    // as a new, anonymous visitor.
    reset() {
      user = token = session = welcome = null;
      anon = true;
      local('token', null);
      sess('session', null);
      outbox = [];
      saveOutbox();
      reset([]);
      if (ws) { const s = ws; ws = null; online = false; s.close(); connect(); }
    },
    // setVariables sets host-provided session variables (string values); sent now
    // when connected and again after every welcome.
    setVariables(obj) {
      if (!obj || typeof obj !== 'object') return;
      const add = {};
      for (const [k, v] of Object.entries(obj)) add[k] = v == null ? '' : String(v);
      vars = Object.assign(vars || {}, add);
      raw({ type: 'variables', variables: add });
    },
    // on subscribes to ready, open, close or message; it returns an unsubscribe
    // function. A ready handler added after the welcome runs at once.
    on(ev, fn) {
      if (typeof fn !== 'function') return () => {};
      (handlers[ev] = handlers[ev] || []).push(fn);
      if (ev === 'ready' && online && welcome) queueMicrotask(() => fn(welcome));
      return () => { handlers[ev] = (handlers[ev] || []).filter(h => h !== fn); };
    },
  };

  const mount = () => {
    document.body.append(host);
    if (ds.accent) fitAccent();
    paintLauncher();
    refresh();
    if (opened()) open(false);
  };
  // opened: the panel as the visitor left it on the site's last page, else data-open.
  const opened = () => {
    const o = consented && sess('open');
    return o ? o === '1' : ds.open === 'true';
  };
  // Without data-consent="required", or after an earlier consent (a stored
  // token), storage may be used.
  if (!CONSENT || local('token')) consent();
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);
  // A page view is no visitor and no session: connect only when the chat
  // is open, this tab has a conversation going, or the site greets.
  if (consented && (opened() || session || outbox.length)) connect();
  if (ds.greet != null && ds.greet !== '') setTimeout(() => consented && connect(), (+ds.greet || 0) * 1000);
})();
