// The OaaS console: plain DOM, no framework. It reads only the public HTTP API, with the
// token its user gives (kept in sessionStorage for the tab's session). Pages are routed by
// the URL's hash: #/, #/package/P, #/class/C, #/objects/C?field=value, #/object/ID,
// #/invocations, #/invocation/ID.
'use strict';

const TOKEN_KEY = 'oaas-token';
const KEYWORDS = new Set(['package', 'import', 'class', 'record', 'extends', 'fn', 'macro', 'let', 'return', 'for', 'in',
  'public', 'internal', 'private', 'state', 'file', 'ref', 'mut', 'static', 'override', 'true', 'false', 'null', 'flatten']);
const TYPES = new Set(['int', 'float', 'bool', 'string', 'json']);
let live = null; // the AbortController of the page's live stream, if any

// ---- small helpers -------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}
function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}
// Replaces an element's children, arrays flattened and empty values left out as `append`
// does (`replaceChildren` itself would write an array or a null as text).
function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}
function svg(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, v);
  return append(el, children);
}
const token = () => sessionStorage.getItem(TOKEN_KEY) || '';
const main = () => document.getElementById('main');
const json = (v) => JSON.stringify(v, null, 2);
const short = (id) => String(id).slice(0, 13) + (String(id).length > 13 ? '…' : '');
const when = (ms) => (ms ? new Date(ms).toLocaleString() : '');
const badge = (status) => h('span', { class: 'badge st-' + status, 'data-status': status }, status);
const packageOf = (qualified) => qualified.slice(0, qualified.lastIndexOf('.'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function api(path, opts = {}) {
  const headers = Object.assign({ Authorization: 'Bearer ' + token() }, opts.headers || {});
  let body = opts.body;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  const r = await fetch(path, { method: opts.method || 'GET', headers, body });
  const text = await r.text();
  let value = null;
  try { value = text ? JSON.parse(text) : null; } catch (_) { value = text; }
  if (!r.ok) {
    const e = new Error(value && value.error ? value.error.message : r.status + ' ' + text);
    e.status = r.status;
    e.body = value;
    throw e;
  }
  return value;
}

function fmtType(t) {
  if (t === null || t === undefined) return '()';
  if (typeof t === 'string') return t;
  if (t.list) return '[' + fmtType(t.list) + ']';
  if (t.optional) return fmtType(t.optional) + '?';
  const q = t.class || t.record;
  return q ? q.slice(q.lastIndexOf('.') + 1) : JSON.stringify(t);
}
function signature(f) {
  // `default: null` alone means none; `default_is_null` marks a default that is null.
  const hasDefault = (p) => p.default_is_null || (p.default !== undefined && p.default !== null);
  const params = (f.params || []).map((p) => p.name + ': ' + fmtType(p.type) + (hasDefault(p) ? ' = ' + JSON.stringify(p.default) : ''));
  return f.name + '(' + params.join(', ') + ')' + (f.returns ? ' -> ' + fmtType(f.returns) : '');
}

// ---- source highlighting --------------------------------------------------------------
const TOKEN_RE = /(\/\/[^\n]*)|("(?:[^"\\\n]|\\.)*")|(@[A-Za-z_]\w*)|(\b\d+(?:\.\d+)?(?:ms|s|m)?\b)|([A-Za-z_]\w*)/g;
function highlightLine(line) {
  const out = [];
  let at = 0;
  for (const m of line.matchAll(TOKEN_RE)) {
    if (m.index > at) out.push(line.slice(at, m.index));
    const [text, com, str, ann, num, word] = m;
    let cls = null;
    if (com) cls = 'com'; else if (str) cls = 'str'; else if (ann) cls = 'ann'; else if (num) cls = 'num';
    else if (word && KEYWORDS.has(word)) cls = 'kw';
    else if (word && (TYPES.has(word) || /^[A-Z]/.test(word))) cls = 'ty';
    out.push(cls ? h('span', { class: cls }, text) : text);
    at = m.index + text.length;
  }
  if (at < line.length) out.push(line.slice(at));
  return out;
}
// The lines `from`..`to` (1-based) of a source, highlighted, `mark` lines marked.
function codeBlock(text, from = 1, to = Infinity, mark = () => false) {
  const lines = text.split('\n');
  const pre = h('pre', { class: 'code' });
  for (let n = Math.max(1, from); n <= Math.min(lines.length, to); n++) {
    const row = h('span', { class: mark(n) ? 'hl' : null, 'data-line': n }, h('span', { class: 'ln' }, n), highlightLine(lines[n - 1]));
    pre.append(row, '\n');
  }
  return pre;
}
// A failing call's lines with two lines around them.
function excerpt(text, line, endLine) {
  return codeBlock(text, line - 2, (endLine || line) + 2, (n) => n >= line && n <= (endLine || line));
}

// ---- forms from signatures ------------------------------------------------------------
function inputFor(name, type, dflt) {
  const base = typeof type === 'string' ? type : type && type.optional ? type.optional : null;
  const id = 'in-' + name;
  if (base === 'int' || base === 'float') return h('input', { id, name, type: 'number', step: base === 'int' ? '1' : 'any', placeholder: dflt !== undefined && dflt !== null ? String(dflt) : '' });
  if (base === 'bool') return h('input', { id, name, type: 'checkbox', checked: dflt === true });
  if (base === 'string' || (type && type.class)) return h('input', { id, name, type: 'text', placeholder: dflt !== undefined && dflt !== null ? String(dflt) : (type.class ? 'object id' : '') });
  return h('textarea', { id, name, placeholder: 'JSON' + (dflt !== undefined && dflt !== null ? ', default ' + JSON.stringify(dflt) : '') });
}
// The arguments a form holds: fields left empty take their defaults.
function readArgs(form, params) {
  const args = {};
  for (const p of params) {
    const el = form.elements[p.name];
    if (!el) continue;
    if (el.type === 'checkbox') { args[p.name] = el.checked; continue; }
    if (el.value === '') continue;
    if (el.type === 'number') args[p.name] = Number(el.value);
    else if (el.tagName === 'TEXTAREA') args[p.name] = JSON.parse(el.value);
    else args[p.name] = el.value;
  }
  return args;
}

// A form that calls a function or macro; macros run asynchronously and are followed live.
function callForm(cls, f, isMacro, objectId) {
  const params = f.params || [];
  const out = h('div', { class: 'call-result' });
  const fields = [];
  if (!f.static) fields.push(h('label', { for: 'in-self' }, 'object'), h('input', { id: 'in-self', name: 'self', value: objectId || '', placeholder: 'object id', required: true }));
  for (const p of params) fields.push(h('label', { for: 'in-' + p.name }, p.name + ': ' + fmtType(p.type)), inputFor(p.name, p.type, p.default));
  const form = h('form', { class: 'call', 'data-call': f.name }, fields, h('button', { type: 'submit' }, isMacro ? 'Start' : 'Call'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    fill(out, h('span', { class: 'muted' }, 'calling…'));
    try {
      const args = readArgs(form, params);
      const base = f.static ? `/api/classes/${cls}/invoke/${f.name}` : `/api/objects/${form.elements.self.value.trim()}/invoke/${f.name}`;
      if (isMacro) {
        const accepted = await api(base + '?async=true', { method: 'POST', json: args });
        location.hash = '#/invocation/' + accepted.invocation_id;
        return;
      }
      const r = await api(base, { method: 'POST', json: args });
      fill(out, h('pre', {}, json(r.result)));
    } catch (e) {
      fill(out, h('p', { class: 'error' }, e.message));
    }
  });
  return h('div', {}, form, out);
}

// A form that makes an object from its public state, then uploads its files.
function newObjectForm(c) {
  const out = h('div');
  const fields = [];
  for (const s of c.state) fields.push(h('label', { for: 'in-' + s.name }, s.name + ': ' + fmtType(s.type)), inputFor(s.name, s.type, s.default));
  for (const f of c.files) fields.push(h('label', { for: 'file-' + f.name }, 'file ' + f.name + (f.media_type ? ' (' + f.media_type + ')' : '')), h('input', { id: 'file-' + f.name, name: 'file-' + f.name, type: 'file', accept: f.media_type || null }));
  const form = h('form', { class: 'call', 'data-new-object': c.qualified }, fields, h('button', { type: 'submit' }, 'Create'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    fill(out, h('span', { class: 'muted' }, 'creating…'));
    try {
      const made = await api(`/api/classes/${c.qualified}/objects`, { method: 'POST', json: readArgs(form, c.state) });
      const obj = made.result;
      for (const f of c.files) {
        const file = form.elements['file-' + f.name].files[0];
        if (!file || !obj.upload || !obj.upload[f.name]) continue;
        const r = await fetch(obj.upload[f.name], { method: 'PUT', body: file, headers: { 'If-None-Match': '*' } });
        if (!r.ok) throw new Error(`uploading ${f.name}: ${r.status}`);
      }
      location.hash = '#/object/' + obj.id;
    } catch (e) {
      fill(out, h('p', { class: 'error' }, e.message));
    }
  });
  return h('div', {}, form, out);
}

// ---- the macro graph ------------------------------------------------------------------
const CHAR_W = 7.3, NODE_H = 30, GAP_X = 24, GAP_Y = 42, PAD = 14;

// Lays out one level: layers by longest path from the sources, nodes left to right in
// source order; a `for` node holds its body's layout.
function layout(graph, inBody = false) {
  const layerOf = new Map();
  const preds = new Map(graph.nodes.map((n) => [n.id, []]));
  for (const e of graph.edges) if (preds.has(e.to)) preds.get(e.to).push(e.from);
  const depth = (id, seen = new Set()) => {
    if (layerOf.has(id)) return layerOf.get(id);
    if (seen.has(id)) return 0;
    seen.add(id);
    const d = Math.max(-1, ...preds.get(id).filter((p) => preds.has(p)).map((p) => depth(p, seen))) + 1;
    layerOf.set(id, d);
    return d;
  };
  const boxes = graph.nodes.map((n) => {
    const label = n.op === 'map' ? `for ${n.var} in …` : n.label;
    const inner = n.op === 'map' ? layout(n.body, true) : null;
    // A node in a `for` body shows how many of its elements succeeded (` 12/40`).
    const chars = label.length + (inBody ? 8 : 0);
    const w = Math.max(chars * CHAR_W + 2 * PAD, inner ? inner.width + 2 * PAD : 0);
    const hgt = inner ? inner.height + NODE_H + PAD : NODE_H;
    return { node: n, label, inner, w, h: hgt, layer: depth(n.id) };
  });
  const layers = [];
  for (const b of boxes) (layers[b.layer] = layers[b.layer] || []).push(b);
  let y = 0, width = 0;
  for (const row of layers.filter(Boolean)) {
    const rowH = Math.max(...row.map((b) => b.h));
    let x = 0;
    for (const b of row) { b.x = x; b.y = y; x += b.w + GAP_X; }
    width = Math.max(width, x - GAP_X);
    y += rowH + GAP_Y;
  }
  return { boxes, edges: graph.edges, width: Math.max(width, 10), height: Math.max(y - GAP_Y, 10) };
}

// The status of a graph node from the record's node keys (`n3`, `n5.e0`, `n5.e0.e2`):
// every element of a node inside a `for` counts.
function nodeStatus(nodes, id) {
  const re = new RegExp('^n' + id + '(\\.e\\d+)*$');
  const found = Object.entries(nodes).filter(([k]) => re.test(k)).map(([k, v]) => Object.assign({ key: k }, v))
    .sort((a, b) => a.key.localeCompare(b.key, 'en', { numeric: true }));
  const count = (s) => found.filter((n) => n.status === s).length;
  let status = 'pending';
  if (count('failed')) status = 'failed';
  else if (count('running')) status = 'running';
  else if (count('waiting')) status = 'waiting';
  else if (found.length && count('skipped') === found.length) status = 'skipped';
  else if (found.length && count('succeeded') + count('skipped') === found.length) status = 'succeeded';
  else if (found.length) status = count('skipped') ? 'skipped' : 'running';
  return { status, found, count };
}

function drawLevel(g, lay, ox, oy, state) {
  const at = new Map(lay.boxes.map((b) => [b.node.id, b]));
  for (const e of lay.edges) {
    const a = at.get(e.from), b = at.get(e.to);
    if (!a || !b) continue;
    const x1 = ox + a.x + a.w / 2, y1 = oy + a.y + a.h, x2 = ox + b.x + b.w / 2, y2 = oy + b.y;
    g.append(svg('path', { class: 'edge ' + e.kind, d: `M${x1},${y1} C${x1},${y1 + 20} ${x2},${y2 - 20} ${x2},${y2 - 2}` }));
  }
  for (const b of lay.boxes) {
    const st = nodeStatus(state.nodes, b.node.id);
    const many = st.found.length > 1 ? ` ${st.count('succeeded')}/${st.found.length}` : '';
    const node = svg('g', { class: `node st-${st.status}` + (b.inner ? ' map' : ''), 'data-node': 'n' + b.node.id, 'data-status': st.status, tabindex: 0 },
      svg('title', {}, b.node.label),
      svg('rect', { x: ox + b.x, y: oy + b.y, width: b.w, height: b.h }),
      svg('text', { x: ox + b.x + PAD, y: oy + b.y + 19 }, b.label + many));
    node.addEventListener('click', (ev) => { ev.stopPropagation(); state.select(b.node); });
    g.append(node);
    if (b.inner) drawLevel(g, b.inner, ox + b.x + PAD, oy + b.y + NODE_H, state);
  }
}

// Draws a macro's graph into `box`; `state.nodes` holds the record's node statuses.
function drawGraph(box, graph, state) {
  const lay = layout(graph);
  const s = svg('svg', { width: lay.width + 2 * PAD, height: lay.height + 2 * PAD, role: 'img', 'aria-label': 'invocation graph' },
    svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' }, svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#57606a' }))));
  const g = svg('g');
  s.append(g);
  drawLevel(g, lay, PAD, PAD, state);
  fill(box, s);
}

