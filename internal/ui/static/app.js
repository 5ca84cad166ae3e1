// Redline's Network view: scope a workload, read its traffic, tick what to
// allow, watch the topology turn red where the draft policy would cut, and
// download the YAML. Everything comes from the API under /api/v1
// (docs/api.md) with the user's Kubernetes bearer token; the page holds no
// data of its own.

const TOKEN_KEY = 'redline.token';
const KINDS = ['Service', 'Deployment', 'DaemonSet', 'StatefulSet', 'CronJob', 'Job'];
const RULES = [
  ['observed', 'Observed rows (tick below)'],
  ['block-all', 'Block all'],
  ['allow-namespace', 'Allow all inside namespace'],
  ['allow-all', 'Allow all'],
];
const COLORS = { blue: '#1f6feb', black: '#1b1f24', red: '#d1242f' };

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// el builds an element: el('td', {class: 'num'}, 'text', child, ...).
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// ---------------------------------------------------------------- API

class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let token = sessionStorage.getItem(TOKEN_KEY) || '';

// api calls the API with the token; 401 returns to the login page.
async function api(method, path, body) {
  const headers = { Authorization: 'Bearer ' + token, Accept: 'application/json' };
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new APIError(0, `cannot reach Redline's API (${err.message}): is redline serve running?`);
  }
  const text = await res.text();
  let data;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { error: text };
  }
  if (res.status === 401) {
    showLogin('The API refused the token (401): ' + (data.error || 'unauthenticated') + '. Create a new token and log in again.');
    throw new APIError(401, data.error || 'unauthenticated');
  }
  if (!res.ok) {
    let msg = data.error || data.message || res.statusText;
    if (res.status === 403) msg = 'Permission missing (403): ' + msg;
    if (res.status === 503) msg = 'Redline is not ready or cannot ask the API server (503): ' + msg;
    throw new APIError(res.status, msg);
  }
  return data;
}

function workloadPath(s) {
  return `/api/v1/namespaces/${encodeURIComponent(s.ns)}/workloads/${encodeURIComponent(s.kind)}/${encodeURIComponent(s.name)}`;
}

// ---------------------------------------------------------------- state

const state = {
  whoami: null,
  scopes: null,
  scope: { cluster: '', ns: '', kind: 'Deployment', name: '', since: '12h' },
  traffic: null, // the tables
  choices: null, // the draft
  draft: null, // {saved, savedAt, savedBy}
  topology: null,
  suggestion: null,
  unresolved: null,
  pendingAliases: {}, // address -> alias set from this page (until the server reports it)
  seq: 0, // drops answers of stale requests
};
let cy = null;

// ---------------------------------------------------------------- login

function showLogin(message) {
  token = '';
  sessionStorage.removeItem(TOKEN_KEY);
  $('#app').hidden = true;
  $('#who').hidden = true;
  $('#login').hidden = false;
  const err = $('#login-error');
  err.hidden = !message;
  err.textContent = message || '';
  $('#token').focus();
}

