// <intellistack-tutor>: the AI tutor's chat widget, served by Caddy's
// tutor_widget handler. A plain ES module with no dependencies and no build
// step. It signs the student in with the authorization code flow and PKCE
// (public client), keeps the tokens in sessionStorage, and speaks the ChatKit
// protocol to `endpoint` with `Authorization: Bearer`.
//
//   <script type="module" src="/assets/tutor/intellistack-tutor.js"></script>
//   <intellistack-tutor client-id="web" name="Python tutor" color="#3558d6"></intellistack-tutor>
//
// Attributes: endpoint (/api/v1/chatkit), issuer (this origin), client-id,
// redirect-uri (<origin>/auth/callback), post-logout-uri (<origin>/), scope,
// name, logo, color,
// lesson-url (/lessons/{lesson}: links for cited lesson files), stage-claim
// (stage), selection-scope (main: where "Ask AI" offers itself).
// Theme: the CSS custom properties documented in intellistack-tutor.css.
//
// Model output is untrusted: answers are built as DOM nodes with
// textContent (never parsed as HTML), and links keep only http(s) and relative
// URLs.

const CSS_URL = new URL('./intellistack-tutor.css', import.meta.url).href;
const STAFF = ['instructor', 'admin'];

// ---- Markdown, safely ---------------------------------------------------

// safeHref returns an absolute http(s) URL for href, or '' for anything else
// (javascript:, data:, vbscript:, …). Relative URLs resolve against the page.
export function safeHref(href) {
  if (!href || !href.trim()) return '';
  try {
    const u = new URL(href, location.href);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : '';
  } catch {
    return '';
  }
}

function el(tag, props, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'text') n.textContent = v;
    else if (k === 'class') n.className = v;
    else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c != null) n.append(c);
  return n;
}

const INLINE = /(`+)([^`]+?)\1|\*\*(.+?)\*\*|__(.+?)__|\*([^*\s][^*]*?)\*|_([^_\s][^_]*?)_|\[([^\]]+)\]\(([^)\s]+)(?:\s+"[^"]*")?\)|\[(\d{1,2})\]/g;

// inline appends text with `code`, **bold**, *italic*, [links](url) and
// [n] citation markers (links to source n) to parent.
function inline(parent, text, sources) {
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    parent.append(text.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[2] != null) parent.append(el('code', { text: m[2] }));
    else if (m[3] != null || m[4] != null) inline(parent.appendChild(el('strong')), m[3] ?? m[4], sources);
    else if (m[5] != null || m[6] != null) inline(parent.appendChild(el('em')), m[5] ?? m[6], sources);
    else if (m[7] != null) {
      const href = safeHref(m[8]);
      if (href) inline(parent.appendChild(el('a', { href, rel: 'noopener noreferrer nofollow' })), m[7], sources);
      else inline(parent, m[7], sources); // an unsafe link keeps its text, loses the link
    } else {
      const src = sources[Number(m[9]) - 1];
      const href = src && src.href;
      parent.append(href ? el('a', { href, class: 'cite', title: src.title, text: m[0] }) : m[0]);
    }
  }
  parent.append(text.slice(last));
}