// Every node of a graph, nested levels included, by id.
function allNodes(graph, out = new Map()) {
  for (const n of graph.nodes) { out.set(n.id, n); if (n.body) allNodes(n.body, out); }
  return out;
}

// ---- pages ------------------------------------------------------------------------------
async function packagesPage() {
  const { packages } = await api('/api/packages');
  const cards = await Promise.all(packages.map(async (p) => {
    const detail = await api('/api/packages/' + encodeURIComponent(p.name));
    return h('div', { class: 'card' }, h('h2', {}, h('a', { href: '#/package/' + p.name }, p.name)),
      h('div', { class: 'muted mono' }, short(p.version)),
      h('ul', {}, detail.classes.map((c) => h('li', {}, h('a', { href: '#/class/' + c }, c), ' · ', h('a', { href: '#/objects/' + c }, 'objects')))));
  }));
  return [h('h1', {}, 'Packages'), packages.length ? h('div', { class: 'cards' }, cards) : h('p', { class: 'muted' }, 'No package is deployed yet: `oaasc deploy examples/video`.')];
}

async function packagePage(name) {
  const p = await api('/api/packages/' + encodeURIComponent(name));
  return [h('h1', {}, 'Package ', h('code', {}, p.name)), h('p', { class: 'muted mono' }, p.version),
    h('h2', {}, 'Classes'), h('ul', {}, p.classes.map((c) => h('li', {}, h('a', { href: '#/class/' + c }, c)))),
    p.sources.map((s) => [h('h2', {}, s.path), codeBlock(s.text)])];
}