async function login(t) {
  token = t.trim();
  if (!token) {
    showLogin('Paste a token first.');
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  try {
    await start();
  } catch (err) {
    if (err.status !== 401) showLogin(err.message);
  }
}

// ---------------------------------------------------------------- start

async function start() {
  const who = await api('GET', '/api/v1/whoami');
  state.whoami = who;
  // An empty field means the server's key (redline serve --namespace-label-key).
  if (who.namespaceLabelKey) $('#scope-label-key').placeholder = who.namespaceLabelKey;
  $('#login').hidden = true;
  $('#app').hidden = false;
  $('#who').hidden = false;
  $('#who-user').textContent = who.user;
  const role = $('#who-role');
  role.textContent = who.admin ? 'admin' : 'reader';
  role.className = 'badge' + (who.admin ? ' admin' : '');
  role.title = who.admin ? 'may change aliases, allowed addresses and cluster CIDRs (update settings.redline.io)' : 'may read traffic; the admin actions need update settings.redline.io';
  document.body.classList.toggle('is-admin', !!who.admin);
  if (!who.read && (!who.namespaces || who.namespaces.length === 0)) {
    showEmpty(`${who.user} may read no namespace's traffic: ask for get traffic.redline.io (the redline-traffic-reader ClusterRole, bound with a RoleBinding per namespace or a ClusterRoleBinding).`);
    return;
  }
  state.scopes = await api('GET', '/api/v1/scopes');
  fromHash();
  fillScope();
  await loadWorkload();
}

function showEmpty(msg) {
  $('#workspace').hidden = true;
  $('#draft-bar').hidden = true;
  const e = $('#empty');
  e.hidden = !msg;
  e.textContent = msg || '';
}

function showError(msg) {
  const e = $('#error');
  e.hidden = !msg;
  e.textContent = msg || '';
}

function showNotice(msg) {
  const e = $('#notice');
  e.hidden = !msg;
  e.textContent = msg || '';
}

// The scope is kept in the URL (#ns/Kind/name?since=1d) so that a link
// opens the same workload.
function fromHash() {
  const h = decodeURIComponent(location.hash.replace(/^#/, ''));
  if (!h) return;
  const [path, query] = h.split('?');
  const [ns, kind, name] = path.split('/');
  if (ns) state.scope.ns = ns;
  if (KINDS.includes(kind)) state.scope.kind = kind;
  if (name) state.scope.name = name;
  const since = new URLSearchParams(query || '').get('since');
  if (since) state.scope.since = since;
}

function toHash() {
  const s = state.scope;
  const h = `#${s.ns}/${s.kind}/${s.name}?since=${s.since}`;
  if (location.hash !== h) history.replaceState(null, '', h);
}

function cluster() {
  const cs = state.scopes?.clusters || [];
  return cs.find((c) => c.name === state.scope.cluster) || cs[0];
}

function namespaceScope() {
  return (cluster()?.namespaces || []).find((n) => n.name === state.scope.ns);
}

function entities(nsScope, kind) {
  if (!nsScope) return [];
  if (kind === 'Service') return nsScope.services || [];
  return nsScope.workloads?.[kind] || [];
}

function setOptions(select, values, selected) {
  select.replaceChildren(...values.map((v) => el('option', { value: v, selected: v === selected }, v)));
}

// fillScope fills the drop-downs from the scopes, keeping what is valid.
function fillScope() {
  const s = state.scope;
  const cs = state.scopes?.clusters || [];
  if (!cs.some((c) => c.name === s.cluster)) s.cluster = cs[0]?.name || '';
  setOptions($('#scope-cluster'), cs.map((c) => c.name), s.cluster);
  const nss = (cluster()?.namespaces || []).map((n) => n.name);
  if (!nss.includes(s.ns)) {
    // The first namespace with workloads (not only Services).
    const hasWorkloads = (n) => KINDS.some((k) => k !== 'Service' && entities((cluster()?.namespaces || []).find((x) => x.name === n), k).length);
    s.ns = nss.find(hasWorkloads) || nss[0] || '';
  }
  setOptions($('#scope-namespace'), nss, s.ns);
  const nsScope = namespaceScope();
  if (!entities(nsScope, s.kind).length) {
    s.kind = KINDS.find((k) => k !== 'Service' && entities(nsScope, k).length) || s.kind;
  }
  $('#scope-kind').value = s.kind;
  for (const opt of $$('#scope-kind option')) {
    const n = entities(nsScope, opt.value).length;
    opt.textContent = n ? `${opt.value} (${n})` : opt.value;
  }
  const names = entities(nsScope, s.kind);
  if (!names.includes(s.name)) s.name = names[0] || '';
  setOptions($('#scope-entity'), names, s.name);
  if (![...$('#scope-since').options].some((o) => o.value === s.since)) {
    $('#scope-since').append(el('option', { value: s.since }, s.since));
  }
  $('#scope-since').value = s.since;
}

// ---------------------------------------------------------------- workload

function defaultChoices() {
  return { since: state.scope.since };
}

// loadWorkload reads the tables and the saved draft, then judges it.
async function loadWorkload() {
  const s = state.scope;
  showError('');
  showNotice('');
  if (!s.ns || !s.name) {
    showEmpty(s.ns ? `Namespace ${s.ns} has no ${s.kind} to show.` : 'No namespace to show.');
    return;
  }
  toHash();
  showEmpty('');
  const seq = ++state.seq;
  try {
    const draft = await api('GET', workloadPath(s) + '/choices');
    if (seq !== state.seq) return;
    state.draft = draft;
    state.choices = draft.saved ? draft.choices || {} : defaultChoices();
    if (draft.saved && draft.choices?.since && draft.choices.since !== s.since) {
      s.since = draft.choices.since; // the colleague's window
      fillScope();
      toHash();
    }
    state.choices.since = s.since;
    $('#scope-label-key').value = state.choices.namespaceLabelKey || '';
    const traffic = await api('GET', `${workloadPath(s)}/traffic?since=${encodeURIComponent(s.since)}`);
    if (seq !== state.seq) return;
    state.traffic = traffic;
    $('#workspace').hidden = false;
    $('#draft-bar').hidden = false;
    renderDraftStatus();
    renderTables();
    await judge(seq);
    if (!$('#tab-unresolved').hidden) loadUnresolved();
  } catch (err) {
    if (err.status === 401) return;
    showError(`${s.ns}/${s.kind}/${s.name}: ${err.message}`);
  }
}

// judge asks for the topology and the suggestion under the current choices.
async function judge(seq = ++state.seq) {
  const s = state.scope;
  const body = { ...state.choices };
  try {
    const [topo, sugg] = await Promise.all([
      api('POST', `${workloadPath(s)}/topology`, body),
      s.kind === 'Service'
        ? Promise.resolve(null) // suggestions name workloads; a Service's policy comes with its topology
        : api('POST', '/api/v1/suggestions', { workload: `${s.ns}/${s.kind}/${s.name}`, ...body }),
    ]);
    if (seq !== state.seq) return;
    state.topology = topo;
    state.suggestion = sugg || { yaml: topo.yaml, warnings: topo.warnings || [] };
    showError('');
    renderBanners();
    renderTableStatus();
    renderPolicy();
    renderGraph();
  } catch (err) {
    if (err.status === 401 || seq !== state.seq) return;
    showError('Cannot judge the draft: ' + err.message);
  }
}

let saveTimer = null;

// changed is called after every edit of the draft: judge it now, save it
// for colleagues shortly after.
function changed() {
  renderTables();
  judge();
  clearTimeout(saveTimer);
  state.draft = { ...state.draft, saving: true };
  renderDraftStatus();
  saveTimer = setTimeout(saveDraft, 400);
}

async function saveDraft() {
  const s = state.scope;
  const key = `${s.ns}/${s.kind}/${s.name}`;
  try {
    const saved = await api('PUT', workloadPath(s) + '/choices', state.choices);
    if (key !== `${state.scope.ns}/${state.scope.kind}/${state.scope.name}`) return;
    state.draft = saved;
  } catch (err) {
    if (err.status === 401) return;
    state.draft = { ...state.draft, saving: false, error: err.message };
  }
  renderDraftStatus();
}

function renderDraftStatus() {
  const d = state.draft || {};
  const bar = $('#draft-bar');
  let text;
  if (d.saving) text = 'Saving the draft …';
  else if (d.error) text = 'Draft not saved for your colleagues: ' + d.error + ' (your changes still apply on this page).';
  else if (d.saved) text = `Draft saved by ${d.savedBy || 'someone'} ${ago(d.savedAt)}: everyone who opens this ${state.scope.kind} sees it.`;
  else text = 'No saved draft: the defaults (every observed row in-cluster allowed, addresses left out).';
  bar.classList.toggle('unsaved', !!d.error);
  $('#draft-status').textContent = text;
}

// ---------------------------------------------------------------- tables

function rowKey(direction, peer, protocol, port) {
  return `${direction}|${peer}|${protocol}|${port}`;
}

function isAddressRow(r) {
  return r.kind === 'Address';
}

function excluded(direction, r) {
  return (state.choices.exclude || []).some((x) => x.direction === direction && x.peer === r.peerRef && x.protocol === r.protocol && x.port === r.port);
}

function addressIncluded(addr) {
  return (state.choices.includeAddresses || []).includes(addr);
}

// ticked: a row is allowed by the draft's row choices (the global rule of
// its direction may override them).
function ticked(direction, r) {
  if (isAddressRow(r)) return addressIncluded(r.peerRef) && !excluded(direction, r);
  return !excluded(direction, r);
}

function setExcluded(direction, r, on) {
  const c = state.choices;
  const rest = (c.exclude || []).filter((x) => !(x.direction === direction && x.peer === r.peerRef && x.protocol === r.protocol && x.port === r.port));
  if (on) rest.push({ direction, peer: r.peerRef, protocol: r.protocol, port: r.port });
  c.exclude = rest;
}

function toggleRow(direction, r, on) {
  const c = state.choices;
  if (isAddressRow(r)) {
    if (on) {
      if (!addressIncluded(r.peerRef)) c.includeAddresses = [...(c.includeAddresses || []), r.peerRef];
      setExcluded(direction, r, false);
    } else {
      // Other rows of the address stay as they are.
      setExcluded(direction, r, true);
      const rows = [...(state.traffic.ingress || []).map((x) => ['Ingress', x]), ...(state.traffic.egress || []).map((x) => ['Egress', x])];
      if (!rows.some(([d, x]) => x.peerRef === r.peerRef && !excluded(d, x))) {
        c.includeAddresses = (c.includeAddresses || []).filter((a) => a !== r.peerRef);
        c.exclude = (c.exclude || []).filter((x) => x.peer !== r.peerRef);
      }
    }
  } else {
    setExcluded(direction, r, !on);
  }
  changed();
}

function ruleOf(direction) {
  return (direction === 'Ingress' ? state.choices.ingress : state.choices.egress) || 'observed';
}

function renderTables() {
  for (const direction of ['Ingress', 'Egress']) {
    renderTable(direction);
  }
  renderTableStatus();
}

function renderTable(direction) {
  const lower = direction.toLowerCase();
  const tab = $(`#tab-${lower}`);
  const rows = state.traffic?.[lower] || [];
  const rule = ruleOf(direction);
  const ruleSelect = el('select', {
    id: `rule-${lower}`,
    'aria-label': `Global ${lower} rule`,
    onchange: (e) => {
      state.choices[lower] = e.target.value === 'observed' ? undefined : e.target.value;
      changed();
    },
  }, RULES.map(([v, label]) => el('option', { value: v, selected: v === rule }, label)));

  const head = el('tr', {},
    el('th', {}, el('input', {
      type: 'checkbox', title: 'Tick or untick every row', 'aria-label': 'all rows',
      checked: rows.length > 0 && rows.every((r) => ticked(direction, r)),
      disabled: rule !== 'observed' || rows.length === 0,
      onchange: (e) => {
        for (const r of rows) if (r.kind !== 'Node') toggleRowQuiet(direction, r, e.target.checked);
        changed();
      },
    })),
    ['Peer', 'Kind', 'Namespace', 'Port', 'Protocol', 'Connections', 'Last seen', 'Draft'].map((h) => el('th', {}, h)));

  const body = rows.map((r) => {
    const nodeRow = r.kind === 'Node';
    const box = el('input', {
      type: 'checkbox',
      class: 'row-check',
      'aria-label': `allow ${r.peer} ${r.protocol}/${r.port}`,
      checked: ticked(direction, r),
      disabled: rule !== 'observed' || nodeRow,
      title: nodeRow ? 'node rows follow the global rule (the API cannot exclude a node peer)' : (rule !== 'observed' ? 'the global rule decides this direction' : ''),
      onchange: (e) => toggleRow(direction, r, e.target.checked),
    });
    const peer = r.alias ? `${r.peer} (${r.alias})` : r.peer;
    const kind = isAddressRow(r) ? `Address · ${r.class || 'unknown'}` : r.kind;
    return el('tr', { 'data-key': rowKey(direction, r.peerRef, r.protocol, r.port), 'data-service': r.service || '' },
      el('td', { class: 'check' }, box),
      el('td', { class: 'peer', title: (r.names || []).join(', ') || null }, peer, r.service ? el('div', { class: 'muted' }, 'via Service ' + r.service) : null),
      el('td', { class: 'peer-kind' }, kind),
      el('td', {}, r.namespace || ''),
      el('td', { class: 'num' }, r.port),
      el('td', {}, r.protocol),
      el('td', { class: 'num' }, r.connections, r.dropped ? el('div', { class: 'dropped', title: 'connections the datapath already dropped' }, `${r.dropped} dropped`) : null),
      el('td', { title: r.lastSeen }, ago(r.lastSeen)),
      el('td', { class: 'status' }, '…'));
  });

  const table = el('table', { class: 'grid', id: `table-${lower}` }, el('thead', {}, head), el('tbody', {}, body));
  const empty = rows.length ? null : el('p', { class: 'muted' }, `No ${lower} observed in the last ${state.scope.since}.`);

  const cidrKey = direction === 'Ingress' ? 'allowIngressCIDRs' : 'allowEgressCIDRs';
  const cidrs = state.choices[cidrKey] || [];
  const manual = el('div', { class: 'manual' },
    el('h3', {}, direction === 'Ingress' ? 'Allow ingress from IP/CIDR' : 'Allow egress to IP/CIDR'),
    el('form', {
      id: `manual-${lower}`,
      onsubmit: (e) => {
        e.preventDefault();
        const f = e.target;
        const rule = cidrRule(f.cidr.value, f.protocol.value, f.port.value);
        if (typeof rule === 'string') {
          showError(rule);
          return;
        }
        state.choices[cidrKey] = [...cidrs, rule];
        changed();
      },
    },
    el('input', { name: 'cidr', placeholder: '198.51.100.7 or 10.0.0.0/24', size: 22, 'aria-label': 'IP or CIDR', required: true }),
    el('select', { name: 'protocol', 'aria-label': 'protocol' }, ['TCP', 'UDP', 'SCTP', ''].map((p) => el('option', { value: p }, p || 'any protocol'))),
    el('input', { name: 'port', placeholder: 'port (all)', size: 8, inputmode: 'numeric', 'aria-label': 'port' }),
    el('button', { type: 'submit' }, 'Add rule')),
    cidrs.length ? el('ul', {}, cidrs.map((c, i) => el('li', { class: 'mono' },
      `${c.cidr} ${c.protocol || 'any protocol'}${c.port ? '/' + c.port : ' (all ports)'} `,
      el('button', {
        type: 'button', class: 'link danger', onclick: () => {
          state.choices[cidrKey] = cidrs.filter((_, j) => j !== i);
          changed();
        },
      }, 'remove')))) : null);

  tab.replaceChildren(...[
    el('div', { class: 'toolbar' }, el('label', {}, `General ${lower} rule: `, ruleSelect),
      el('span', { class: 'rule-help' }, ruleHelp(rule, lower))),
    table, empty, manual].filter(Boolean));
}

// toggleRowQuiet is toggleRow without the refresh (the header box).
function toggleRowQuiet(direction, r, on) {
  const c = state.choices;
  if (isAddressRow(r)) {
    if (on && !addressIncluded(r.peerRef)) c.includeAddresses = [...(c.includeAddresses || []), r.peerRef];
    if (!on) c.includeAddresses = (c.includeAddresses || []).filter((a) => a !== r.peerRef);
    setExcluded(direction, r, false);
  } else {
    setExcluded(direction, r, !on);
  }
}

function ruleHelp(rule, dir) {
  switch (rule) {
    case 'block-all': return `no ${dir} is allowed (manual rules aside)`;
    case 'allow-namespace': return `every pod of this namespace is allowed (podSelector: {}), nothing else`;
    case 'allow-all': return `every ${dir} is allowed`;
  }
  return 'the ticked rows are allowed';
}

// cidrRule reads a manual rule; a string is an error.
function cidrRule(cidr, protocol, port) {
  cidr = cidr.trim();
  if (!cidr) return 'A manual rule needs an IP or a CIDR.';
  if (!cidr.includes('/')) cidr += cidr.includes(':') ? '/128' : '/32';
  const rule = { cidr };
  if (protocol) rule.protocol = protocol;
  port = String(port).trim();
  if (port) {
    const n = Number(port);
    if (!Number.isInteger(n) || n < 1 || n > 65535) return `Port ${port}: want a number from 1 to 65535 (or nothing for all ports).`;
    if (!protocol) return 'A port needs a protocol.';
    rule.port = n;
  }
  return rule;
}

// edgeFor finds the topology edge of a table row.
function edgeFor(direction, r) {
  const edges = state.topology?.edges || [];
  return edges.find((e) => e.direction === direction && e.row?.peer === r.peerRef && e.protocol === r.protocol && e.port === r.port && (e.service || '') === (r.service || ''))
    || edges.find((e) => e.direction === direction && e.row?.peer === r.peerRef && e.protocol === r.protocol && e.port === r.port);
}

// renderTableStatus fills the Draft column from the topology: what the
// draft policy does to each row.
function renderTableStatus() {
  for (const direction of ['Ingress', 'Egress']) {
    const lower = direction.toLowerCase();
    const rows = state.traffic?.[lower] || [];
    $$(`#table-${lower} tbody tr`).forEach((tr, i) => {
      const r = rows[i];
      const e = r && edgeFor(direction, r);
      const cell = tr.querySelector('.status');
      if (!cell) return;
      if (!e) {
        cell.textContent = state.topology ? '—' : '…';
        return;
      }
      tr.classList.toggle('blocked', !e.allowed);
      cell.textContent = e.allowed ? 'allowed' : 'blocked';
      cell.title = e.reason || '';
    });
  }
}

// ---------------------------------------------------------------- banners, policy

function renderBanners() {
  const needs = state.topology?.needsLabel || [];
  $('#banners').replaceChildren(...needs.map((n) => el('div', { class: 'banner', 'data-namespace': n.namespace },
    el('strong', {}, `Assign label ${n.key} to namespace ${n.namespace}`), ': ', n.message,
    ' (until then the generated policy cannot allow its rows: red in the topology)')));
}

function policyFileName() {
  const s = state.scope;
  return `${s.ns}-${s.kind.toLowerCase()}-${s.name}-networkpolicy.yaml`;
}

function renderPolicy() {
  const sg = state.suggestion || {};
  $('#policy-yaml').textContent = sg.yaml || '';
  $('#policy-name').textContent = policyFileName();
  const warnings = [...(sg.warnings || [])];
  $('#policy-warnings').replaceChildren(...warnings.map((w) => el('li', {}, w)));
}

function download() {
  const yaml = state.suggestion?.yaml || '';
  const url = URL.createObjectURL(new Blob([yaml], { type: 'application/yaml' }));
  const a = el('a', { href: url, download: policyFileName() });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---------------------------------------------------------------- topology

function graphElements() {
  const t = state.topology;
  const nodes = t.nodes.map((n) => ({
    group: 'nodes',
    data: {
      id: n.id,
      label: n.kind === 'Address' ? (n.alias ? `${n.alias}\n${n.name}` : n.name) : `${n.name}\n${n.namespace ? n.namespace + ' · ' : ''}${n.kind}`,
      color: COLORS[n.color] || COLORS.black,
      role: n.role,
      shape: n.kind === 'Address' ? 'round-rectangle' : (n.kind === 'Node' ? 'diamond' : 'ellipse'),
      info: n,
    },
  }));
  const edges = t.edges.map((e) => ({
    group: 'edges',
    data: {
      id: e.id, source: e.source, target: e.target,
      label: `${e.protocol}/${e.port}`,
      color: COLORS[e.color] || COLORS.black,
      info: e,
    },
  }));
  return [...nodes, ...edges];
}

function renderGraph() {
  if (typeof window.cytoscape !== 'function') {
    $('#graph-missing').hidden = false;
    return;
  }
  const elements = graphElements();
  const layout = {
    name: 'concentric', animate: false, padding: 40, minNodeSpacing: 90,
    concentric: (n) => (n.data('role') === 'subject' ? 2 : 1), levelWidth: () => 1,
  };
  const sameShape = cy && cy.nodes().length === state.topology.nodes.length
    && state.topology.nodes.every((n) => cy.getElementById(n.id).nonempty())
    && cy.edges().length === state.topology.edges.length
    && state.topology.edges.every((e) => cy.getElementById(e.id).nonempty());
  if (sameShape) {
    // Same graph, new verdicts: recolour in place, keep positions.
    for (const e of elements) cy.getElementById(e.data.id).data(e.data);
    return;
  }
  if (!cy) {
    cy = window.cytoscape({
      container: $('#cy'),
      wheelSensitivity: 0.3,
      maxZoom: 2.5,
      style: [
        { selector: 'node', style: {
          'background-color': 'data(color)', label: 'data(label)', shape: 'data(shape)', color: '#1b1f24',
          'font-size': 11, 'text-wrap': 'wrap', 'text-valign': 'bottom', 'text-margin-y': 4, width: 26, height: 26,
          'text-background-color': '#fff', 'text-background-opacity': 0.8, 'text-background-padding': 1,
        } },
        { selector: 'node[role = "subject"]', style: { width: 38, height: 38, 'font-weight': 'bold' } },
        { selector: 'edge', style: {
          'line-color': 'data(color)', 'target-arrow-color': 'data(color)', 'target-arrow-shape': 'triangle',
          'curve-style': 'bezier', width: 2, label: 'data(label)', 'font-size': 9, 'text-rotation': 'autorotate',
          'text-background-color': '#fff', 'text-background-opacity': 0.85, 'text-background-padding': 1, color: 'data(color)',
        } },
        { selector: ':selected', style: { 'overlay-color': '#1f6feb', 'overlay-opacity': 0.15, 'overlay-padding': 6 } },
      ],
    });
    cy.on('mouseover', 'node, edge', (ev) => showTooltip(ev));
    cy.on('mouseout', 'node, edge', () => { $('#tooltip').hidden = true; });
    cy.on('tap', 'edge', (ev) => showEdgeDetails(ev.target.data('info')));
    cy.on('tap', 'node', (ev) => showNodeDetails(ev.target.data('info')));
  }
  cy.elements().remove();
  cy.add(elements);
  cy.layout(layout).run();
  cy.fit(undefined, 40);
  if (cy.zoom() > 1.1) cy.zoom({ level: 1.1, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } });
  cy.center();
}

function dl(pairs) {
  return el('dl', {}, pairs.filter(([, v]) => v !== undefined && v !== null && v !== '').flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

function edgePairs(e) {
  const verdicts = Object.entries(e.verdicts || {}).map(([k, v]) => `${k} ${v}`).join(', ');
  return [
    ['Connection', `${e.source} → ${e.target}`],
    ['Direction', e.direction],
    ['Port', `${e.protocol}/${e.port}`],
    ['Service', e.service],
    ['Connections', e.connections],
    ['Verdicts', verdicts],
    ['Last seen', e.lastSeen ? `${ago(e.lastSeen)} (${e.lastSeen})` : ''],
    ['Draft', e.allowed ? 'allowed' : 'blocked'],
    ['Why', e.reason],
  ];
}

function nodePairs(n) {
  const labels = Object.entries(n.labels || {}).map(([k, v]) => `${k}=${v}`).join(', ');
  return [
    ['Name', n.name], ['Kind', n.kind], ['Namespace', n.namespace], ['Class', n.class], ['Alias', n.alias],
    ['Labels', labels], ['Ports', (n.ports || []).join(', ')], ['Role', n.role === 'subject' ? 'the selected workload' : 'peer'],
  ];
}

function showTooltip(ev) {
  const info = ev.target.data('info');
  const tip = $('#tooltip');
  tip.replaceChildren(dl(ev.target.isEdge() ? edgePairs(info) : nodePairs(info)));
  const pos = ev.renderedPosition || (ev.target.isEdge() ? ev.target.renderedMidpoint() : ev.target.renderedPosition());
  const box = $('#cy');
  tip.style.left = `${box.offsetLeft + pos.x + 12}px`;
  tip.style.top = `${box.offsetTop + pos.y + 12}px`;
  tip.hidden = false;
}

function showEdgeDetails(e) {
  const panel = $('#details');
  const policies = el('div', { class: 'policies' });
  panel.replaceChildren(
    el('h3', { class: e.allowed ? '' : 'red-text' }, `${e.direction} ${e.protocol}/${e.port}: ${e.allowed ? 'allowed' : 'blocked'} by the draft`),
    dl(edgePairs(e)),
    el('div', { class: 'toolbar' },
      el('button', { type: 'button', id: 'view-policy', onclick: () => viewPolicies(policies, e) }, 'View policy'),
      el('span', { class: 'muted' }, 'the NetworkPolicies in the cluster that apply to this connection')),
    policies);
  panel.hidden = false;
}

function showNodeDetails(n) {
  const panel = $('#details');
  panel.replaceChildren(el('h3', {}, n.kind === 'Address' ? n.name : `${n.namespace ? n.namespace + '/' : ''}${n.name} (${n.kind})`), dl(nodePairs(n)));
  panel.hidden = false;
}

// viewPolicies shows the applied policies relevant to a connection (e), or
// to the workload (no e).
async function viewPolicies(target, e) {
  const s = state.scope;
  let path = workloadPath(s) + '/policies';
  if (e) {
    const q = new URLSearchParams({ peer: e.row.peer, port: String(e.port), protocol: e.protocol, direction: e.direction });
    path += '?' + q;
  }
  target.replaceChildren(el('p', { class: 'muted' }, 'Loading …'));
  try {
    const resp = await api('GET', path);
    const ps = resp.policies || [];
    const explanations = (resp.connections || []).map((c) => el('li', {}, typeof c === 'string' ? c : explain(c)));
    target.replaceChildren(
      ps.length ? null : el('p', {}, e ? 'No NetworkPolicy applies to this connection yet: nothing isolates either end, so the cluster allows it today.' : 'No NetworkPolicy selects this workload yet.'),
      explanations.length ? el('ul', { class: 'muted' }, explanations) : null,
      ...ps.map((p) => el('div', { class: 'policy' },
        el('h4', {}, `${p.namespace}/${p.name}`, el('span', { class: 'muted' }, ` · ${(p.policyTypes || []).join(', ')}${p.allowedBy?.length ? ' · allows it: ' + p.allowedBy.join(', ') : ''}`)),
        el('pre', { class: 'yaml' }, p.yaml || '(YAML hidden: you may not read that namespace)'))));
  } catch (err) {
    if (err.status !== 401) target.replaceChildren(el('p', { class: 'error' }, err.message));
  }
}

// explain renders an engine explanation (netpol.Explanation) in one line.
function explain(c) {
  const side = (sd) => {
    if (!sd) return '';
    if (!sd.Subject) return `${sd.Direction} at ${sd.Endpoint}: not isolated${sd.Reason ? ' (' + sd.Reason + ')' : ''}`;
    if (!sd.IsolatedBy?.length) return `${sd.Direction} at ${sd.Endpoint}: no policy isolates it`;
    return `${sd.Direction} at ${sd.Endpoint}: isolated by ${sd.IsolatedBy.join(', ')}`;
  };
  const port = c.Port ? ` ${c.Protocol || 'TCP'}/${c.Port}` : (c.Conns ? ` (${c.Conns})` : '');
  return `${c.Src} → ${c.Dst}${port}: ${c.Allowed ? 'allowed' : 'denied'} by the cluster's policies today. ${side(c.Egress)}; ${side(c.Ingress)}.`;
}

// ---------------------------------------------------------------- unresolved

let unresolvedTimer = null;

async function loadUnresolved() {
  const q = new URLSearchParams({ since: state.scope.since });
  const text = $('#unresolved-q').value.trim();
  const cls = $('#unresolved-class').value;
  if (text) q.set('q', text);
  if (cls) q.set('class', cls);
  const seq = ++unresolvedSeq;
  try {
    const resp = await api('GET', '/api/v1/unresolved?' + q);
    if (seq !== unresolvedSeq) return;
    state.unresolved = resp;
    renderUnresolved();
  } catch (err) {
    if (err.status !== 401) showError('Unresolved addresses: ' + err.message);
  }
}
let unresolvedSeq = 0;

function peerName(p) {
  if (!p) return '';
  if (p.kind === 'workload' || p.workloadKind) return `${p.namespace}/${p.name}[${p.workloadKind}]`;
  if (p.kind === 'node') return 'node/' + p.name;
  return p.addr || p.name || JSON.stringify(p);
}

function portName(p) {
  return `${p.protocol || p.Protocol}/${p.port ?? p.Port}`;
}

function renderUnresolved() {
  const resp = state.unresolved;
  const admin = !!state.whoami?.admin;
  const rows = resp.addresses || [];
  $('#unresolved-count').textContent = `${rows.length} of ${resp.total} addresses`;
  const body = [];
  for (const a of rows) {
    // Set from this page, until the server's configuration reports it.
    const pending = a.class === 'aliased' ? undefined : state.pendingAliases[a.addr];
    const actions = admin ? el('td', { class: 'admin-only' },
      el('button', { type: 'button', class: 'link', 'data-action': 'alias', onclick: (e) => adminForm(e, a, 'alias') }, 'Alias'),
      el('button', { type: 'button', class: 'link', 'data-action': 'allow', onclick: () => markAllowed(a) }, 'Mark allowed'),
      el('button', { type: 'button', class: 'link', 'data-action': 'cidr', onclick: (e) => adminForm(e, a, 'cidr') }, 'Add CIDR')) : null;
    body.push(el('tr', { 'data-addr': a.addr },
      el('td', { class: 'mono' }, a.addr),
      el('td', { class: 'class' }, a.class, pending ? el('div', { class: 'muted' }, '→ aliased (within seconds)') : null),
      el('td', { class: 'alias' }, pending || a.alias || ''),
      el('td', { class: 'num', title: `${a.inbound} in, ${a.outbound} out` }, a.count),
      el('td', { class: 'num' }, a.dropped || ''),
      el('td', {}, (a.peers || []).map(peerName).join(', '), a.peerCount > (a.peers || []).length ? ` … (${a.peerCount})` : ''),
      el('td', {}, (a.ports || []).map(portName).join(', ')),
      el('td', {}, (a.names || []).join(', ')),
      el('td', { title: a.lastSeen }, ago(a.lastSeen)),
      actions));
  }
  $('#unresolved-table tbody').replaceChildren(...body);
  if (!rows.length) {
    $('#unresolved-table tbody').append(el('tr', {}, el('td', { colspan: 10, class: 'muted' }, resp.total ? 'No address matches the search.' : 'No unresolved address in this window.')));
  }
}

function defaultCIDR(addr) {
  const parts = addr.split('.');
  if (parts.length === 4) return `${parts[0]}.${parts[1]}.${parts[2]}.0/24`;
  return addr + '/128';
}

// adminForm opens the alias or CIDR form under an address row.
function adminForm(ev, a, kind) {
  const tr = ev.target.closest('tr');
  tr.parentElement.querySelectorAll('tr.action-row').forEach((r) => r.remove());
  const single = a.addr.includes(':') ? `${a.addr}/128` : `${a.addr}/32`;
  const form = kind === 'alias'
    ? el('form', { class: 'toolbar', id: 'alias-form', onsubmit: (e) => { e.preventDefault(); setAlias(a, e.target.name.value, e.target.cidr.value); } },
      el('label', {}, 'Alias name ', el('input', { name: 'name', required: true, placeholder: 'partner-api', size: 18 })),
      el('label', {}, ' for ', el('input', { name: 'cidr', value: single, size: 20 })),
      el('button', { type: 'submit' }, 'Save alias'),
      el('span', { class: 'muted' }, 'written to the redline-config ConfigMap (aliases); classifies this address as aliased'))
    : el('form', { class: 'toolbar', id: 'cidr-form', onsubmit: (e) => { e.preventDefault(); addClusterCIDR(e.target.cidr.value); } },
      el('label', {}, 'Cluster CIDR ', el('input', { name: 'cidr', value: defaultCIDR(a.addr), size: 20 })),
      el('button', { type: 'submit' }, 'Add CIDR'),
      el('span', { class: 'muted' }, 'addresses in the cluster CIDRs are classified internal'));
  tr.after(el('tr', { class: 'action-row' }, el('td', { colspan: 10 }, form)));
  form.querySelector('input').focus();
}

async function adminAction(path, body, done) {
  try {
    const resp = await api('POST', path, body);
    showError('');
    showNotice(`${done}: ConfigMap ${resp.configMap}, key ${resp.key}${resp.changed ? '' : ' (already there, nothing changed)'}. Redline applies it within seconds.` +
      (resp.warnings?.length ? ' Warnings: ' + resp.warnings.join('; ') : ''));
    return true;
  } catch (err) {
    if (err.status !== 401) showError(err.message);
    return false;
  }
}

async function setAlias(a, name, cidr) {
  name = name.trim();
  if (await adminAction('/api/v1/aliases', { name, cidrs: [cidr.trim()] }, `Alias ${name} = ${cidr.trim()} saved`)) {
    state.pendingAliases[a.addr] = name;
    renderUnresolved();
  }
}

async function markAllowed(a) {
  await adminAction('/api/v1/allowed', { entry: a.addr }, `${a.addr} marked allowed`);
}

async function addClusterCIDR(cidr) {
  if (await adminAction('/api/v1/cidrs', { cidrs: [cidr.trim()] }, `Cluster CIDR ${cidr.trim()} added`)) loadUnresolved();
}

// ---------------------------------------------------------------- helpers

function ago(t) {
  if (!t) return '';
  const d = (Date.now() - new Date(t).getTime()) / 1000;
  if (!Number.isFinite(d)) return '';
  if (d < 60) return 'just now';
  if (d < 3600) return `${Math.floor(d / 60)}m ago`;
  if (d < 86400) return `${Math.floor(d / 3600)}h ago`;
  return `${Math.floor(d / 86400)}d ago`;
}

function selectTab(name) {
  for (const b of $$('.tabs button')) b.setAttribute('aria-selected', String(b.dataset.tab === name));
  for (const t of $$('.left .tab')) t.hidden = t.id !== `tab-${name}`;
  if (name === 'unresolved') loadUnresolved();
}

// ---------------------------------------------------------------- wiring

function wire() {
  $('#login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    login($('#token').value);
  });
  $('#logout').addEventListener('click', () => showLogin(''));
  $('#scope-cluster').addEventListener('change', (e) => { state.scope.cluster = e.target.value; fillScope(); loadWorkload(); });
  $('#scope-namespace').addEventListener('change', (e) => { state.scope.ns = e.target.value; fillScope(); loadWorkload(); });
  $('#scope-kind').addEventListener('change', (e) => { state.scope.kind = e.target.value; fillScope(); loadWorkload(); });
  $('#scope-entity').addEventListener('change', (e) => { state.scope.name = e.target.value; loadWorkload(); });
  $('#scope-since').addEventListener('change', async (e) => {
    state.scope.since = e.target.value;
    if (!state.choices) return;
    state.choices.since = e.target.value;
    toHash();
    try {
      state.traffic = await api('GET', `${workloadPath(state.scope)}/traffic?since=${encodeURIComponent(state.scope.since)}`);
    } catch (err) {
      if (err.status !== 401) showError(err.message);
      return;
    }
    changed();
    if (!$('#tab-unresolved').hidden) loadUnresolved();
  });
  $('#scope-label-key').addEventListener('change', (e) => {
    if (!state.choices) return;
    state.choices.namespaceLabelKey = e.target.value.trim() || undefined;
    changed();
  });
  $('#draft-reset').addEventListener('click', () => {
    state.choices = defaultChoices();
    $('#scope-label-key').value = '';
    changed();
  });
  for (const b of $$('.tabs button')) b.addEventListener('click', () => selectTab(b.dataset.tab));
  $('#download').addEventListener('click', download);
  $('#unresolved-q').addEventListener('input', () => { clearTimeout(unresolvedTimer); unresolvedTimer = setTimeout(loadUnresolved, 250); });
  $('#unresolved-class').addEventListener('change', loadUnresolved);
  $('#view-workload-policies').addEventListener('click', () => {
    const panel = $('#details');
    const s = state.scope;
    const target = el('div', { class: 'policies' });
    panel.replaceChildren(el('h3', {}, `NetworkPolicies applied to ${s.ns}/${s.name} (${s.kind})`), target);
    panel.hidden = false;
    viewPolicies(target, null);
  });
  window.addEventListener('hashchange', () => {
    if (!state.scopes) return;
    fromHash();
    fillScope();
    loadWorkload();
  });
}

// A hook for the browser tests and for curious people: the graph and the
// state, read-only by convention.
window.redlineUI = {
  state,
  graph: () => cy,
  edgeColor: (id) => (cy ? cy.getElementById(id).style('line-color') : null),
  ready: () => !!state.topology && state.seq >= 0,
};

wire();
if (typeof window.cytoscape !== 'function') $('#graph-missing').hidden = false;
if (token) {
  start().catch((err) => {
    if (err.status !== 401) showLogin(err.message);
  });
} else {
  showLogin('');
}
