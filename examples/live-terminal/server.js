'use strict';
// examples/live-terminal/server.js: a live terminal for agent runs.
//
// A person signs in with a database role and its password.  The server then
// talks to PostgreSQL *as that role*: a pg.Pool for queries and one
// dedicated client that LISTENs on the channels `agent_runs` (a run's status
// changed) and `agent_run_events` (a run wrote events).  Notifications carry
// only ids, and they reach every listener of every role, so each one is
// re-read with the session's own connection: row-level security, not this
// server, decides what the person sees.  What is visible goes to the browser
// as server-sent events.
//
// Routes:
//   GET  /                          the page (public/index.html, app.js, style.css)
//   POST /login                     form: role, password -> a session cookie
//   POST /logout
//   GET  /session                   {"role"} of the signed-in session (401 if none)
//   GET  /runs                      the role's runs, newest first (JSON)
//   POST /runs                      {"prompt", "approval"}: enqueue a run as the role
//   GET  /runs/:id/events?after=N   the run's events with seq > N (JSON)
//   POST /runs/:id/approve          {"call_id", "approved", "note"}: sandbox_approve()
//   GET  /events?run=ID&after=N     SSE: "runs" (the list, once), "run" (a run
//                                   changed), "step" (an event of run ID, in seq
//                                   order, id: seq so a reconnect resumes)
//
// Environment: PORT (default 8080), the usual PGHOST, PGPORT, PGDATABASE
// (read by pg).  It listens on 127.0.0.1 only.  No framework: node's http.

const http = require('node:http');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { Pool, Client } = require('pg');

const PORT = Number(process.env.PORT || 8080);
const HOST = '127.0.0.1';
const MAX_BODY = 1024 * 1024;              // a prompt may be up to 1 MB
const SESSION_IDLE_MS = 12 * 3600 * 1000;  // a session with no page open ends after this
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// The columns of a run the page shows (the prompt cut: the list stays small).
const RUN_COLUMNS = `id, status, left(prompt, 300) AS prompt, left(error, 1000) AS error,
                     created_at, started_at, completed_at`;

// --- sessions ---------------------------------------------------------------
// sid -> { role, pool, listener, streams: Set, chain: Promise, seen: ms }
const sessions = new Map();

// signIn opens the role's connections; the LISTEN client's connect is the
// password check.  Roles that bypass row-level security are refused: for
// them the database would show every run.
async function signIn(role, password) {
  const config = { user: role, password, application_name: 'live-terminal' };
  const listener = new Client(config);
  let session = null;
  listener.on('error', () => session && signOut(session));   // the LISTEN connection broke: sign out
  listener.on('end', () => session && signOut(session));
  await listener.connect();
  try {
    const { rows } = await listener.query(
      'SELECT rolsuper OR rolbypassrls AS bypass FROM pg_roles WHERE rolname = current_user');
    if (!rows.length || rows[0].bypass) {
      throw new Error('this role bypasses row-level security (a superuser or BYPASSRLS): sign in with an ordinary role');
    }
    await listener.query('LISTEN agent_runs');
    await listener.query('LISTEN agent_run_events');
  } catch (e) {
    await listener.end().catch(() => {});
    throw e;
  }
  session = {
    role, listener, streams: new Set(), chain: Promise.resolve(), seen: Date.now(),
    pool: new Pool({ ...config, max: 4, idleTimeoutMillis: 30000 }),
  };
  session.pool.on('error', () => {});      // an idle client's broken connection: the pool drops it
  listener.on('notification', (msg) => onNotification(session, msg));
  const sid = crypto.randomBytes(32).toString('base64url');
  session.sid = sid;
  sessions.set(sid, session);
  return session;
}

function signOut(session) {
  if (!sessions.delete(session.sid)) return;
  for (const s of session.streams) { s.closed = true; s.res.end(); }
  session.listener.end().catch(() => {});
  session.pool.end().catch(() => {});
}

// serial runs FN after the session's previous reads, so status updates
// reach the page in the order they were read.
function serial(session, fn) {
  session.chain = session.chain.then(fn).catch((e) => console.error('live-terminal:', e.message));
  return session.chain;
}