async function classPage(cls) {
  const c = await api('/api/classes/' + encodeURIComponent(cls));
  const rows = (items, cols) => items.length ? h('table', {}, h('tr', {}, cols.map((x) => h('th', {}, x[0]))), items.map((i) => h('tr', {}, cols.map((x) => h('td', {}, x[1](i)))))) : h('p', { class: 'muted' }, 'none');
  const macros = c.macros.map((m) => {
    const box = h('div', { class: 'graph' });
    drawGraph(box, m.graph, { nodes: {}, select: () => {} });
    return h('section', { 'data-macro': m.name }, h('h2', {}, 'macro ', h('code', {}, signature(m))), m.docs ? h('p', {}, m.docs) : null, box, callForm(c.qualified, m, true));
  });
  return [h('h1', {}, 'Class ', h('code', {}, c.qualified)), c.docs ? h('p', {}, c.docs) : null,
    h('p', {}, h('a', { href: '#/objects/' + c.qualified }, 'Objects of this class'), ' · ', h('a', { href: '#/package/' + packageOf(c.qualified) }, 'Source')),
    h('h2', {}, 'State'), rows(c.state, [['name', (s) => s.name], ['type', (s) => fmtType(s.type)], ['default', (s) => json(s.default)]]),
    h('h2', {}, 'Files'), rows(c.files, [['name', (f) => f.name], ['media type', (f) => f.media_type || '']]),
    h('h2', {}, 'Refs'), rows(c.refs, [['name', (r) => r.name], ['class', (r) => (r.many ? '[' + r.class + ']' : r.class)]]),
    h('h2', {}, 'New object'), newObjectForm(c),
    h('h2', {}, 'Functions'), c.functions.map((f) => h('details', {}, h('summary', {}, h('code', {}, signature(f)), f.mut ? ' mut' : '', f.static ? ' static' : '', f.docs ? h('span', { class: 'muted' }, ' — ' + f.docs) : ''), callForm(c.qualified, f, false))),
    macros];
}

