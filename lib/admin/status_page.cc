#include "admin/status_page.h"

#include <openssl/evp.h>

#include <string>

namespace failoverd::admin {

namespace {

constexpr std::string_view kStyle = R"CSS(
:root { color-scheme: light; --ok: #1b7f3b; --bad: #b3261e; --warn: #9a6700; --mute: #5f6368; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       background: #f6f7f9; color: #1f2328; }
header { background: #24292f; color: #fff; padding: 10px 20px; display: flex; gap: 16px;
         align-items: center; flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; }
#state { margin-left: auto; font-size: 13px; }
#state.error { color: #ffb4ab; font-weight: 600; }
main { padding: 12px 20px 30px; max-width: 1300px; }
h2 { font-size: 15px; margin: 18px 0 8px; text-transform: uppercase; letter-spacing: .04em;
     color: var(--mute); }
#login { display: flex; gap: 8px; align-items: center; }
#login input { font: inherit; padding: 4px 8px; width: 22em; }
button { font: inherit; padding: 4px 10px; cursor: pointer; }
.banner { background: #fff4e5; border: 1px solid var(--warn); padding: 8px 12px; margin: 10px 0;
          border-radius: 6px; }
.hidden { display: none !important; }
#services { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 12px; }
.card { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 10px 14px; }
.card h3 { margin: 0 0 4px; font-size: 16px; }
.meta { color: var(--mute); font-size: 12px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0; }
dt { color: var(--mute); }
dd { margin: 0; font-weight: 600; }
ul.holds { margin: 4px 0 0; padding-left: 18px; }
ul.holds li { margin: 2px 0; }
.hold-kind { font-weight: 600; text-transform: uppercase; font-size: 12px; color: var(--warn); }
.quiet { color: var(--mute); font-weight: 400; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid #d0d7de; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eaeef2; vertical-align: top; }
th { background: #f0f2f4; font-weight: 600; }
.v-up { color: var(--ok); font-weight: 600; }
.v-down { color: var(--bad); font-weight: 600; }
.v-degraded { color: var(--warn); font-weight: 600; }
.v-unknown, .v-pending { color: var(--mute); font-weight: 600; }
.vote { margin: 1px 0; }
.evidence { color: var(--mute); font-size: 12px; }
td.detail { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px;
            word-break: break-word; }
td.time { white-space: nowrap; font-size: 12px; }
)CSS";

constexpr std::string_view kScript = R"JS(
'use strict';
(function () {
  const KEY = 'failoverd.token';
  const REFRESH_MS = 2000;
  const byId = (id) => document.getElementById(id);
  let timer = null;

  // Every piece of text from the API goes in through textContent: never parsed as markup.
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function token() { return sessionStorage.getItem(KEY) || ''; }
  function age(seconds) {
    if (typeof seconds !== 'number') return '?';
    if (seconds < 90) return seconds.toFixed(1) + ' s';
    if (seconds < 5400) return (seconds / 60).toFixed(1) + ' min';
    return (seconds / 3600).toFixed(1) + ' h';
  }
  function verdict(text) {
    const known = ['up', 'down', 'degraded', 'unknown', 'pending'];
    return el('span', known.includes(text) ? 'v-' + text : 'v-unknown', text);
  }
  function setState(text, error) {
    const s = byId('state');
    s.textContent = text;
    s.className = error ? 'error' : '';
  }
  function showLogin(show) {
    byId('login').classList.toggle('hidden', !show);
    byId('forget').classList.toggle('hidden', show);
  }

  async function get(path) {
    const r = await fetch(path, {
      headers: { 'Authorization': 'Bearer ' + token() },
      cache: 'no-store', credentials: 'omit', redirect: 'error',
    });
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) {
      const err = new Error((body && typeof body.error === 'string') ? body.error : 'HTTP ' + r.status);
      err.status = r.status;
      throw err;
    }
    return body;
  }

  function holdItem(h) {
    const li = el('li', 'hold');
    li.setAttribute('data-kind', String(h.kind));
    li.appendChild(el('span', 'hold-kind', h.kind));
    if (h.kind === 'pin' && h.region) li.appendChild(el('span', 'hold-region', ' to ' + h.region));
    if (h.kind === 'proposal') {
      li.appendChild(el('span', 'hold-region', ' to ' + (h.active || []).join(', ') +
                                                 ' (generation ' + h.generation + '), awaits approval'));
    }
    li.appendChild(document.createTextNode(': '));
    li.appendChild(el('span', 'hold-reason', h.reason || '(no reason given)'));
    const who = el('span', 'quiet');
    who.appendChild(document.createTextNode(' by '));
    who.appendChild(el('span', 'hold-by', h.by === null || h.by === undefined ? 'unknown' : h.by));
    if (typeof h.since === 'string') {
      who.appendChild(document.createTextNode(' since '));
      who.appendChild(el('span', 'hold-since', h.since));
    } else if (typeof h.age_seconds === 'number') {
      who.appendChild(document.createTextNode(', '));
      who.appendChild(el('span', 'hold-since', age(h.age_seconds) + ' ago'));
    } else {
      who.appendChild(el('span', 'hold-since', ', since unknown'));
    }
    li.appendChild(who);
    return li;
  }

  function renderServices(status) {
    const root = byId('services');
    clear(root);
    for (const s of status.services || []) {
      const card = el('section', 'card service');
      card.setAttribute('data-service', String(s.name));
      card.appendChild(el('h3', 'name', s.name));
      card.appendChild(el('div', 'meta', [s.policy, s.mode, 'target ' + s.target].join(' \u00b7 ')));
      const dl = el('dl');
      const row = (label, cls, value) => {
        dl.appendChild(el('dt', null, label));
        dl.appendChild(el('dd', cls, value));
      };
      row('active', 'active', (s.active || []).join(', ') || 'none');
      row('generation', 'generation', s.generation === null || s.generation === undefined ? 'not read yet' : s.generation);
      if (s.last_actuator_event) row('actuator', 'actuator quiet', s.last_actuator_event);
      card.appendChild(dl);
      card.appendChild(el('div', 'meta', 'holds (this observer)'));
      const holds = s.holds || [];
      if (holds.length === 0) {
        card.appendChild(el('div', 'no-holds quiet', 'none: changes automatically'));
      } else {
        const ul = el('ul', 'holds');
        for (const h of holds) ul.appendChild(holdItem(h));
        card.appendChild(ul);
      }
      root.appendChild(card);
    }
    if (!(status.services || []).length) root.appendChild(el('p', 'quiet', 'no services configured'));
  }

  function renderRegions(status) {
    const body = byId('regions');
    clear(body);
    for (const r of status.regions || []) {
      const tr = el('tr', 'region');
      tr.setAttribute('data-region', String(r.name));
      tr.appendChild(el('td', 'name', r.name));
      const c = el('td', 'confirmed'); c.appendChild(verdict(r.confirmed)); tr.appendChild(c);
      const l = el('td', 'local'); l.appendChild(verdict(r.local)); tr.appendChild(l);
      const votes = el('td', 'votes');
      for (const v of r.votes || []) {
        const d = el('div', 'vote');
        d.setAttribute('data-observer', String(v.observer));
        d.appendChild(el('span', 'observer', v.observer));
        d.appendChild(document.createTextNode(': '));
        d.appendChild(verdict(v.verdict));
        d.appendChild(el('span', 'quiet', ', ' + age(v.age_seconds) + ' old'));
        if (Array.isArray(v.evidence)) {
          const parts = v.evidence.map((e) => e.endpoint + ' ' + e.health +
            (typeof e.last_success_seconds_ago === 'number'
               ? ' (last success ' + age(e.last_success_seconds_ago) + ' ago)' : ' (no success yet)'));
          d.appendChild(el('div', 'evidence', 'evidence: ' + (parts.join('; ') || 'no endpoints')));
        } else {
          d.appendChild(el('div', 'evidence', 'evidence: the peer sends its verdict only'));
        }
        votes.appendChild(d);
      }
      if ((r.no_fresh_vote || []).length) {
        votes.appendChild(el('div', 'evidence', 'no fresh vote: ' + r.no_fresh_vote.join(', ')));
      }
      tr.appendChild(votes);
      body.appendChild(tr);
    }
    const peers = byId('peers');
    clear(peers);
    byId('peers-section').classList.toggle('hidden', !Array.isArray(status.peers));
    for (const p of status.peers || []) {
      const tr = el('tr', 'peer');
      tr.appendChild(el('td', null, p.id));
      tr.appendChild(el('td', null, p.address));
      tr.appendChild(el('td', null, typeof p.last_seen_seconds_ago === 'number'
                                       ? age(p.last_seen_seconds_ago) + ' ago' : 'never'));
      tr.appendChild(el('td', null, (p.config_mismatch ? 'config differs; ' : '') + (p.last_error || '')));
      peers.appendChild(tr);
    }
  }

  function renderEvents(events) {
    const body = byId('events');
    clear(body);
    for (const e of events.events || []) {
      const tr = el('tr', 'event');
      tr.setAttribute('data-id', String(e.id));
      tr.appendChild(el('td', 'time', e.time));
      tr.appendChild(el('td', 'service', e.service));
      tr.appendChild(el('td', 'kind', e.kind));
      tr.appendChild(el('td', 'who', e.who));
      tr.appendChild(el('td', 'detail', e.detail));
      body.appendChild(tr);
    }
  }

  async function refresh() {
    timer = null;
    if (!token()) { showLogin(true); setState('enter an admin API token to see the status', false); return; }
    try {
      const [status, events] = await Promise.all([get('/v1/status'), get('/v1/events?limit=25')]);
      byId('observer').textContent = 'observer ' + status.observer;
      const imp = byId('impaired');
      imp.textContent = status.impaired ? 'this observer abstains: ' + status.impaired : '';
      imp.classList.toggle('hidden', !status.impaired);
      renderServices(status);
      renderRegions(status);
      renderEvents(events);
      byId('content').classList.remove('hidden');
      showLogin(false);
      setState('updated ' + new Date().toLocaleTimeString(), false);
    } catch (err) {
      if (err.status === 401) {
        sessionStorage.removeItem(KEY);
        showLogin(true);
        setState('token refused: ' + err.message, true);
        return;
      }
      setState('cannot refresh: ' + err.message, true);
    }
    if (token() && timer === null) timer = setTimeout(refresh, REFRESH_MS);
  }

  byId('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = byId('token');
    const t = input.value.trim();
    input.value = '';
    if (!t) return;
    sessionStorage.setItem(KEY, t);
    if (timer !== null) { clearTimeout(timer); timer = null; }
    refresh();
  });
  byId('forget').addEventListener('click', () => {
    sessionStorage.removeItem(KEY);
    if (timer !== null) { clearTimeout(timer); timer = null; }
    byId('content').classList.add('hidden');
    refresh();
  });
  refresh();
})();
)JS";

constexpr std::string_view kHead = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>failoverd status</title>
<style>)HTML";

