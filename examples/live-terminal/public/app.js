'use strict';
// public/app.js: the page.  Plain JavaScript, no build step.
//
// One EventSource (/events?run=ID&after=N) brings the role's runs ("runs"
// once, then "run" for each change) and the selected run's events ("step",
// in seq order).  Everything shown is put in the DOM with textContent, never
// as HTML: a prompt, a command's output or an error is text.

const $ = (id) => document.getElementById(id);
const FINAL = new Set(['completed', 'failed', 'cancelled']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const runs = new Map();   // id -> run row (id, status, prompt, error, created_at, ...)
let selected = null;      // the selected run's id
let source = null;        // the EventSource
let run = null;           // what the page knows of the selected run, reset on select

function resetRun() {
  run = {
    lastSeq: 0,             // the last step shown (steps come in order; repeats are skipped)
    calls: new Map(),       // call id -> { streamed: stdout shown from tool_output, live: had any }
    waiting: null,          // the approval_requested data of the call waiting for a person
    decided: new Set(),     // call ids that have an approval event
  };
  $('terminal').textContent = '';
  $('steps').textContent = '';
  $('approval-message').textContent = '';
  $('approval-note').value = '';
}

// --- the run list -------------------------------------------------------------

const items = new Map();  // id -> its <li>, kept across updates (a click never hits a stale one)

function renderRuns() {
  const ul = $('runs');
  const list = [...runs.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  for (const [i, r] of list.entries()) {
    let li = items.get(r.id);
    if (!li) {
      li = document.createElement('li');
      li.dataset.id = r.id;
      li.addEventListener('click', () => select(r.id));
      items.set(r.id, li);
    }
    li.dataset.status = r.status;
    li.className = r.id === selected ? 'selected' : '';
    const badge = document.createElement('span');
    badge.className = `status status-${r.status}`;
    badge.textContent = r.status;
    li.replaceChildren(badge, ' ', (r.prompt || '').split('\n')[0]);
    li.title = r.prompt || '';
    if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] || null);   // in order, moved only when needed
  }
  for (const [id, li] of items) if (!runs.has(id)) { li.remove(); items.delete(id); }
  renderHeader();
}

function renderHeader() {
  const r = selected && runs.get(selected);
  $('run').hidden = !selected;
  if (!selected) return;
  $('run-status').textContent = r ? r.status : '?';
  $('run-status').className = `status status-${r ? r.status : ''}`;
  $('run-title').textContent = r ? (r.prompt || '').split('\n')[0] : selected;
  $('run-error').textContent = r && r.error ? r.error : '';
  renderApproval();
}

// --- the selected run: steps, terminal, approval -------------------------------

// term appends TEXT to the terminal, in a span of class CLS, and follows the
// end if the view was at the end.
function term(text, cls) {
  if (!text) return;
  const pre = $('terminal');
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  const span = document.createElement('span');
  if (cls) span.className = cls;
  span.textContent = text;
  pre.append(span);
  if (atEnd) pre.scrollTop = pre.scrollHeight;
}

const short = (v, n = 200) => {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s && s.length > n ? s.slice(0, n) + '…' : s || '';
};

// summary: one line of text for the steps list
function summary(e) {
  const d = e.data || {};
  switch (e.kind) {
    case 'status': return `${d.from} → ${d.to}${d.by ? ` (by ${d.by})` : ''}`;
    case 'llm_response': return `${d.purpose} turn ${d.turn}: ${short(d.text, 120)}`;
    case 'tool_call': return `${d.name} ${short(d.input)}`;
    case 'tool_output': return `${d.tool} printed ${(d.stdout || '').length + (d.stderr || '').length} characters`;
    case 'tool_result': return `${d.name}: ${d.error ? short(d.error) : d.exit_code !== undefined ? `exit ${d.exit_code}` : short(d.content, 120)}`;
    case 'approval_requested': return `${d.tool} waits for approval until ${d.deadline}`;
    case 'approval': return `${d.approved ? 'approved' : 'rejected'}${d.by ? ` by ${d.by}` : ''}${d.timed_out ? ' (timed out)' : ''}${d.note ? `: ${d.note}` : ''}`;
    default: return short(d);
  }
}