async function objectsPage(cls, query) {
  const params = new URLSearchParams(query || '');
  const c = await api('/api/classes/' + encodeURIComponent(cls));
  const q = new URLSearchParams(params);
  if (!q.has('limit')) q.set('limit', '100');
  const t0 = performance.now();
  const page = await api(`/api/classes/${encodeURIComponent(cls)}/objects?` + q);
  const filter = h('input', { id: 'filter', size: 40, placeholder: 'field=value & field=value', value: [...params].filter(([k]) => k !== 'after' && k !== 'limit').map(([k, v]) => k + '=' + v).join(' & ') });
  const form = h('form', { class: 'row' }, h('label', { for: 'filter' }, 'Filter'), filter, h('button', { type: 'submit' }, 'Apply'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const next = new URLSearchParams();
    for (const part of filter.value.split('&').map((s) => s.trim()).filter(Boolean)) {
      const i = part.indexOf('=');
      if (i > 0) next.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
    }
    location.hash = `#/objects/${cls}?` + next;
  });
  const fields = c.state.map((s) => s.name);
  const table = h('table', { id: 'objects' }, h('tr', {}, h('th', {}, 'id'), h('th', {}, 'version'), fields.map((f) => h('th', {}, f))),
    page.items.map((o) => h('tr', {}, h('td', { class: 'mono' }, h('a', { href: '#/object/' + o.id }, o.id)), h('td', {}, o.version), fields.map((f) => h('td', { class: 'mono' }, JSON.stringify(o.state[f]))))));
  const pager = h('div', { class: 'pager' });
  if (params.has('after')) pager.append(h('button', { type: 'button', onclick: () => history.back() }, '← previous'));
  if (page.next_after) { const n = new URLSearchParams(params); n.set('after', page.next_after); pager.append(h('a', { href: `#/objects/${cls}?` + n, id: 'next' }, 'next →')); }
  return [h('h1', {}, 'Objects of ', h('a', { href: '#/class/' + cls }, h('code', {}, cls))), form,
    h('p', { class: 'muted', id: 'count' }, `${page.items.length} shown (${Math.round(performance.now() - t0)} ms)`), table, pager];
}