constexpr std::string_view kBody = R"HTML(</style>
</head>
<body>
<header>
  <h1>failoverd</h1><span id="observer"></span>
  <form id="login" class="hidden" autocomplete="off">
    <label for="token">admin token</label>
    <input id="token" type="password" autocomplete="off" spellcheck="false">
    <button id="connect" type="submit">Show status</button>
  </form>
  <button id="forget" type="button" class="hidden">Forget token</button>
  <span id="state">loading</span>
</header>
<main>
  <noscript><p>This page needs JavaScript: it fetches the status from the admin API.</p></noscript>
  <div id="impaired" class="banner hidden"></div>
  <div id="content" class="hidden">
    <h2>Services</h2>
    <div id="services"></div>
    <h2>Regions (confirmed by the quorum; votes this observer holds)</h2>
    <table><thead><tr><th>region</th><th>confirmed</th><th>this observer</th><th>votes</th></tr></thead>
      <tbody id="regions"></tbody></table>
    <div id="peers-section" class="hidden">
      <h2>Peers</h2>
      <table><thead><tr><th>observer</th><th>address</th><th>last heard</th><th>problem</th></tr></thead>
        <tbody id="peers"></tbody></table>
    </div>
    <h2>Journal (newest first)</h2>
    <table><thead><tr><th>time (UTC)</th><th>service</th><th>kind</th><th>who</th><th>detail</th></tr></thead>
      <tbody id="events"></tbody></table>
  </div>
</main>
<script>)HTML";

constexpr std::string_view kTail = "</script>\n</body>\n</html>\n";

// "'sha256-BASE64'" of `text`, a CSP source expression allowing exactly that inline block.
std::string csp_hash(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  const int n = EVP_EncodeBlock(b64, digest, static_cast<int>(length));
  return "'sha256-" + std::string(reinterpret_cast<const char*>(b64), static_cast<std::size_t>(n)) + "'";
}

}  // namespace

Response status_page() {
  static const std::string body = [] {
    std::string b;
    b.append(kHead).append(kStyle).append(kBody).append(kScript).append(kTail);
    return b;
  }();
  static const std::string policy = "default-src 'none'; script-src " + csp_hash(kScript) +
                                    "; style-src " + csp_hash(kStyle) +
                                    "; connect-src 'self'; img-src 'none'; base-uri 'none'; "
                                    "form-action 'none'; frame-ancestors 'none'";
  Response r;
  r.content_type = "text/html; charset=utf-8";
  r.body = body;
  r.headers.emplace_back("Content-Security-Policy", policy);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
  r.headers.emplace_back("Cross-Origin-Resource-Policy", "same-origin");
  return r;
}

}  // namespace failoverd::admin