// A notification names a run; only what the role can read of it is sent on.
function onNotification(session, msg) {
  let p;
  try { p = JSON.parse(msg.payload); } catch { return; }
  if (!p || typeof p.id !== 'string' || !UUID.test(p.id)) return;
  if (msg.channel === 'agent_runs') {
    serial(session, async () => {
      const { rows } = await session.pool.query(`SELECT ${RUN_COLUMNS} FROM agent_runs WHERE id = $1`, [p.id]);
      if (rows.length) for (const s of session.streams) send(s, 'run', rows[0]);   // else: not ours
    });
  } else if (msg.channel === 'agent_run_events') {
    for (const s of session.streams) if (s.runId === p.id && s.after < Number(p.seq)) pump(session, s);
  }
}

// --- server-sent events -------------------------------------------------------

function send(stream, event, data, id) {
  if (stream.closed) return;
  stream.res.write(`event: ${event}\n${id !== undefined ? `id: ${id}\n` : ''}data: ${JSON.stringify(data)}\n\n`);
}

// pump sends the stream's run's events after its cursor, in seq order; one
// read at a time per stream, again when events came in meanwhile.
async function pump(session, stream) {
  if (stream.busy) { stream.again = true; return; }
  stream.busy = true;
  try {
    do {
      stream.again = false;
      const { rows } = await session.pool.query(
        `SELECT seq, at, attempt, kind, data FROM agent_run_events
          WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT 500`, [stream.runId, stream.after]);
      for (const e of rows) { send(stream, 'step', e, e.seq); stream.after = e.seq; }
      if (rows.length === 500) stream.again = true;
    } while (stream.again && !stream.closed);
  } catch (e) {
    send(stream, 'failure', { error: e.message });
  } finally {
    stream.busy = false;
  }
}

function openStream(session, req, res, url) {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    'Connection': 'keep-alive',
  });
  const runId = url.searchParams.get('run');
  // a reconnecting EventSource says where it was (the last step's seq)
  const after = Number(req.headers['last-event-id'] ?? url.searchParams.get('after') ?? 0);
  const stream = {
    res, closed: false, busy: false, again: false,
    runId: runId && UUID.test(runId) ? runId : null,
    after: Number.isInteger(after) && after >= 0 ? after : 0,
  };
  res.write('retry: 2000\n\n');
  session.streams.add(stream);
  const ping = setInterval(() => { if (!stream.closed) res.write(': ping\n\n'); }, 15000);   // keeps proxies from closing it
  req.on('close', () => {
    stream.closed = true;
    clearInterval(ping);
    session.streams.delete(stream);
    session.seen = Date.now();
  });
  // the list first (after LISTEN, so no change in between is missed), then
  // the selected run's events so far
  serial(session, async () => send(stream, 'runs', await listRuns(session)));
  if (stream.runId) pump(session, stream);
}

// --- queries as the signed-in role --------------------------------------------

async function listRuns(session) {
  const { rows } = await session.pool.query(
    `SELECT ${RUN_COLUMNS} FROM agent_runs ORDER BY created_at DESC LIMIT 100`);
  return rows;
}

async function runEvents(session, id, after) {
  const { rows } = await session.pool.query(
    `SELECT seq, at, attempt, kind, data FROM agent_run_events
      WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT 1000`, [id, after]);
  return rows;
}

async function approve(session, id, body) {
  if (typeof body.call_id !== 'string' || typeof body.approved !== 'boolean') {
    throw new HttpError(400, 'call_id (a string) and approved (a boolean) are required');
  }
  const note = typeof body.note === 'string' && body.note.trim() !== '' ? body.note : null;
  const { rows } = await session.pool.query(
    'SELECT sandbox_approve($1, $2, $3, $4) AS decided', [id, body.call_id, body.approved, note]);
  return { decided: rows[0].decided };
}

async function enqueue(session, body) {
  if (typeof body.prompt !== 'string' || body.prompt.trim() === '') {
    throw new HttpError(400, 'a prompt is required');
  }
  const approval = Array.isArray(body.approval) && body.approval.length ? body.approval.map(String) : null;
  const { rows } = approval
    ? await session.pool.query('INSERT INTO agent_runs (prompt, approval) VALUES ($1, $2) RETURNING id',
                               [body.prompt, approval])
    : await session.pool.query('INSERT INTO agent_runs (prompt) VALUES ($1) RETURNING id', [body.prompt]);
  return { id: rows[0].id };
}

// --- HTTP plumbing -------------------------------------------------------------

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
};

function reply(res, status, body, headers = {}) {
  const json = typeof body !== 'string';
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8',
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(json ? JSON.stringify(body) : body);
}