// The versions side by side, each field's cell marked where it changed from the one before.
function versionsTable(versions) {
  const shown = versions.slice(-12);
  const fields = [...new Set(shown.flatMap((v) => Object.keys(v.state || {})))];
  const files = [...new Set(shown.flatMap((v) => Object.keys(v.files || {})))];
  const rows = [];
  const row = (name, get) => h('tr', {}, h('th', {}, name), shown.map((v, i) => {
    const now = get(v), before = i > 0 ? get(shown[i - 1]) : now;
    return h('td', { class: JSON.stringify(now) !== JSON.stringify(before) ? 'changed mono' : 'mono' }, now === undefined ? '' : JSON.stringify(now));
  }));
  for (const f of fields) rows.push(row(f, (v) => v.state[f]));
  for (const f of files) rows.push(row('file ' + f, (v) => (v.files[f] && v.files[f].uploaded ? 'uploaded' : 'not uploaded')));
  rows.push(row('deleted', (v) => v.deleted));
  return h('table', { id: 'versions' }, h('tr', {}, h('th', {}, 'version'), shown.map((v) => h('th', {}, 'v' + v.version, h('div', { class: 'muted' }, when(v.created_at))))), rows);
}

async function fileView(id, name, info) {
  if (!info.uploaded) return h('p', { class: 'muted' }, name + ': not uploaded');
  const { url, media_type } = await api(`/api/objects/${id}/files/${encodeURIComponent(name)}?signed=true`);
  const type = media_type || '';
  let view;
  if (type.startsWith('image/')) view = h('img', { class: 'file', src: url, alt: name });
  else if (type.startsWith('video/')) view = h('video', { src: url, controls: true, preload: 'metadata' });
  else view = h('a', { href: url, download: name }, 'download');
  return h('div', { class: 'card', 'data-file': name }, h('h2', {}, name, ' ', h('span', { class: 'muted' }, type)), view);
}

// The invocations that touched an object, newest first: the last 20 called on it, and those
// whose tasks wrote one of its last 12 versions (a macro's node that made or changed it). A
// version's `task_id` is its invocation's id, a `.`, and the node; a synchronous call
// records no invocation, so its lookup finds none and is left out.
async function touchedBy(id, versions) {
  const on = await api(`/api/invocations?object=${encodeURIComponent(id)}&limit=20`);
  const seen = new Set(on.items.map((i) => i.invocation_id));
  const wrote = [...new Set(versions.slice(-12).map((v) => (v.task_id || '').split('.')[0]))].filter((i) => i && !seen.has(i));
  const found = await Promise.all(wrote.map((i) => api('/api/invocations/' + encodeURIComponent(i)).catch(() => null)));
  const summaries = found.filter(Boolean).map((r) => Object.assign({}, r, {
    nodes: Object.keys(r.nodes || {}).length,
    duration_ms: r.status === 'pending' ? null : r.updated_at - r.created_at,
  }));
  return on.items.concat(summaries).sort((a, b) => (a.invocation_id < b.invocation_id ? 1 : -1));
}