// renderMarkdown builds the DOM of a Markdown answer: paragraphs, headings,
// fenced code, lists, quotes; everything else is text.
export function renderMarkdown(text, sources = []) {
  const root = document.createDocumentFragment();
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  let para = [];
  let list = null;
  const flush = () => {
    if (para.length) inline(root.appendChild(el('p')), para.join('\n'), sources);
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let m;
    if ((m = /^\s*(```+|~~~+)\s*([\w+-]*)/.exec(line))) {
      flush(); list = null;
      const code = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(m[1]); i++) code.push(lines[i]);
      root.append(el('pre', {}, el('code', { class: m[2] ? 'language-' + m[2] : null, text: code.join('\n') })));
    } else if ((m = /^(#{1,6})\s+(.*)$/.exec(line))) {
      flush(); list = null;
      inline(root.appendChild(el('h' + Math.min(6, m[1].length + 2))), m[2], sources);
    } else if ((m = /^\s*([-*+]|\d+[.)])\s+(.*)$/.exec(line))) {
      flush();
      const tag = /\d/.test(m[1]) ? 'ol' : 'ul';
      if (!list || list.tagName.toLowerCase() !== tag) list = root.appendChild(el(tag));
      inline(list.appendChild(el('li')), m[2], sources);
    } else if ((m = /^>\s?(.*)$/.exec(line))) {
      flush(); list = null;
      inline(root.appendChild(el('blockquote')), m[1], sources);
    } else if (!line.trim()) {
      flush(); list = null;
    } else if (list && /^\s+\S/.test(line)) {
      inline(list.lastChild, ' ' + line.trim(), sources);
    } else {
      list = null;
      para.push(line);
    }
  }
  flush();
  return root;
}

// ---- Sign-in: authorization code + PKCE -----------------------------------

const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const randomString = () => b64url(crypto.getRandomValues(new Uint8Array(32)));

export function jwtClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(decodeURIComponent(escape(atob(part))));
  } catch {
    return {};
  }
}

class Auth extends EventTarget {
  constructor({ issuer, clientId, redirectUri, scope }) {
    super();
    Object.assign(this, { issuer, clientId, redirectUri, scope });
    this.key = 'intellistack-tutor:' + clientId;
    this.tokens = JSON.parse(sessionStorage.getItem(this.key) || 'null');
    this.schedule();
  }

  get accessToken() {
    return this.tokens && this.tokens.expires_at > Date.now() ? this.tokens.access_token : '';
  }

  get claims() {
    return this.accessToken ? jwtClaims(this.accessToken) : null;
  }

  async discovery() {
    this.meta ||= fetch(this.issuer + '/.well-known/openid-configuration').then((r) => {
      if (!r.ok) throw new Error('discovery ' + r.status);
      return r.json();
    });
    return this.meta;
  }

  async signIn() {
    const meta = await this.discovery();
    const verifier = randomString();
    const state = randomString();
    const challenge = b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
    sessionStorage.setItem(this.key + ':pending', JSON.stringify({ verifier, state, back: location.href }));
    const u = new URL(meta.authorization_endpoint);
    u.search = new URLSearchParams({
      response_type: 'code', client_id: this.clientId, redirect_uri: this.redirectUri, scope: this.scope,
      state, code_challenge: challenge, code_challenge_method: 'S256',
    });
    location.assign(u.href);
  }

  // complete finishes a sign-in when this page is the redirect URI; it
  // returns true when it navigates away.
  async complete() {
    const here = new URL(location.href);
    const cb = new URL(this.redirectUri, location.href);
    if (here.origin + here.pathname !== cb.origin + cb.pathname) return false;
    const pending = JSON.parse(sessionStorage.getItem(this.key + ':pending') || 'null');
    sessionStorage.removeItem(this.key + ':pending');
    const code = here.searchParams.get('code');
    if (!pending || !code || here.searchParams.get('state') !== pending.state) {
      throw new Error(here.searchParams.get('error_description') || here.searchParams.get('error') || 'The sign-in did not complete.');
    }
    await this.grant({ grant_type: 'authorization_code', code, redirect_uri: this.redirectUri, code_verifier: pending.verifier });
    location.replace(safeHref(pending.back) || '/');
    return true;
  }

  async grant(params) {
    const meta = await this.discovery();
    const r = await fetch(meta.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: this.clientId, ...params }),
    });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw Object.assign(new Error(body.error_description || 'token endpoint ' + r.status), { status: r.status });
    this.save({ ...body, expires_at: Date.now() + (body.expires_in || 300) * 1000 });
  }

  save(tokens) {
    this.tokens = tokens;
    if (tokens) sessionStorage.setItem(this.key, JSON.stringify(tokens));
    else sessionStorage.removeItem(this.key);
    this.schedule();
    this.dispatchEvent(new Event('change'));
  }

  // schedule refreshes the access token a minute before it expires, when a
  // refresh token was granted (scope offline_access).
  schedule() {
    clearTimeout(this.timer);
    const t = this.tokens;
    if (!t || !t.refresh_token) return;
    this.timer = setTimeout(() => this.refresh(), Math.max(0, t.expires_at - Date.now() - 60000));
  }

  // refresh rotates the tokens. Only the provider's refusal (a 4xx: the
  // refresh token was revoked, reused or has expired) forgets them; a
  // network error or a 5xx keeps them and tries again in 5 s, since the
  // request may never have been handled (a server restarting, reloading or
  // briefly unreachable), and a student should not be signed out by it.
  async refresh() {
    const rt = this.tokens && this.tokens.refresh_token;
    if (!rt) return false;
    try {
      await this.grant({ grant_type: 'refresh_token', refresh_token: rt });
      return true;
    } catch (e) {
      if (e.status >= 400 && e.status < 500) this.save(null);
      else {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.refresh(), 5000);
      }
      return false;
    }
  }

  // signOut forgets the tokens and ends the provider's session too (RP-
  // initiated logout), or the next "Sign in" would come straight back as
  // the same student.
  async signOut(returnTo) {
    const idToken = this.tokens && this.tokens.id_token;
    this.save(null);
    const meta = await this.discovery().catch(() => ({}));
    if (!idToken || !meta.end_session_endpoint) return;
    const u = new URL(meta.end_session_endpoint);
    u.search = new URLSearchParams({ id_token_hint: idToken, client_id: this.clientId, post_logout_redirect_uri: returnTo });
    location.assign(u.href);
  }
}

// ---- ChatKit client --------------------------------------------------------

class HTTPError extends Error {
  constructor(status, body, retryAfter) {
    super((body && body.error && body.error.message) || 'HTTP ' + status);
    Object.assign(this, { status, body, retryAfter });
  }
}

// sse yields the JSON events of a ChatKit stream (`data: {…}\n\n` frames).
async function* sse(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = frame.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (data) yield JSON.parse(data);
    }
  }
}

// ---- The element -----------------------------------------------------------

// Glyphs every system font has (no emoji: headless and minimal systems lack them).
const ICON = { menu: '☰', plus: '+', close: '×', up: '▲ Helpful', down: '▼ Not helpful', edit: '✎', trash: '✕', send: '➤' };

class IntelliStackTutor extends HTMLElement {
  static observedAttributes = ['name', 'logo', 'color'];

  connectedCallback() {
    if (this.root) return;
    const attr = (n, d) => this.getAttribute(n) || d;
    this.endpoint = attr('endpoint', '/api/v1/chatkit');
    this.lessonURL = attr('lesson-url', '/lessons/{lesson}');
    this.stageClaim = attr('stage-claim', 'stage');
    this.auth = new Auth({
      issuer: attr('issuer', location.origin),
      clientId: attr('client-id', 'web'),
      redirectUri: new URL(attr('redirect-uri', '/auth/callback'), location.href).href,
      scope: attr('scope', 'openid email profile offline_access'),
    });
    this.threadKey = this.auth.key + ':thread';
    this.build();
    this.auth.addEventListener('change', () => this.onAuthChange());
    this.auth.complete().then((away) => away || this.ready(), (err) => { this.ready(); this.open(); this.banner(err.message, 'error'); });
  }

  attributeChangedCallback() {
    if (this.root) this.brand();
  }

  ready() {
    this.onAuthChange();
    this.watchSelection();
    this.toggleAttribute('ready', true);
    performance.mark('intellistack-tutor:ready');
    this.dispatchEvent(new Event('tutor-ready', { bubbles: true }));
    const draft = JSON.parse(sessionStorage.getItem(this.threadKey + ':draft') || 'null');
    sessionStorage.removeItem(this.threadKey + ':draft');
    if (sessionStorage.getItem(this.threadKey + ':open') || draft) this.open();
    if (draft && this.auth.accessToken) {
      this.$.input.value = draft.text;
      this.setQuote(draft.quote);
    }
  }

  // ---- DOM ----
  build() {
    this.root = this.attachShadow({ mode: 'open' });
    const $ = (n) => this.root.querySelector(n);
    this.root.append(
      el('link', { rel: 'stylesheet', href: CSS_URL }),
      el('button', { class: 'launcher', type: 'button', 'aria-expanded': 'false', 'aria-controls': 'panel', onclick: () => this.toggle() },
        el('span', { class: 'launcher-name' })),
      el('button', { class: 'ask', type: 'button', hidden: true, onmousedown: (e) => e.preventDefault(), onclick: () => this.askSelection(), text: 'Ask AI' }),
      el('section', { id: 'panel', class: 'panel', role: 'dialog', 'aria-labelledby': 'title', hidden: true, onkeydown: (e) => this.onKey(e) },
        el('div', { class: 'head' },
          el('img', { class: 'logo', alt: '', hidden: true }),
          el('h2', { id: 'title' }),
          el('button', { class: 'icon threads-toggle', type: 'button', 'aria-label': 'Conversations', 'aria-expanded': 'false', 'aria-controls': 'threads', onclick: () => this.showThreads(), text: ICON.menu }),
          el('button', { class: 'icon', type: 'button', 'aria-label': 'New conversation', onclick: () => this.newThread(), text: ICON.plus }),
          el('button', { class: 'icon', type: 'button', 'aria-label': 'Close', onclick: () => this.close(), text: ICON.close })),
        el('nav', { id: 'threads', class: 'threads', 'aria-label': 'Conversations', hidden: true }, el('ul')),
        el('div', { class: 'log', role: 'log', 'aria-label': 'Conversation', tabindex: '0', onscroll: (e) => e.target.scrollTop < 4 && this.loadEarlier() },
          el('button', { class: 'more', type: 'button', hidden: true, onclick: () => this.loadEarlier(), text: 'Load earlier messages' }),
          el('div', { class: 'items' })),
        el('div', { class: 'banner', role: 'status' }),
        el('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); this.send(); } },
          el('div', { class: 'quote', hidden: true },
            el('blockquote'),
            el('button', { class: 'icon', type: 'button', 'aria-label': 'Remove the quoted text', onclick: () => this.setQuote(''), text: ICON.close })),
          el('label', { for: 'input', class: 'sr', text: 'Message' }),
          el('textarea', { id: 'input', rows: '2', placeholder: 'Ask a question…', onkeydown: (e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.send(); }
          } }),
          el('button', { class: 'send', type: 'submit', 'aria-label': 'Send', text: ICON.send }),
          el('button', { class: 'stop', type: 'button', hidden: true, onclick: () => this.stop(), text: 'Stop' }))));
    this.$ = { launcher: $('.launcher'), ask: $('.ask'), panel: $('.panel'), title: $('#title'), logo: $('.logo'),
      threads: $('.threads'), threadsToggle: $('.threads-toggle'), log: $('.log'), items: $('.items'), more: $('.more'),
      banner: $('.banner'), input: $('#input'), send: $('.send'), stop: $('.stop'), quote: $('.quote') };
    this.brand();
  }

  // brand applies name, logo and color (attributes win over the CSS defaults).
  brand() {
    const name = this.getAttribute('name') || 'AI tutor';
    this.$.title.textContent = name;
    this.$.launcher.firstChild.textContent = 'Ask ' + name;
    const logo = safeHref(this.getAttribute('logo') || '');
    this.$.logo.hidden = !logo;
    if (logo) this.$.logo.src = logo;
    const color = this.getAttribute('color');
    if (color && CSS.supports('color', color)) this.style.setProperty('--tutor-accent', color);
  }

  toggle() {
    this.$.panel.hidden ? this.open() : this.close();
  }

  open() {
    const { panel, launcher, input } = this.$;
    if (panel.hidden) {
      panel.hidden = false;
      launcher.setAttribute('aria-expanded', 'true');
      sessionStorage.setItem(this.threadKey + ':open', '1');
      if (!this.loaded) this.restore();
    }
    input.focus();
  }

  close() {
    this.stopIfStreaming();
    this.$.panel.hidden = true;
    this.$.launcher.setAttribute('aria-expanded', 'false');
    sessionStorage.removeItem(this.threadKey + ':open');
    this.$.launcher.focus();
  }

  onKey(e) {
    if (e.key !== 'Escape') return;
    e.stopPropagation();
    if (!this.$.threads.hidden) this.showThreads(false);
    else this.close();
  }

  banner(message, kind = 'info', action) {
    const b = this.$.banner;
    b.replaceChildren();
    b.className = 'banner ' + kind;
    if (!message) return;
    b.append(el('p', { text: message }));
    if (action) b.append(el('button', { type: 'button', onclick: action.run, text: action.label }));
  }

  // ---- sign-in state and locked stages ----
  onAuthChange() {
    const claims = this.auth.claims;
    document.documentElement.dataset.tutorSignedIn = claims ? 'true' : 'false';
    // Locked stages are shown on the page from the token's stage claim. The
    // course pages are static (Caddy templates) and the tokens live only in
    // this browser tab, so the server cannot mark them; this is a hint, not
    // a guard: the tutor enforces the same limit from the verified claim.
    const roles = claims ? [].concat(claims.role || []).join(' ').split(/[\s,]+/) : [];
    const staff = roles.some((r) => STAFF.includes(r));
    const stage = claims ? Number(claims[this.stageClaim]) || 1 : Infinity;
    for (const n of document.querySelectorAll('[data-tutor-stage]')) {
      const locked = !staff && Number(n.dataset.tutorStage) > stage;
      n.toggleAttribute('data-locked', locked);
    }
    for (const n of document.querySelectorAll('[data-tutor-sign-in]')) {
      n.hidden = !!claims;
      n.onclick = () => this.signIn();
    }
    for (const n of document.querySelectorAll('[data-tutor-sign-out]')) {
      n.hidden = !claims;
      n.onclick = () => { this.reset(); this.auth.signOut(new URL(this.getAttribute('post-logout-uri') || '/', location.href).href); };
    }
    if (!claims && this.auth.tokens && this.auth.tokens.refresh_token) this.auth.refresh();
  }

  signIn() {
    // What the student was about to ask survives the trip to the provider.
    const draft = { text: this.$.input.value, quote: this.quote || '' };
    if (draft.text || draft.quote) sessionStorage.setItem(this.threadKey + ':draft', JSON.stringify(draft));
    this.auth.signIn().catch((err) => this.banner('Sign-in is unavailable: ' + err.message, 'error'));
  }

  promptSignIn() {
    this.banner('Sign in to ask the tutor.', 'info', { label: 'Sign in', run: () => this.signIn() });
  }

  // ---- requests ----
  async call(body, signal) {
    const send = () => fetch(this.endpoint, {
      method: 'POST', signal,
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + this.auth.accessToken },
      body: JSON.stringify(body),
    });
    let r = await send();
    if (r.status === 401 && (await this.auth.refresh())) r = await send();
    if (!r.ok) {
      const err = await r.json().catch(() => null);
      throw new HTTPError(r.status, err, Number(r.headers.get('Retry-After')) || 0);
    }
    return r;
  }

  async json(body) {
    return (await this.call(body)).json();
  }

  // explain turns a failed request into a banner; it returns true when the
  // request may be retried.
  explain(err) {
    if (err.name === 'AbortError') return false;
    const reason = err.body && err.body.error && err.body.error.reason;
    if (err.status === 401) {
      this.auth.save(null);
      this.promptSignIn();
    } else if (err.status === 403 && reason === 'email_not_verified') {
      this.banner('Verify your e-mail address to use the tutor: open the link we mailed you.', 'warning', {
        label: 'Send the link again', run: () => location.assign(this.auth.issuer + '/oauth2/check-inbox'),
      });
    } else if (err.status === 429) {
      const at = new Date(Date.now() + (err.retryAfter || 60) * 1000);
      const when = at.toLocaleString([], { weekday: 'short', hour: '2-digit', minute: '2-digit' });
      this.banner(`You have used all your questions for now. You can ask again at ${when}.`, 'warning');
    } else if (err.status && err.status < 500) {
      this.banner(err.message, 'error');
    } else {
      return true;
    }
    return false;
  }

  // ---- threads ----
  reset() {
    this.thread = null;
    this.after = null;
    this.loaded = false;
    sessionStorage.removeItem(this.threadKey);
    this.$.items.replaceChildren();
    this.$.more.hidden = true;
    this.banner('');
  }

  newThread() {
    this.stopIfStreaming();
    this.reset();
    this.loaded = true;
    this.showThreads(false);
    this.$.input.focus();
  }

  async restore() {
    this.loaded = true;
    if (!this.auth.accessToken) return this.promptSignIn();
    const id = sessionStorage.getItem(this.threadKey);
    if (id) await this.openThread(id);
  }

  async showThreads(show = this.$.threads.hidden) {
    const { threads, threadsToggle } = this.$;
    threads.hidden = !show;
    threadsToggle.setAttribute('aria-expanded', String(show));
    if (!show) return;
    if (!this.auth.accessToken) return this.promptSignIn();
    const ul = threads.firstChild;
    ul.replaceChildren(el('li', { text: 'Loading…' }));
    try {
      const page = await this.json({ type: 'threads.list', params: { limit: 50, order: 'desc' } });
      ul.replaceChildren(...page.data.map((t) => this.threadRow(t)));
      if (!page.data.length) ul.append(el('li', { text: 'No conversations yet.' }));
      const first = ul.querySelector('button');
      if (first) first.focus();
    } catch (err) {
      ul.replaceChildren();
      this.explain(err) && this.banner('Could not load your conversations.', 'error');
    }
  }

  threadTitle(t) {
    return t.title || 'Conversation of ' + new Date(t.created_at).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
  }

  threadRow(t) {
    const title = this.threadTitle(t);
    const li = el('li', { 'data-thread': t.id, 'aria-current': this.thread === t.id ? 'true' : null });
    const open = el('button', { class: 'thread-title', type: 'button', text: title, onclick: () => { this.showThreads(false); this.openThread(t.id); } });
    const rename = el('button', { class: 'icon', type: 'button', 'aria-label': 'Rename ' + title, text: ICON.edit, onclick: () => {
      const input = el('input', { class: 'rename', 'aria-label': 'New title', value: t.title || '', onkeydown: async (e) => {
        if (e.key === 'Escape') { e.stopPropagation(); li.replaceWith(this.threadRow(t)); }
        if (e.key !== 'Enter') return;
        e.preventDefault();
        try {
          const updated = await this.json({ type: 'threads.update', params: { thread_id: t.id, title: input.value.trim() || title } });
          const row = this.threadRow(updated);
          li.replaceWith(row);
          row.querySelector('button').focus();
        } catch (err) {
          this.explain(err);
        }
      } });
      open.replaceWith(input);
      input.focus();
      input.select();
    } });
    const del = el('button', { class: 'icon', type: 'button', 'aria-label': 'Delete ' + title, text: ICON.trash, onclick: async () => {
      if (!del.classList.contains('confirm')) {
        del.classList.add('confirm');
        del.textContent = 'Delete?';
        del.setAttribute('aria-label', 'Press again to delete ' + title);
        return;
      }
      try {
        await this.json({ type: 'threads.delete', params: { thread_id: t.id } });
        const next = li.nextElementSibling || li.previousElementSibling;
        li.remove();
        if (this.thread === t.id) this.reset();
        (next ? next.querySelector('button') : this.$.threadsToggle).focus();
      } catch (err) {
        this.explain(err);
      }
    } });
    li.append(open, rename, del);
    return li;
  }

  async openThread(id) {
    this.stopIfStreaming();
    this.reset();
    this.loaded = true;
    this.thread = id;
    sessionStorage.setItem(this.threadKey, id);
    await this.loadEarlier(true);
    this.$.log.scrollTop = this.$.log.scrollHeight;
  }

  // loadEarlier reads the next page of history (newest first) and puts it
  // above what is shown, keeping the scroll position.
  async loadEarlier(first = false) {
    if (!this.thread || this.loadingEarlier || (!first && !this.after)) return;
    this.loadingEarlier = true;
    const { log, items, more } = this.$;
    try {
      const params = { thread_id: this.thread, limit: 20, order: 'desc' };
      if (this.after) params.after = this.after;
      const page = await this.json({ type: 'items.list', params });
      const height = log.scrollHeight;
      const nodes = page.data.reverse().map((item) => this.renderItem(item)).filter(Boolean);
      items.prepend(...nodes);
      log.scrollTop += log.scrollHeight - height;
      this.after = page.has_more ? page.after : null;
      more.hidden = !this.after;
    } catch (err) {
      if (err.status === 404) this.reset();
      else this.explain(err);
    } finally {
      this.loadingEarlier = false;
    }
  }

  // ---- items ----
  renderItem(item) {
    if (item.type === 'user_message') {
      const text = item.content.map((c) => c.text || '').join('');
      const node = el('article', { class: 'msg user', 'data-id': item.id, 'aria-label': 'You' });
      if (item.quoted_text) node.append(el('blockquote', { text: item.quoted_text }));
      node.append(el('p', { text }));
      return node;
    }
    if (item.type === 'assistant_message') {
      const node = this.assistantNode(item.id);
      node.parts = item.content.map((c) => ({ text: c.text || '', annotations: c.annotations || [] }));
      this.paint(node);
      this.finish(node);
      return node;
    }
    return null;
  }

  assistantNode(id) {
    const node = el('article', { class: 'msg assistant', 'data-id': id, 'aria-label': this.$.title.textContent, 'aria-busy': 'true' },
      el('div', { class: 'body' }), el('ul', { class: 'sources', 'aria-label': 'Sources', hidden: true }));
    node.parts = [];
    return node;
  }

  sourceOf(ann) {
    const s = ann.source || {};
    let href = '';
    if (s.type === 'url') href = safeHref(s.url || '');
    else if (s.type === 'file' && s.filename) href = safeHref(this.lessonURL.replace('{lesson}', s.filename.replace(/\.md$/, '')));
    return { title: s.title || s.filename || 'Source', href, description: s.description || '' };
  }

  paint(node) {
    const text = node.parts.map((p) => p.text).join('\n\n');
    const sources = node.parts.flatMap((p) => p.annotations).map((a) => this.sourceOf(a));
    node.querySelector('.body').replaceChildren(renderMarkdown(text, sources));
    const list = node.querySelector('.sources');
    list.hidden = !sources.length;
    list.replaceChildren(...sources.map((s, i) => el('li', {},
      s.href ? el('a', { href: s.href, text: `[${i + 1}] ${s.title}` }) : el('span', { text: `[${i + 1}] ${s.title}` }),
      s.description ? el('small', { text: ' ' + s.description }) : null)));
  }

  // finish ends an answer's streaming state and adds its feedback buttons.
  finish(node) {
    node.setAttribute('aria-busy', 'false');
    if (node.querySelector('.actions')) return;
    const feedback = (kind) => async (e) => {
      const pressed = e.currentTarget;
      try {
        await this.json({ type: 'items.feedback', params: { thread_id: this.thread, item_ids: [node.dataset.id], kind } });
        for (const b of node.querySelectorAll('.actions button')) b.setAttribute('aria-pressed', String(b === pressed));
      } catch (err) {
        this.explain(err);
      }
    };
    node.append(el('div', { class: 'actions' },
      el('button', { class: 'icon', type: 'button', 'aria-label': 'Helpful', 'aria-pressed': 'false', onclick: feedback('positive'), text: ICON.up }),
      el('button', { class: 'icon', type: 'button', 'aria-label': 'Not helpful', 'aria-pressed': 'false', onclick: feedback('negative'), text: ICON.down })));
  }

  // ---- sending and streaming ----
  setQuote(text) {
    this.quote = text;
    this.$.quote.hidden = !text;
    this.$.quote.firstChild.textContent = text;
  }

  pageContext() {
    const scope = document.querySelector(this.getAttribute('selection-scope') || 'main') || document.body;
    const headings = [...scope.querySelectorAll('h1, h2, h3')].map((h) => h.textContent.trim()).filter(Boolean).slice(0, 20);
    const meta = (n) => (document.querySelector(`meta[name="intellistack:${n}"]`) || {}).content;
    const page = { url: location.href, title: document.title, headings };
    if (this.quote) page.selection = this.quote;
    for (const n of ['course', 'stage', 'lesson']) if (meta(n)) page[n] = meta(n);
    return page;
  }

  // ask opens the widget and sends question about the quoted text.
  ask(question, quote = '') {
    this.open();
    this.setQuote(quote);
    this.$.input.value = question;
    this.send();
  }

  watchSelection() {
    const scopeSel = this.getAttribute('selection-scope') || 'main';
    let timer;
    const update = () => {
      const sel = document.getSelection();
      const text = sel && !sel.isCollapsed ? sel.toString().trim() : '';
      const scope = document.querySelector(scopeSel);
      const ask = this.$.ask;
      if (!text || !scope || !scope.contains(sel.anchorNode) || !scope.contains(sel.focusNode)) {
        if (!ask.matches(':focus')) ask.hidden = true;
        return;
      }
      this.selection = text.slice(0, 4000);
      const r = sel.getRangeAt(0).getBoundingClientRect();
      ask.style.top = Math.max(8, r.top - 44) + 'px';
      ask.style.left = Math.min(innerWidth - 100, Math.max(8, r.left + r.width / 2 - 40)) + 'px';
      ask.hidden = false;
    };
    const later = () => { clearTimeout(timer); timer = setTimeout(update, 120); };
    document.addEventListener('selectionchange', later);
    addEventListener('scroll', later, { passive: true }); // the button follows the text
    // Keyboard users: Alt+A asks about the selection (by key position, so
    // layouts where Alt+A types a letter work too).
    document.addEventListener('keydown', (e) => {
      if (e.altKey && e.code === 'KeyA' && !this.$.ask.hidden) { e.preventDefault(); this.askSelection(); }
    });
  }

  askSelection() {
    this.$.ask.hidden = true;
    if (this.selection) this.ask('Can you help me understand this passage?', this.selection);
  }

  busy(on) {
    this.streaming = on;
    this.$.send.hidden = on;
    this.$.stop.hidden = !on;
    this.$.log.setAttribute('aria-busy', String(on));
    if (!on && this.$.panel.contains(this.root.activeElement) && this.root.activeElement === this.$.stop) this.$.input.focus();
  }

  stopIfStreaming() {
    if (this.controller) this.controller.abort();
  }

  stop() {
    this.stopIfStreaming();
    this.$.input.focus();
  }

  async send() {
    const text = this.$.input.value.trim();
    if (!text || this.streaming) return;
    if (!this.auth.accessToken && !(await this.auth.refresh())) return this.promptSignIn();
    const input = { content: [{ type: 'input_text', text }], attachments: [], inference_options: {} };
    if (this.quote) input.quoted_text = this.quote;
    const body = this.thread
      ? { type: 'threads.add_user_message', params: { thread_id: this.thread, input }, metadata: { page: this.pageContext() } }
      : { type: 'threads.create', params: { input }, metadata: { page: this.pageContext() } };
    performance.mark('intellistack-tutor:send');
    const ok = await this.stream(body, () => {
      this.$.input.value = '';
      this.setQuote('');
    });
    if (!ok && !this.thread) this.$.input.value = text;
  }

  retry(userItemId) {
    // The server drops everything after the user message; so do we.
    const items = [...this.$.items.children];
    const at = items.findIndex((n) => n.dataset.id === userItemId);
    for (const n of items.slice(at + 1)) n.remove();
    this.stream({ type: 'threads.retry_after_item', params: { thread_id: this.thread, item_id: userItemId } });
  }

  // stream runs one streaming operation and renders its events as they come;
  // started() runs once the server accepted the request.
  async stream(body, started) {
    this.banner('');
    this.controller = new AbortController();
    this.busy(true);
    let lastUser = body.params.item_id || null;
    let current = null;
    let firstToken = true;
    try {
      const r = await this.call(body, this.controller.signal);
      if (started) started();
      for await (const ev of sse(r)) {
        switch (ev.type) {
          case 'thread.created':
            this.thread = ev.thread.id;
            sessionStorage.setItem(this.threadKey, this.thread);
            break;
          case 'thread.item.added':
            if (ev.item.type === 'assistant_message') {
              current = this.assistantNode(ev.item.id);
              this.$.items.append(current);
            }
            break;
          case 'thread.item.updated': {
            if (!current || ev.item_id !== current.dataset.id) break;
            const u = ev.update;
            const parts = current.parts;
            while (parts.length <= u.content_index) parts.push({ text: '', annotations: [] });
            const p = parts[u.content_index];
            if (u.type.endsWith('.text_delta')) p.text += u.delta;
            else if (u.type.endsWith('.annotation_added')) p.annotations.splice(u.annotation_index, 0, u.annotation);
            else if (u.content) parts[u.content_index] = { text: u.content.text || '', annotations: u.content.annotations || [] };
            this.paint(current);
            if (firstToken && p.text) {
              firstToken = false;
              performance.mark('intellistack-tutor:first-token');
            }
            this.scrollDown();
            break;
          }
          case 'thread.item.done': {
            const existing = this.$.items.querySelector(`[data-id="${CSS.escape(ev.item.id)}"]`);
            const node = this.renderItem(ev.item);
            if (!node) break;
            if (existing) existing.replaceWith(node);
            else this.$.items.append(node);
            if (ev.item.type === 'user_message') lastUser = ev.item.id;
            if (current && current.dataset.id === ev.item.id) current = null;
            this.scrollDown();
            break;
          }
          case 'thread.item.removed': {
            // The server drops an answer that failed half-way; the student
            // keeps reading it, marked, until Retry replaces it.
            if (current && current.dataset.id === ev.item_id) {
              current.classList.add('incomplete');
              current.setAttribute('aria-busy', 'false');
              current.append(el('p', { class: 'stopped', text: 'This answer was interrupted.' }));
              current = null;
              break;
            }
            const n = this.$.items.querySelector(`[data-id="${CSS.escape(ev.item_id)}"]`);
            if (n) n.remove();
            break;
          }
          case 'notice':
            this.$.items.append(el('p', { class: 'notice ' + (ev.level || 'info'), role: 'note', text: ev.message }));
            break;
          case 'error':
            this.failed(ev.message || 'The tutor could not answer.', ev.allow_retry && lastUser);
            break;
        }
      }
      if (current) this.finish(current);
      return true;
    } catch (err) {
      if (current) this.finish(current);
      if (err.name === 'AbortError') {
        if (current) current.append(el('p', { class: 'stopped', text: 'Stopped.' }));
        return true;
      }
      const kept = current ? '; your partial answer is kept.' : lastUser ? '.' : '; your question is kept.';
      if (this.explain(err)) this.failed('The connection to the tutor failed' + kept, lastUser, body);
      return !err.status;
    } finally {
      this.controller = null;
      this.busy(false);
    }
  }

  // failed shows an error, with a retry button when the server allows one.
  failed(message, retryItem, body) {
    // Retry after the message was stored re-answers it; before, it sends again.
    const resend = () => this.stream(body, () => { this.$.input.value = ''; this.setQuote(''); });
    const run = retryItem ? () => this.retry(retryItem) : body && body.params.input ? resend : null;
    this.banner(message, 'error', run && { label: 'Retry', run });
  }

  scrollDown() {
    const log = this.$.log;
    if (log.scrollHeight - log.scrollTop - log.clientHeight < 120) log.scrollTop = log.scrollHeight;
  }
}

if (!customElements.get('intellistack-tutor')) customElements.define('intellistack-tutor', IntelliStackTutor);