function redirect(res, location, headers = {}) {
  res.writeHead(303, { ...SECURITY_HEADERS, Location: location, ...headers });
  res.end();
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const parts = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) { reject(new HttpError(413, 'the request is too large')); req.destroy(); return; }
      parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

async function readJson(req) {
  if (!/^application\/json\b/.test(req.headers['content-type'] || '')) {
    throw new HttpError(415, 'send application/json');
  }
  try { return JSON.parse(await readBody(req)) ?? {}; } catch { throw new HttpError(400, 'the body is not JSON'); }
}

function sessionOf(req) {
  const m = /(?:^|;\s*)sid=([A-Za-z0-9_-]+)/.exec(req.headers.cookie || '');
  const session = m && sessions.get(m[1]);
  if (session) session.seen = Date.now();
  return session || null;
}

const COOKIE = (sid, maxAge) => `sid=${sid}; HttpOnly; SameSite=Strict; Path=/${maxAge !== undefined ? `; Max-Age=${maxAge}` : ''}`;

// The page's files: a fixed list, nothing else is read from disk.
const STATIC = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
};

async function route(req, res) {
  const url = new URL(req.url, 'http://localhost');
  const p = url.pathname;

  // a cross-site POST is refused (the cookie is SameSite=Strict too)
  if (req.method === 'POST' && req.headers.origin && req.headers.origin !== `http://${req.headers.host}`) {
    throw new HttpError(403, 'cross-origin request refused');
  }

  if (req.method === 'GET' && STATIC[p]) {
    const [file, type] = STATIC[p];
    const body = fs.readFileSync(path.join(__dirname, 'public', file));
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': type, 'Cache-Control': 'no-store' });
    return res.end(body);
  }

  if (req.method === 'POST' && p === '/login') {
    const form = new URLSearchParams(await readBody(req));
    const role = (form.get('role') || '').trim();
    if (!role) return redirect(res, '/?error=' + encodeURIComponent('a role name is required'));
    try {
      const session = await signIn(role, form.get('password') || '');
      return redirect(res, '/', { 'Set-Cookie': COOKIE(session.sid) });
    } catch (e) {
      // PostgreSQL's own words (e.g. password authentication failed for user "x")
      return redirect(res, '/?error=' + encodeURIComponent(`could not sign in: ${e.message}`));
    }
  }
  if (req.method === 'POST' && p === '/logout') {
    const session = sessionOf(req);
    if (session) signOut(session);
    return redirect(res, '/', { 'Set-Cookie': COOKIE('', 0) });
  }

  // everything below needs a signed-in session
  const session = sessionOf(req);
  if (!session) throw new HttpError(401, 'not signed in');

  if (req.method === 'GET' && p === '/session') return reply(res, 200, { role: session.role });
  if (req.method === 'GET' && p === '/events') return openStream(session, req, res, url);
  if (req.method === 'GET' && p === '/runs') return reply(res, 200, await listRuns(session));
  if (req.method === 'POST' && p === '/runs') return reply(res, 201, await enqueue(session, await readJson(req)));

  const m = /^\/runs\/([^/]+)\/(events|approve)$/.exec(p);
  if (m && UUID.test(m[1])) {
    if (req.method === 'GET' && m[2] === 'events') {
      const after = Number(url.searchParams.get('after') || 0);
      return reply(res, 200, await runEvents(session, m[1], Number.isInteger(after) ? after : 0));
    }
    if (req.method === 'POST' && m[2] === 'approve') {
      return reply(res, 200, await approve(session, m[1], await readJson(req)));
    }
  }
  throw new HttpError(404, 'not found');
}

const server = http.createServer((req, res) => {
  route(req, res).catch((e) => {
    // HttpErrors are ours; an error with a SQLSTATE is the database's answer
    // to the role (a refused INSERT, a function it may not call): shown as is
    const status = e instanceof HttpError ? e.status : e.code ? 400 : 500;
    if (!res.headersSent) reply(res, status, { error: e.message });
    else res.end();
  });
});

// sessions nobody has used for a long time are closed
setInterval(() => {
  for (const s of sessions.values()) {
    if (s.streams.size === 0 && Date.now() - s.seen > SESSION_IDLE_MS) signOut(s);
  }
}, 60000).unref();

server.listen(PORT, HOST, () => {
  console.log(`live-terminal: listening on http://${HOST}:${server.address().port}`);
});

// a clean stop: close every session's connections
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const s of sessions.values()) signOut(s);
    server.close();
    setTimeout(() => process.exit(0), 500).unref();
  });
}