function onStep(e) {
  if (e.seq <= run.lastSeq) return;           // already shown (a reconnect)
  run.lastSeq = e.seq;
  const d = e.data || {};

  const li = document.createElement('li');
  li.value = e.seq;
  li.dataset.kind = e.kind;
  li.textContent = `${e.kind}: ${summary(e)}`;
  $('steps').append(li);

  switch (e.kind) {
    case 'tool_call':
      run.calls.set(d.id, { streamed: '' });
      if (d.name === 'run_command') term(`$ ${d.input && d.input.command}\n`, 'cmd');
      else if (d.name === 'run_code') term(`>>> ${d.input && d.input.code}\n`, 'cmd');
      else term(`» ${d.name} ${short(d.input)}\n`, 'cmd');
      break;
    case 'tool_output': {             // live output of a running command
      const c = run.calls.get(d.call_id) || { streamed: '' };
      run.calls.set(d.call_id, c);
      c.live = true;
      term(d.stdout);
      term(d.stderr, 'err');
      c.streamed += d.stdout || '';
      if (d.dropped) term(`[${d.dropped} bytes of output left out${d.dropped_reason ? `: ${d.dropped_reason}` : ''}]\n`, 'note');
      break;
    }
    case 'tool_result': {
      const c = run.calls.get(d.id) || { streamed: '' };
      if (d.name === 'run_command' && d.stdout !== undefined) {
        // what the live output did not show yet (all of it without live output)
        if (d.stdout.startsWith(c.streamed)) term(d.stdout.slice(c.streamed.length));
        if (!c.live && d.stderr) term(d.stderr, 'err');
        term(`[exit ${d.exit_code}${d.duration_ms !== undefined ? `, ${d.duration_ms} ms` : ''}]\n`, 'note');
      } else if (d.error) {
        term(`[${d.name}: ${d.error}]\n`, 'err');
      } else if (c.live) {
        term(`[${d.name} finished${d.is_error ? ' with an error' : ''}]\n`, 'note');   // its output is shown above
      } else {
        term(`[${d.name}: ${short(d.content, 300)}]\n`, 'note');
      }
      break;
    }
    case 'approval_requested':
      if (!run.decided.has(d.call_id)) run.waiting = d;
      break;
    case 'approval':
      run.decided.add(d.call_id);
      if (run.waiting && run.waiting.call_id === d.call_id) run.waiting = null;
      term(`[${summary(e)}]\n`, 'note');
      break;
    case 'status': {
      const r = runs.get(selected);
      if (r && d.to) { r.status = d.to; renderRuns(); }
      break;
    }
  }
  renderApproval();
}

function renderApproval() {
  const r = runs.get(selected);
  const w = run && run.waiting;
  const show = !!w && !(r && FINAL.has(r.status));
  $('approval').hidden = !show;
  if (!show) return;
  $('approval-tool').textContent = w.tool;
  $('approval-deadline').textContent = w.deadline ? new Date(w.deadline).toLocaleString() : '?';
  const input = w.input || {};
  $('approval-input').textContent = w.tool === 'run_command' ? input.command : JSON.stringify(input, null, 2);
}

async function answer(approved) {
  const w = run.waiting;
  if (!w) return;
  $('approve').disabled = $('reject').disabled = true;
  try {
    const res = await fetch(`/runs/${selected}/approve`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ call_id: w.call_id, approved, note: $('approval-note').value }),
    });
    const body = await res.json();
    $('approval-message').textContent = !res.ok ? `error: ${body.error}`
      : body.decided ? (approved ? 'approved' : 'rejected') : 'not decided: the call is no longer waiting';
  } catch (e) {
    $('approval-message').textContent = `error: ${e.message}`;
  } finally {
    $('approve').disabled = $('reject').disabled = false;
  }
}

// --- the event stream -----------------------------------------------------------

function connect() {
  if (source) source.close();
  source = new EventSource(selected ? `/events?run=${selected}&after=${run.lastSeq}` : '/events');
  source.addEventListener('runs', (m) => {
    runs.clear();
    for (const r of JSON.parse(m.data)) runs.set(r.id, r);
    renderRuns();
  });
  source.addEventListener('run', (m) => {
    const r = JSON.parse(m.data);
    runs.set(r.id, r);
    renderRuns();
  });
  source.addEventListener('step', (m) => onStep(JSON.parse(m.data)));
  source.addEventListener('failure', (m) => { $('run-error').textContent = JSON.parse(m.data).error; });
  source.onerror = () => {
    // the browser reconnects by itself, unless the server refused (signed out)
    if (source.readyState === EventSource.CLOSED) setTimeout(start, 1000);
  };
}

function select(id) {
  selected = id;
  history.replaceState(null, '', `#${id}`);
  resetRun();
  renderRuns();
  connect();
}

// --- start: signed in or not ------------------------------------------------------

async function start() {
  const res = await fetch('/session');
  if (res.status === 401) {
    if (source) source.close();
    $('app').hidden = $('logout').hidden = $('whoami').hidden = true;
    $('signin').hidden = false;
    $('signin-error').textContent = new URLSearchParams(location.search).get('error') || '';
    return;
  }
  const { role } = await res.json();
  $('whoami').textContent = `signed in as ${role}`;
  $('signin').hidden = true;
  $('app').hidden = $('logout').hidden = $('whoami').hidden = false;
  const id = location.hash.slice(1);
  if (UUID.test(id)) select(id); else { resetRun(); connect(); }
}

$('approve').addEventListener('click', () => answer(true));
$('reject').addEventListener('click', () => answer(false));
$('new-run').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('new-run-error').textContent = '';
  const res = await fetch('/runs', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: $('prompt').value, approval: $('ask').checked ? ['commands'] : null }),
  });
  const body = await res.json();
  if (!res.ok) { $('new-run-error').textContent = body.error; return; }
  $('prompt').value = '';
  select(body.id);
});
start();