async function objectPage(id) {
  const { versions } = await api(`/api/objects/${id}/versions`);
  const newest = versions[versions.length - 1];
  const c = await api('/api/classes/' + encodeURIComponent(newest.class));
  const files = await Promise.all(Object.entries(newest.files || {}).map(([n, info]) => fileView(id, n, info).catch((e) => h('p', { class: 'error' }, n + ': ' + e.message))));
  const touched = await touchedBy(id, versions);
  return [h('h1', {}, 'Object ', h('code', {}, id)),
    h('p', {}, 'class ', h('a', { href: '#/class/' + newest.class }, newest.class), ' · ', versions.length, ' versions', newest.deleted ? ' · deleted' : ''),
    h('h2', {}, 'Versions'), versionsTable(versions),
    h('h2', {}, 'Files'), files.length ? h('div', { class: 'cards' }, files) : h('p', { class: 'muted' }, 'none'),
    h('h2', {}, 'Invocations that touched it'), invocationsTable(touched),
    h('h2', {}, 'Call'), [...c.macros.filter((m) => !m.static).map((m) => h('details', { open: true }, h('summary', {}, 'macro ', h('code', {}, signature(m))), callForm(c.qualified, m, true, id))),
      ...c.functions.filter((f) => !f.static).map((f) => h('details', {}, h('summary', {}, h('code', {}, signature(f))), callForm(c.qualified, f, false, id)))]];
}

function invocationsTable(items) {
  if (!items.length) return h('p', { class: 'muted' }, 'none recorded');
  const target = (t) => (t.object ? h('a', { href: '#/object/' + t.object }, short(t.object)) : t.class);
  return h('table', { id: 'invocations' }, h('tr', {}, ['invocation', 'function', 'on', 'status', 'nodes', 'duration', 'started'].map((x) => h('th', {}, x))),
    items.map((i) => h('tr', {}, h('td', { class: 'mono' }, h('a', { href: '#/invocation/' + i.invocation_id }, short(i.invocation_id))), h('td', {}, i.request.function), h('td', { class: 'mono' }, target(i.request.target)),
      h('td', {}, badge(i.status)), h('td', {}, i.nodes), h('td', {}, i.duration_ms === null ? '' : i.duration_ms + ' ms'), h('td', {}, when(i.created_at)))));
}

async function invocationsPage(query) {
  const params = new URLSearchParams(query || '');
  const page = await api('/api/invocations?' + params);
  const status = h('select', { id: 'status' }, ['', 'pending', 'succeeded', 'failed'].map((s) => h('option', { value: s, selected: params.get('status') === s }, s || 'any status')));
  const object = h('input', { id: 'object', placeholder: 'object id', value: params.get('object') || '' });
  const form = h('form', { class: 'row' }, status, object, h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const n = new URLSearchParams();
    if (status.value) n.set('status', status.value);
    if (object.value.trim()) n.set('object', object.value.trim());
    location.hash = '#/invocations?' + n;
  });
  const pager = h('div', { class: 'pager' });
  if (page.next_before) { const n = new URLSearchParams(params); n.set('before', page.next_before); pager.append(h('a', { href: '#/invocations?' + n }, 'older →')); }
  return [h('h1', {}, 'Invocations'), form, invocationsTable(page.items), pager];
}

// Reads an event stream with the token in a header (an EventSource cannot send one),
// reconnecting with Last-Event-ID until `done` or the page is left.
async function follow(id, onEvent, signal) {
  let last = null;
  while (!signal.aborted) {
    try {
      const headers = { Authorization: 'Bearer ' + token(), Accept: 'text/event-stream' };
      if (last) headers['Last-Event-ID'] = last;
      const r = await fetch(`/api/invocations/${id}/events`, { headers, signal });
      if (r.status === 401 || r.status === 403 || r.status === 404) return;
      const reader = r.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const ev = { event: 'message', data: '' };
          for (const line of buf.slice(0, cut).split('\n')) {
            const i = line.indexOf(':');
            if (i <= 0) continue;
            const k = line.slice(0, i), v = line.slice(i + 1).replace(/^ /, '');
            if (k === 'data') ev.data += v; else ev[k] = v;
          }
          buf = buf.slice(cut + 2);
          if (ev.id) last = ev.id;
          if (!ev.data) continue;
          onEvent(ev.event, JSON.parse(ev.data));
          if (ev.event === 'done') return;
        }
      }
    } catch (e) {
      if (signal.aborted) return;
    }
    await sleep(1000);
  }
}

