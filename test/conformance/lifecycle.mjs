// Conformance of sandboxd with the official E2B SDKs for the calls of
// issue 14: pause/resume, lifecycle.onTimeout ('pause' | 'kill') and
// autoResume, background processes (stdin, reconnect by pid, kill),
// getHost(port) and the per-port hosts sandboxd serves, getMetrics(), network
// options (create, getInfo, updateNetwork, traffic access token,
// maskRequestHost), and Sandbox.connect(id) of a sandbox created elsewhere.
//
// Imported by conformance.test.mjs (so run.sh runs it against the same
// sandboxd: E2B_API_URL / E2B_SANDBOX_URL / E2B_API_KEY).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import * as e2b251 from 'e2b';
import * as e2b250 from 'e2b-250';

const API = process.env.E2B_API_URL;
const KEY = process.env.E2B_API_KEY;
const SBX_URL = process.env.E2B_SANDBOX_URL;

const created = [];
after(async () => {
  for (const s of created) {
    try { await e2b251.Sandbox.kill(s.sandboxId); } catch { /* already gone */ }
  }
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn() until it returns a truthy value (or throws the last error).
async function until(what, fn, timeoutMs = 10_000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
    await sleep(everyMs);
  }
}

// A request to the sandbox port with arbitrary headers (Host included, which
// fetch() does not let us set).
function raw(path, headers = {}, { method = 'GET', body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${SBX_URL}${path}`, { method, headers }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: b, headers: res.headers }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// An HTTP server for inside a sandbox: answers "host=<Host> method=<M>
// path=<path> body=<body>" (so forwarding is visible end to end).
const SERVER_PY = `
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def answer(self):
        n = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(n).decode() if n else ''
        b = ('host=%s method=%s path=%s body=%s' % (self.headers.get('Host'), self.command, self.path, body)).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain; charset=utf-8')
        self.send_header('X-From-Sandbox', 'yes')
        self.send_header('Content-Length', str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    do_GET = do_POST = do_PUT = answer
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(('0.0.0.0', int(sys.argv[1])), H).serve_forever()
`;

// A free-looking port for a server inside a sandbox (sandboxes share the
// host's network, so pick one at random in a quiet range).
const randomPort = () => 20000 + Math.floor(Math.random() * 9000);

// Starts SERVER_PY in the sandbox on `port`; resolves once it answers
// through sandboxd (headers = routing headers to use).
async function startServer(sbx, port, headers) {
  await sbx.files.write('/tmp/srv.py', SERVER_PY);
  const h = await sbx.commands.run(`exec python3 /tmp/srv.py ${port}`, { background: true, timeoutMs: 0 });
  await until(`the server on port ${port}`, async () => (await raw('/ping', headers)).status === 200);
  return h;
}

test('pause keeps files; a paused sandbox refuses commands; connect resumes it (2.51 and 2.50)', async () => {
  const sbx = await e2b251.Sandbox.create('base', { timeoutMs: 120_000 });
  created.push(sbx);
  await sbx.files.write('/home/user/keep.txt', 'kept across pauses');
  const bg = await sbx.commands.run('sleep 300', { background: true, timeoutMs: 0 });

  const bgEnd = bg.wait().catch((e) => e);
  assert.equal(await sbx.pause(), true);
  const broken = await bgEnd;
  assert.ok(broken instanceof e2b251.TimeoutError, `a pause breaks open command streams as E2B's VM stop does (TimeoutError), got ${broken?.constructor?.name}: ${broken}`);
  const info = await sbx.getInfo();
  assert.equal(info.state, 'paused');
  assert.ok(Math.abs(info.endAt.getTime() - Date.now()) < 5_000, 'a paused sandbox reports its pause time as endAt');
  assert.equal(await sbx.isRunning(), false);
  // E2B's proxy answers 502 "sandbox not found": the SDK's Unavailable
  await assert.rejects(sbx.commands.run('echo no'), (err) => {
    assert.ok(err instanceof e2b251.SandboxNotFoundError, `expected SandboxNotFoundError, got ${err?.constructor?.name}: ${err}`);
    assert.match(err.message, /not running anymore/);
    return true;
  });
  await assert.rejects(sbx.files.read('/home/user/keep.txt'), e2b251.TimeoutError);
  assert.equal(await sbx.pause(), false, 'pausing a paused sandbox answers 409');

  const again = await e2b251.Sandbox.connect(sbx.sandboxId, { timeoutMs: 60_000 });
  assert.equal((await again.getInfo()).state, 'running');
  assert.equal(await again.files.read('/home/user/keep.txt'), 'kept across pauses');
  assert.ok((await again.commands.list()).find((p) => p.pid === bg.pid), 'a pause with memory keeps the processes');
  const re = await again.commands.connect(bg.pid, { timeoutMs: 0 });
  assert.equal(re.pid, bg.pid, 'and they can be reattached by pid');
  await re.disconnect();
  assert.equal((await again.commands.run('cat keep.txt')).stdout, 'kept across pauses');

  // filesystem-only pause: files kept, processes gone
  assert.equal(await again.pause({ keepMemory: false }), true);
  const cold = await e2b251.Sandbox.connect(sbx.sandboxId);
  assert.equal(await cold.files.read('/home/user/keep.txt'), 'kept across pauses');
  assert.ok(!(await cold.commands.list()).find((p) => p.pid === bg.pid), 'keepMemory:false drops the processes');
  assert.equal((await cold.commands.run('echo fresh')).stdout, 'fresh\n');

  // connect with onResume 'reboot' ({"memory":false}) resumes without the processes
  const bg2 = await cold.commands.run('sleep 301', { background: true, timeoutMs: 0 });
  assert.equal(await e2b251.Sandbox.pause(sbx.sandboxId), true);
  const rebooted = await e2b251.Sandbox.connect(sbx.sandboxId, { onResume: 'reboot' });
  assert.ok(!(await rebooted.commands.list()).find((p) => p.pid === bg2.pid), "onResume 'reboot' drops the processes");
  assert.equal(await rebooted.files.read('keep.txt'), 'kept across pauses');

  // e2b 2.50: Sandbox.pause / betaPause and POST /sandboxes/{id}/connect
  const old = await e2b250.Sandbox.create('base', { timeoutMs: 120_000 });
  created.push(old);
  await old.files.write('/tmp/old.txt', '2.50 file');
  assert.equal(await old.betaPause(), true);
  assert.equal((await e2b250.Sandbox.getInfo(old.sandboxId)).state, 'paused');
  await assert.rejects(old.commands.run('echo no'), e2b250.SandboxNotFoundError);
  const oldAgain = await e2b250.Sandbox.connect(old.sandboxId);
  assert.equal(await oldAgain.files.read('/tmp/old.txt'), '2.50 file');
  assert.equal(await e2b250.Sandbox.pause(old.sandboxId), true);
  assert.equal(await e2b250.Sandbox.pause(old.sandboxId), false);
  await assert.rejects(e2b251.Sandbox.pause('inotasandbox000000000'), e2b251.SandboxNotFoundError);
});

test("lifecycle.onTimeout 'pause' pauses instead of killing (autoPause); 'kill' kills", async () => {
  const paused = await e2b251.Sandbox.create('base', { timeoutMs: 2_000, lifecycle: { onTimeout: 'pause' } });
  const killed = await e2b251.Sandbox.create('base', { timeoutMs: 2_000, lifecycle: { onTimeout: 'kill' } });
  const old = await e2b250.Sandbox.create('base', { timeoutMs: 2_000, lifecycle: { onTimeout: 'pause' } });
  created.push(paused, killed, old);
  assert.deepEqual((await paused.getInfo()).lifecycle, { onTimeout: 'pause', autoResume: false });
  assert.deepEqual((await killed.getInfo()).lifecycle, { onTimeout: 'kill', autoResume: false });
  await paused.files.write('/home/user/state.txt', 'before the timeout');
  const bg = await paused.commands.run('sleep 300', { background: true, timeoutMs: 0 });

  await until('the autoPause sandbox to be paused', async () => (await paused.getInfo()).state === 'paused');
  await until('the kill sandbox to be gone', async () => {
    try { await killed.getInfo(); return false; } catch (e) { return e instanceof e2b251.SandboxNotFoundError; }
  });
  await until('the 2.50 autoPause sandbox to be paused', async () => (await e2b250.Sandbox.getInfo(old.sandboxId)).state === 'paused');
  const listed = await e2b251.Sandbox.list({ query: { state: ['paused'] } }).nextItems();
  assert.ok(listed.find((s) => s.sandboxId === paused.sandboxId && s.state === 'paused'), 'list shows the auto-paused sandbox as paused');
  assert.ok(!(await e2b251.Sandbox.list({ query: { state: ['running'] } }).nextItems()).find((s) => s.sandboxId === paused.sandboxId));
  assert.equal(await paused.isRunning(), false);
  await assert.rejects(paused.commands.run('echo no'), e2b251.SandboxNotFoundError);

  const back = await e2b251.Sandbox.connect(paused.sandboxId, { timeoutMs: 60_000 });
  assert.equal(await back.files.read('/home/user/state.txt'), 'before the timeout');
  assert.ok((await back.commands.list()).find((p) => p.pid === bg.pid), 'the auto-pause kept the memory (processes)');
  const endAt = (await back.getInfo()).endAt.getTime();
  assert.ok(endAt - Date.now() > 50_000, 'connect gave a new deadline');
});

test("onTimeout {action:'pause', keepMemory:false} pauses without the processes; autoResume resumes on traffic", async () => {
  const fsOnly = await e2b251.Sandbox.create('base', { timeoutMs: 2_000, lifecycle: { onTimeout: { action: 'pause', keepMemory: false } } });
  const auto = await e2b251.Sandbox.create('base', { timeoutMs: 2_000, lifecycle: { onTimeout: 'pause', autoResume: true } });
  created.push(fsOnly, auto);
  assert.deepEqual((await auto.getInfo()).lifecycle, { onTimeout: 'pause', autoResume: true });
  const bg = await fsOnly.commands.run('sleep 300', { background: true, timeoutMs: 0 });
  await fsOnly.files.write('/tmp/f.txt', 'fs only');
  await auto.files.write('/tmp/a.txt', 'auto');
  const abg = await auto.commands.run('sleep 302', { background: true, timeoutMs: 0 });
  await until('both to be paused', async () =>
    (await fsOnly.getInfo()).state === 'paused' && (await auto.getInfo()).state === 'paused');

  // autoResume: traffic (with the sandbox's credentials) resumes it
  assert.equal((await auto.commands.run('cat /tmp/a.txt')).stdout, 'auto');
  const info = await auto.getInfo();
  assert.equal(info.state, 'running');
  assert.ok(info.endAt.getTime() - Date.now() > 250_000, 'an auto-resume runs for at least 300 s (E2B minimum)');
  assert.ok((await auto.commands.list()).find((p) => p.pid === abg.pid));
  // ...but not without them
  assert.equal(await auto.pause(), true);
  const denied = await raw('/health', { 'E2b-Sandbox-Id': auto.sandboxId, 'E2b-Sandbox-Port': '49983' });
  assert.equal(denied.status, 403);
  assert.match(JSON.parse(denied.body).message, /can't be resumed with the credentials provided/);
  assert.equal((await auto.getInfo()).state, 'paused');

  // without autoResume traffic does not resume; a filesystem-only pause lost the processes
  await assert.rejects(fsOnly.commands.run('echo no'), e2b251.SandboxNotFoundError);
  const back = await e2b251.Sandbox.connect(fsOnly.sandboxId);
  assert.equal(await back.files.read('/tmp/f.txt'), 'fs only');
  assert.ok(!(await back.commands.list()).find((p) => p.pid === bg.pid), 'keepMemory:false dropped the processes');

  // E2B's validation of the combination
  const res = await fetch(`${API}/v2/sandboxes`, {
    method: 'POST', headers: { 'X-API-Key': KEY, 'Content-Type': 'application/json' },
    body: JSON.stringify({ templateID: 'base', autoPauseMemory: false }),
  });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).message, 'autoPauseMemory=false only applies when autoPause is true.');
});

test('background process: listed with its tag, stdin reaches it, reconnect by pid, kill', async () => {
  const sbx = await e2b251.Sandbox.create('base', { timeoutMs: 120_000 });
  created.push(sbx);
  let out = '';
  const h = await sbx.commands.run('read l; echo got:$l; i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.2; done',
    { background: true, stdin: true, timeoutMs: 0, onStdout: (d) => { out += d; } });
  assert.ok(h.pid > 0);
  const listed = (await sbx.commands.list()).find((p) => p.pid === h.pid);
  assert.ok(listed, 'the background process is listed');
  assert.equal(listed.cmd, '/bin/bash');
  assert.equal(listed.args[2].slice(0, 6), 'read l');
  await sbx.commands.sendStdin(h.pid, 'hello stdin\n');
  await until('the echoed stdin', () => out.includes('got:hello stdin\n'));
  await h.disconnect();

  // reattach by pid: the process keeps running and its new output arrives
  let again = '';
  const h2 = await sbx.commands.connect(h.pid, { onStdout: (d) => { again += d; }, timeoutMs: 0 });
  assert.equal(h2.pid, h.pid);
  await until('output after reconnecting', () => /tick\d+/.test(again));
  assert.ok(!again.includes('got:'), 'only output produced after the reconnect arrives');
  assert.equal(await h2.kill(), true);
  const res = await h2.wait().catch((e) => e);
  assert.ok(res instanceof e2b251.CommandExitError, `killed: CommandExitError, got ${res}`);
  assert.equal(res.exitCode, -1);
  assert.ok(!(await sbx.commands.list()).find((p) => p.pid === h.pid));
  await assert.rejects(sbx.commands.connect(h.pid), e2b251.NotFoundError);
  await assert.rejects(sbx.commands.sendStdin(h.pid, 'x'), e2b251.NotFoundError);
  assert.equal(await sbx.commands.kill(h.pid), false);

  // closeStdin ends `cat`, whose output is what we sent
  const cat = await sbx.commands.run('cat', { background: true, stdin: true, timeoutMs: 0 });
  await sbx.commands.sendStdin(cat.pid, 'line 1\n');
  await sbx.commands.sendStdin(cat.pid, 'line 2\n');
  await sbx.commands.closeStdin(cat.pid);
  const done = await cat.wait();
  assert.equal(done.stdout, 'line 1\nline 2\n');
  assert.equal(done.exitCode, 0);

  // e2b 2.50 sees and kills another sandbox's process by pid
  const sleeper = await sbx.commands.run('sleep 303', { background: true, timeoutMs: 0 });
  const v250 = await e2b250.Sandbox.connect(sbx.sandboxId);
  assert.ok((await v250.commands.list()).find((p) => p.pid === sleeper.pid));
  assert.equal(await v250.commands.kill(sleeper.pid), true);
  const r2 = await sleeper.wait().catch((e) => e);
  assert.equal(r2.exitCode, -1);
});

test('getHost(port) is <port>-<id>.<domain>, and sandboxd serves it (forwarding to the sandbox)', async () => {
  const sbx = await e2b251.Sandbox.create('base', { timeoutMs: 120_000 });
  const other = await e2b251.Sandbox.create('base', { timeoutMs: 120_000 });
  created.push(sbx, other);
  const port = randomPort();
  const host = sbx.getHost(port);
  assert.equal(host, `${port}-${sbx.sandboxId}.e2b.app`, 'E2B_DOMAIN unset and a null domain: e2b.app');
  const closed = await raw('/', { Host: host });
  assert.equal(closed.status, 502, 'nothing listens yet');
  assert.deepEqual(JSON.parse(closed.body), { sandboxId: sbx.sandboxId, message: 'The sandbox is running but port is not open', port, code: 502 });

  await startServer(sbx, port, { Host: host });
  const r = await raw('/some/path?q=1&x=a%20b', { Host: host });
  assert.equal(r.status, 200);
  assert.equal(r.body, `host=${host} method=GET path=/some/path?q=1&x=a%20b body=`);
  assert.equal(r.headers['x-from-sandbox'], 'yes', 'response headers come back');
  const p = await raw('/files?path=/x', { Host: host }, { method: 'POST', body: 'posted body' });
  assert.equal(p.body, `host=${host} method=POST path=/files?path=%2Fx body=posted body`, 'envd paths and bodies are forwarded too');
  const byHeaders = await raw('/via-headers', { 'E2b-Sandbox-Id': sbx.sandboxId, 'E2b-Sandbox-Port': String(port) });
  assert.equal(byHeaders.status, 200);
  assert.match(byHeaders.body, /path=\/via-headers/);

  // the port belongs to sbx, not to the other sandbox
  const foreign = await raw('/', { Host: other.getHost(port) });
  assert.equal(foreign.status, 502);
  assert.equal(JSON.parse(foreign.body).message, 'The sandbox is running but port is not open');
  // an SDK configured with a domain builds the host with it; sandboxd routes by <port>-<id>
  const withDomain = await e2b251.Sandbox.connect(sbx.sandboxId, { domain: 'sandboxd.localhost' });
  assert.equal(withDomain.getHost(port), `${port}-${sbx.sandboxId}.sandboxd.localhost`);
  assert.equal((await raw('/d', { Host: withDomain.getHost(port) })).status, 200);
  // envd's own port through its host
  assert.equal((await raw('/health', { Host: sbx.getHost(49983) })).status, 204);
  // killed: E2B's 502 "sandbox not found"
  await sbx.kill();
  const gone = await raw('/', { Host: host });
  assert.equal(gone.status, 502);
  assert.equal(JSON.parse(gone.body).message, 'The sandbox was not found');
});

test('getMetrics(): cpu, memory and disk in E2B\'s shape (2.51 and 2.50)', async () => {
  const sbx = await e2b251.Sandbox.create('base', { timeoutMs: 120_000 });
  created.push(sbx);
  await sbx.files.write('/home/user/blob.bin', new Uint8Array(256 * 1024).fill(7).buffer);
  await sbx.commands.run('sleep 300', { background: true, timeoutMs: 0 });
  const busy = await sbx.commands.run('timeout 30 sh -c "while :; do :; done"', { background: true, timeoutMs: 0 });
  const metrics = await until('the first metrics sample', async () => {
    const m = await sbx.getMetrics();
    return m.length && m[m.length - 1].cpuUsedPct > 0 ? m : null;
  }, 15_000, 500);
  await busy.kill();
  const m = metrics[metrics.length - 1];
  assert.deepEqual(Object.keys(m).sort(), ['cpuCount', 'cpuUsedPct', 'diskTotal', 'diskUsed', 'memCache', 'memTotal', 'memUsed', 'timestamp']);
  assert.ok(m.timestamp instanceof Date && Math.abs(m.timestamp.getTime() - Date.now()) < 30_000, `timestamp ${m.timestamp}`);
  assert.equal(m.timestamp.getTime() % 5000, 0, 'timestamps are the start of 5 s buckets');
  assert.equal(m.cpuCount, 2);
  assert.ok(m.cpuUsedPct > 0 && m.cpuUsedPct <= 100, `a busy loop shows as CPU use: ${m.cpuUsedPct}`);
  assert.equal(m.memTotal, 512 * 1024 * 1024);
  assert.ok(m.memUsed > 0 && m.memUsed < m.memTotal * 4, `memUsed ${m.memUsed}`);
  assert.equal(m.memCache, 0);
  assert.equal(m.diskTotal, 1024 * 1024 * 1024);
  assert.ok(m.diskUsed >= 256 * 1024, `the 256 KiB file counts in diskUsed (${m.diskUsed})`);
  for (let i = 1; i < metrics.length; i++) assert.ok(metrics[i].timestamp > metrics[i - 1].timestamp, 'oldest first');

  const st = await e2b251.Sandbox.getMetrics(sbx.sandboxId, { start: new Date(Date.now() - 600_000), end: new Date(Date.now() + 60_000) });
  assert.ok(st.length >= 1);
  assert.deepEqual(await e2b251.Sandbox.getMetrics(sbx.sandboxId, { start: new Date(Date.now() - 600_000), end: new Date(Date.now() - 300_000) }), [], 'a range before the sandbox existed is empty');
  await assert.rejects(e2b251.Sandbox.getMetrics(sbx.sandboxId, { start: new Date(Date.now() + 3_600_000) }), /400.*Invalid time range for metrics/);
  const v250 = await e2b250.Sandbox.connect(sbx.sandboxId);
  assert.ok((await v250.getMetrics()).length >= 1, 'e2b 2.50 reads them as well');
  assert.deepEqual(await e2b251.Sandbox.getMetrics('inotasandbox000000000'), [], 'an unknown sandbox has no metrics (E2B answers 200 [])');

  // paused: the series stays (no new samples), resumed: it grows again
  assert.equal(await sbx.pause(), true);
  const whilePaused = await e2b251.Sandbox.getMetrics(sbx.sandboxId);
  assert.ok(whilePaused.length >= 1, 'a paused sandbox keeps its metrics');
});

test('network options: accepted, validated as E2B does, reported by getInfo, updateNetwork; traffic token and maskRequestHost', async () => {
  const network = {
    allowOut: ['1.1.1.1', '10.1.0.0/16', 'example.com'],
    denyOut: [e2b251.ALL_TRAFFIC],
    allowPublicTraffic: false,
    maskRequestHost: 'masked.example:${PORT}',
  };
  const sbx = await e2b251.Sandbox.create('base', { timeoutMs: 120_000, allowInternetAccess: false, network });
  created.push(sbx);
  const info = await sbx.getInfo();
  assert.equal(info.allowInternetAccess, false);
  assert.deepEqual(info.network.allowOut, network.allowOut);
  assert.deepEqual(info.network.denyOut, ['0.0.0.0/0']);
  assert.equal(info.network.allowPublicTraffic, false);
  assert.equal(info.network.maskRequestHost, 'masked.example:${PORT}');
  assert.match(sbx.trafficAccessToken ?? '', /^[0-9a-f]{64}$/, 'allowPublicTraffic:false gives a trafficAccessToken');
  assert.equal((await sbx.commands.run('echo envd is exempt')).stdout, 'envd is exempt\n');

  // the traffic token guards the other ports; maskRequestHost replaces Host
  const port = randomPort();
  const tok = { 'e2b-traffic-access-token': sbx.trafficAccessToken };
  await startServer(sbx, port, { Host: sbx.getHost(port), ...tok });
  const noTok = await raw('/', { Host: sbx.getHost(port) });
  assert.equal(noTok.status, 403);
  assert.deepEqual(JSON.parse(noTok.body), { sandboxId: sbx.sandboxId, message: "Sandbox is secured with traffic access token. Token header 'e2b-traffic-access-token' is missing", code: 403 });
  const badTok = await raw('/', { Host: sbx.getHost(port), 'e2b-traffic-access-token': 'nope' });
  assert.equal(badTok.status, 403);
  assert.match(JSON.parse(badTok.body).message, /is invalid$/);
  const ok = await raw('/m', { Host: sbx.getHost(port), ...tok });
  assert.equal(ok.status, 200);
  assert.equal(ok.body, `host=masked.example:${port} method=GET path=/m body=`);

  // updateNetwork replaces the egress rules (omitted ones are cleared)
  await sbx.updateNetwork({ denyOut: ['10.0.0.0/8'], allowInternetAccess: true });
  const upd = await sbx.getInfo();
  assert.deepEqual(upd.network.denyOut, ['10.0.0.0/8']);
  assert.equal(upd.network.allowOut, undefined);
  assert.equal(upd.network.allowPublicTraffic, false, 'ingress settings are kept');
  assert.equal(upd.allowInternetAccess, true);
  await assert.rejects(sbx.updateNetwork({ denyOut: ['example.com'] }), /400: invalid denied CIDR example.com/);

  // E2B's validation
  await assert.rejects(e2b251.Sandbox.create('base', { network: { denyOut: ['example.com'] } }), /400: invalid denied CIDR example.com/);
  await assert.rejects(e2b251.Sandbox.create('base', { network: { allowOut: ['example.com'] } }), /must include 'ALL_TRAFFIC' in deny out/);
  await assert.rejects(e2b251.Sandbox.create('base', { network: { denyOut: ['0.0.0.0'] } }), /invalid denied CIDR 0.0.0.0/);
  await assert.rejects(e2b250.Sandbox.create('base', { secure: false, network: { allowPublicTraffic: false } }), /without public access unless you enable secure envd access/);

  // e2b 2.50 sends allow_internet_access (true by default) and network on POST /sandboxes
  const old = await e2b250.Sandbox.create('base', { timeoutMs: 60_000, network: { denyOut: ['192.0.2.0/24'] } });
  created.push(old);
  const oi = await old.getInfo();
  assert.equal(oi.allowInternetAccess, true);
  assert.deepEqual(oi.network.denyOut, ['192.0.2.0/24']);
  // a sandbox created without network options reports none (2.51 omits allow_internet_access)
  const plain = await e2b251.Sandbox.create('base', { timeoutMs: 60_000 });
  created.push(plain);
  const pi = await plain.getInfo();
  assert.equal(pi.network, undefined);
  assert.equal(pi.allowInternetAccess, undefined);
});

test('Sandbox.connect(id) adopts a sandbox created elsewhere (2.51 <-> 2.50)', async () => {
  const a = await e2b250.Sandbox.create('base', { timeoutMs: 600_000, metadata: { owner: 'elsewhere' } });
  created.push(a);
  await a.files.write('/home/user/from-a.txt', 'written by the creator');
  const adopted = await e2b251.Sandbox.connect(a.sandboxId, { timeoutMs: 60_000 });
  assert.equal(adopted.sandboxId, a.sandboxId);
  assert.equal(await adopted.files.read('/home/user/from-a.txt'), 'written by the creator');
  assert.equal((await adopted.commands.run('echo adopted')).stdout, 'adopted\n', 'connect hands out the envd access token');
  const info = await adopted.getInfo();
  assert.equal(info.metadata.owner, 'elsewhere');
  assert.ok(info.endAt.getTime() - Date.now() > 500_000, 'connect only extends the deadline, never shortens it');

  const b = await e2b251.Sandbox.create('base', { timeoutMs: 60_000 });
  created.push(b);
  const viaOld = await e2b250.Sandbox.connect(b.sandboxId, { timeoutMs: 300_000 });
  assert.equal((await viaOld.commands.run('echo via 2.50')).stdout, 'via 2.50\n');
  assert.ok((await b.getInfo()).endAt.getTime() - Date.now() > 250_000, 'connect extended the deadline');

  await assert.rejects(e2b251.Sandbox.connect('inotasandbox000000000'), e2b251.SandboxNotFoundError);
  await b.kill();
  await assert.rejects(e2b251.Sandbox.connect(b.sandboxId), e2b251.SandboxNotFoundError);
  await assert.rejects(e2b250.Sandbox.connect(b.sandboxId), e2b250.SandboxNotFoundError);
});