// When a node record started and how long it ran.
function timing(n) {
  if (!n.started_at) return '';
  return when(n.started_at) + (n.finished_at ? `, ${n.finished_at - n.started_at} ms` : ', running');
}

// How an argument of a node is obtained, with its value where the record has it.
function describeRef(v, nodes) {
  if (v === 'self') return 'self';
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if ('const' in v) return JSON.stringify(v.const);
  if (v.param !== undefined) return 'parameter ' + v.param;
  if (v.var !== undefined) return 'loop variable ' + v.var;
  if (v.node !== undefined) { const n = nodes['n' + v.node]; return `output of n${v.node}` + (n && n.output !== undefined ? ' = ' + JSON.stringify(n.output) : ''); }
  if (v.field) return describeRef(v.field.of, nodes) + '.' + v.field.name;
  return JSON.stringify(v);
}

async function invocationPage(id) {
  const inv = await api('/api/invocations/' + id);
  const t = inv.request.target;
  let cls = t.class;
  if (t.object) {
    const vs = await api(`/api/objects/${t.object}/versions`).catch(() => null);
    cls = vs && vs.versions.length ? vs.versions[0].class : null;
  }
  const c = cls ? await api('/api/classes/' + encodeURIComponent(cls)).catch(() => null) : null;
  const m = c && c.macros.find((x) => x.name === inv.request.function);
  const pkg = c ? await api('/api/packages/' + encodeURIComponent(packageOf(c.qualified))).catch(() => null) : null;
  const header = h('div', { id: 'status' });
  const box = h('div', { class: 'graph', id: 'graph' });
  const details = h('div', { id: 'details' }, h('p', { class: 'muted' }, m ? 'Select a node to see its inputs, output, timings and source.' : ''));
  const failures = h('div', { id: 'failures' });
  const state = { inv, nodes: Object.assign({}, inv.nodes), selected: null, expanded: new Set() };
  const byId = m ? allNodes(m.graph) : new Map();
  const source = (span) => (pkg && pkg.sources[span.file] ? excerpt(pkg.sources[span.file].text, span.line, span.end_line) : null);
  // `reused`: an `@memo` call answered by a recorded result, with no container.
  const reused = (n) => (n.reused ? [' ', h('span', { class: 'badge reused', title: 'answered by a recorded result (@memo): no container ran' }, 'reused')] : null);
  const card = (n) => h('div', { class: 'card', 'data-key': n.key }, h('div', {}, h('code', {}, n.key), ' ', badge(n.status), reused(n), ' ', h('span', { class: 'muted' }, timing(n))),
    n.error ? h('p', { class: 'error' }, n.error) : null, n.cause ? h('p', { class: 'muted' }, n.cause) : null,
    n.output !== undefined ? h('pre', {}, json(n.output)) : null);
  // A node run once has one card; a fan-out node (inside a `for`: one run per element) has
  // a summary that expands into each element's card, kept open as events redraw it.
  const elements = (node, st) => {
    if (st.found.length <= 1) return st.found.map(card);
    const counts = ['succeeded', 'running', 'waiting', 'failed', 'skipped'].filter((s) => st.count(s)).map((s) => `${st.count(s)} ${s}`).join(', ');
    const box = h('details', { class: 'fanout', 'data-fanout': 'n' + node.id, open: state.expanded.has(node.id) },
      h('summary', {}, `${st.found.length} elements`, counts ? ` (${counts})` : '', ' ', st.found.map((n) => h('span', { class: 'dot st-' + n.status, title: n.key + ' ' + n.status }))),
      st.found.map(card));
    box.addEventListener('toggle', () => (box.open ? state.expanded.add(node.id) : state.expanded.delete(node.id)));
    return box;
  };
  state.select = (node) => {
    state.selected = node;
    const st = nodeStatus(state.nodes, node.id);
    fill(details, h('h2', {}, h('code', {}, node.label), ' ', badge(st.status)),
      node.args && Object.keys(node.args).length ? h('table', {}, h('tr', {}, h('th', {}, 'input'), h('th', {}, 'from')), Object.entries(node.args).map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', { class: 'mono' }, describeRef(v, state.nodes))))) : null,
      node.target ? h('p', {}, 'on ', h('code', {}, describeRef(node.target, state.nodes))) : null,
      elements(node, st),
      node.source ? [h('h2', {}, 'Source, line ' + node.source.line), source(node.source)] : null);
    redraw();
  };
  const redraw = () => {
    if (m) drawGraph(box, m.graph, state);
    if (state.selected) box.querySelectorAll(`[data-node="n${state.selected.id}"]`).forEach((g) => g.classList.add('selected'));
  };
  const showOutcome = () => {
    const i = state.inv;
    fill(header, h('p', {}, badge(i.status), ' ', h('code', {}, i.request.function), ' on ', t.object ? h('a', { href: '#/object/' + t.object }, t.object) : t.class,
      ' · started ', when(i.created_at), i.status !== 'pending' ? ` · ${i.updated_at - i.created_at} ms` : ''),
    h('details', {}, h('summary', {}, 'arguments'), h('pre', {}, json(i.request.args))),
    i.result !== null && i.result !== undefined ? h('details', { open: true }, h('summary', {}, 'result'), h('pre', { class: 'short' }, json(i.result))) : null);
    const list = (i.error && i.error.failures) || [];
    fill(failures, i.error ? h('h2', {}, 'Error') : null, i.error ? h('p', { class: 'error' }, i.error.message) : null,
      list.map((f) => h('div', { class: 'card failure', 'data-line': f.source ? f.source.line : '' }, h('p', {}, h('code', {}, f.label || ''), ' ', h('span', { class: 'error' }, f.message)),
        f.source ? h('p', { class: 'muted' }, `${f.source.file}, line ${f.source.line}`) : null,
        f.source && pkg ? (() => { const s = pkg.sources.find((x) => x.path === f.source.file); return s ? excerpt(s.text, f.source.line, f.source.end_line) : h('pre', {}, f.source.text); })() : null)));
  };
  showOutcome();
  redraw();
  const firstFailed = [...byId.values()].find((n) => nodeStatus(state.nodes, n.id).status === 'failed');
  if (firstFailed) state.select(firstFailed);
  if (inv.status === 'pending') {
    live = new AbortController();
    follow(id, (kind, data) => {
      if (kind === 'node') state.nodes[data.key] = data;
      if (kind === 'done') { Object.assign(state.inv, data); showOutcome(); const f = [...byId.values()].find((n) => nodeStatus(state.nodes, n.id).status === 'failed'); if (f) { state.select(f); return; } }
      if (state.selected) state.select(state.selected); else redraw();
    }, live.signal);
  }
  return [h('h1', {}, 'Invocation ', h('code', {}, id)), header, m ? h('div', { class: 'row' }, box, details) : h('p', { class: 'muted' }, 'A function call: it has no graph.'), failures];
}

// ---- routing and sign-in ----------------------------------------------------------------
const ROUTES = [
  [/^#?\/?$/, packagesPage],
  [/^#\/package\/([^/?]+)$/, packagePage],
  [/^#\/class\/([^/?]+)$/, classPage],
  [/^#\/objects\/([^/?]+)(?:\?(.*))?$/, objectsPage],
  [/^#\/object\/([^/?]+)$/, objectPage],
  [/^#\/invocations(?:\?(.*))?$/, invocationsPage],
  [/^#\/invocation\/([^/?]+)$/, invocationPage],
];

async function render() {
  if (live) { live.abort(); live = null; }
  const signedIn = !!token();
  document.getElementById('login').hidden = signedIn;
  document.getElementById('logout').hidden = !signedIn;
  if (!signedIn) {
    fill(main(), h('h1', {}, 'Sign in'), h('p', {}, 'Give a token of this runtime (the admin token is in the file ', h('code', {}, 'token'), ' of its data folder). It is kept for this tab only.'));
    return;
  }
  const hash = location.hash || '#/';
  const route = ROUTES.find(([re]) => re.test(hash));
  fill(main(), h('p', { class: 'muted' }, 'Loading…'));
  try {
    if (!route) throw new Error('no such page: ' + hash);
    const args = hash.match(route[0]).slice(1);
    const content = await route[1](...args);
    fill(main(), content);
    document.body.dataset.page = route[1].name;
    // When the page's content was in the document (bench/console.sh reads it).
    performance.mark('oaas-rendered');
  } catch (e) {
    if (e.status === 401) { sessionStorage.removeItem(TOKEN_KEY); }
    fill(main(), h('h1', {}, 'Error'), h('p', { class: 'error', id: 'error' }, e.message));
  }
}

document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = document.getElementById('token');
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    input.value = '';
    render();
  });
  document.getElementById('logout').addEventListener('click', () => { sessionStorage.removeItem(TOKEN_KEY); render(); });
  window.addEventListener('hashchange', render);
  render();
});
