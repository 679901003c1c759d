// Conformance of sandboxd with the official E2B SDKs.
//
// Runs against the sandboxd given by E2B_API_URL / E2B_SANDBOX_URL /
// E2B_API_KEY (started by run.sh), plus a second sandboxd with a small
// --max-sandboxes given by LIMIT_API_URL / LIMIT_SANDBOX_URL / LIMIT_API_KEY /
// LIMIT_MAX for the 429 test.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as e2b251 from 'e2b';
import * as e2b250 from 'e2b-250';
import { Sandbox as CodeSandbox } from '@e2b/code-interpreter';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const v251 = require('e2b/package.json').version;
const v250 = require('e2b-250/package.json').version;
const vci = require('@e2b/code-interpreter/package.json').version;

const API = process.env.E2B_API_URL;
const KEY = process.env.E2B_API_KEY;
assert.ok(API && KEY && process.env.E2B_SANDBOX_URL, 'E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY must be set');

const created = [];
after(async () => {
  for (const s of created) {
    try { await s.kill(); } catch { /* already gone */ }
  }
});

// GET /admin/stats of the main sandboxd.
async function stats() {
  const r = await fetch(`${API}/admin/stats`, { headers: { 'X-API-Key': KEY } });
  assert.equal(r.status, 200);
  return r.json();
}

function routeCount(st, route, status) {
  return (st.requests.api?.[route]?.[String(status)]) ?? 0;
}

test('SDK versions under test', () => {
  assert.equal(v251, '2.51.0');
  assert.equal(v250, '2.50.0');
  assert.equal(vci, '2.8.0');
});

test('create with e2b 2.50.0 uses POST /sandboxes and 2.51.0 uses POST /v2/sandboxes', async () => {
  const before = await stats();
  const a = await e2b250.Sandbox.create('base', { timeoutMs: 120_000 });
  created.push(a);
  const mid = await stats();
  assert.equal(routeCount(mid, 'POST /sandboxes', 201), routeCount(before, 'POST /sandboxes', 201) + 1);
  assert.equal(routeCount(mid, 'POST /v2/sandboxes', 201), routeCount(before, 'POST /v2/sandboxes', 201));
  const b = await e2b251.Sandbox.create('base', { timeoutMs: 120_000 });
  created.push(b);
  const end = await stats();
  assert.equal(routeCount(end, 'POST /v2/sandboxes', 201), routeCount(mid, 'POST /v2/sandboxes', 201) + 1);
  assert.match(a.sandboxId, /^i[a-z0-9]{20}$/);
  assert.match(b.sandboxId, /^i[a-z0-9]{20}$/);
  // both can run commands
  assert.equal((await a.commands.run('echo from-250')).stdout, 'from-250\n');
  assert.equal((await b.commands.run('echo from-251')).stdout, 'from-251\n');
});

test('commands.run: stdout, stderr, exit code, envs, cwd, CommandExitError', async () => {
  const sbx = await e2b251.Sandbox.create('base', { timeoutMs: 120_000 });
  created.push(sbx);
  const r = await sbx.commands.run('echo hello; echo oops >&2');
  assert.equal(r.stdout, 'hello\n');
  assert.equal(r.stderr, 'oops\n');
  assert.equal(r.exitCode, 0);
  assert.equal((await sbx.commands.run('echo "$FOO-$BAR"', { envs: { FOO: 'foo', BAR: 'b a r' } })).stdout, 'foo-b a r\n');
  assert.equal((await sbx.commands.run('pwd')).stdout, '/home/user\n');
  assert.equal((await sbx.commands.run('pwd', { cwd: '/tmp' })).stdout, '/tmp\n');
  const chunks = [];
  const streamed = await sbx.commands.run('for i in 1 2 3; do echo line$i; sleep 0.1; done', { onStdout: (d) => chunks.push(d) });
  assert.equal(streamed.stdout, 'line1\nline2\nline3\n');
  assert.ok(chunks.length >= 2, `stdout should arrive in several chunks while the command runs (got ${chunks.length})`);
  await assert.rejects(sbx.commands.run('echo partial; echo bad >&2; exit 3'), (err) => {
    assert.ok(err instanceof e2b251.CommandExitError, `expected CommandExitError, got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.exitCode, 3);
    assert.equal(err.stdout, 'partial\n');
    assert.equal(err.stderr, 'bad\n');
    return true;
  });
});

test('background command is listed and then killed', async () => {
  const sbx = await e2b251.Sandbox.create('base', { timeoutMs: 120_000 });
  created.push(sbx);
  const h = await sbx.commands.run('sleep 30', { background: true });
  assert.ok(h.pid > 0);
  const listed = await sbx.commands.list();
  const mine = listed.find((p) => p.pid === h.pid);
  assert.ok(mine, `pid ${h.pid} should be listed: ${JSON.stringify(listed)}`);
  assert.equal(mine.cmd, '/bin/bash');
  assert.deepEqual(mine.args, ['-l', '-c', 'sleep 30']);
  assert.equal(await sbx.commands.kill(h.pid), true);
  const res = await h.wait().catch((e) => e);
  assert.ok(res instanceof e2b251.CommandExitError, `killed command should end with CommandExitError, got ${res}`);
  assert.equal(res.exitCode, -1);
  assert.match(res.error ?? '', /signal: killed/);
  const after = await sbx.commands.list();
  assert.ok(!after.find((p) => p.pid === h.pid), 'killed pid must not be listed any more');
  assert.equal(await sbx.commands.kill(999999), false);
});

test('files: write, read, list, exists, makeDir, rename, remove', async () => {
  const sbx = await e2b251.Sandbox.create('base', { timeoutMs: 120_000 });
  created.push(sbx);
  const info = await sbx.files.write('/home/user/dir/a.txt', 'hello file');
  assert.equal(info.path, '/home/user/dir/a.txt');
  assert.equal(info.name, 'a.txt');
  assert.equal(await sbx.files.read('/home/user/dir/a.txt'), 'hello file');
  assert.equal(await sbx.files.read('dir/a.txt'), 'hello file', 'relative paths resolve against /home/user');
  assert.equal((await sbx.commands.run('cat /home/user/dir/a.txt')).stdout, 'hello file');
  const entries = await sbx.files.list('/home/user/dir');
  assert.deepEqual(entries.map((e) => [e.name, e.type, e.path]), [['a.txt', 'file', '/home/user/dir/a.txt']]);
  assert.equal(entries[0].size, 10);
  assert.equal(await sbx.files.exists('/home/user/dir/a.txt'), true);
  assert.equal(await sbx.files.exists('/home/user/nope.txt'), false);
  assert.equal(await sbx.files.makeDir('/home/user/newdir/sub'), true);
  assert.equal(await sbx.files.makeDir('/home/user/newdir/sub'), false);
  const moved = await sbx.files.rename('/home/user/dir/a.txt', '/home/user/newdir/b.txt');
  assert.equal(moved.path, '/home/user/newdir/b.txt');
  assert.equal(await sbx.files.exists('/home/user/dir/a.txt'), false);
  assert.equal(await sbx.files.read('/home/user/newdir/b.txt'), 'hello file');
  await sbx.files.remove('/home/user/newdir');
  assert.equal(await sbx.files.exists('/home/user/newdir/b.txt'), false);
  await assert.rejects(sbx.files.read('/home/user/missing.txt'), (err) => err instanceof e2b251.NotFoundError || /not exist|not found/i.test(String(err)));
  const multi = await sbx.files.write([
    { path: '/home/user/m1.txt', data: 'one' }, { path: '/tmp/m2.txt', data: 'two' }, { path: 'rel/empty.txt', data: '' }]);
  assert.deepEqual(multi.map((e) => e.path), ['/home/user/m1.txt', '/tmp/m2.txt', '/home/user/rel/empty.txt']);
  assert.equal(await sbx.files.read('/tmp/m2.txt'), 'two');
  assert.equal(await sbx.files.read('/home/user/rel/empty.txt'), '');
  const deep = await sbx.files.list('/home/user', { depth: 2 });
  assert.ok(deep.find((e) => e.path === '/home/user/rel/empty.txt' && e.type === 'file'), 'depth 2 lists nested entries');
  const bytes = new Uint8Array([0, 1, 2, 255, 254, 10]);
  await sbx.files.write('/tmp/bin.dat', bytes.buffer);
  const back = await sbx.files.read('/tmp/bin.dat', { format: 'bytes' });
  assert.deepEqual(Array.from(back), Array.from(bytes));
});

test('runCode via @e2b/code-interpreter: text, stdout, error, state', async () => {
  const sbx = await CodeSandbox.create({ timeoutMs: 120_000 });
  created.push(sbx);
  const r1 = await sbx.runCode('x = 41\nprint("hi")\nx + 1');
  assert.equal(r1.text, '42');
  assert.deepEqual(r1.logs.stdout, ['hi\n']);
  assert.equal(r1.error, undefined);
  const r2 = await sbx.runCode('x * 2');
  assert.equal(r2.text, '82', 'state persists between executions');
  const r3 = await sbx.runCode('import sys\nprint("to-err", file=sys.stderr)\n1/0');
  assert.ok(r3.error, 'an exception is reported');
  assert.equal(r3.error.name, 'ZeroDivisionError');
  assert.equal(r3.error.value, 'division by zero');
  assert.match(r3.error.traceback, /ZeroDivisionError/);
  assert.deepEqual(r3.logs.stderr, ['to-err\n']);
  const ctx = await sbx.createCodeContext({ cwd: '/tmp' });
  assert.ok(ctx.id);
  const r4 = await sbx.runCode('import os\nos.getcwd()', { context: ctx });
  assert.equal(r4.text, "'/tmp'");
  const r5 = await sbx.runCode('x', { context: ctx });
  assert.equal(r5.error?.name, 'NameError', 'contexts do not share state');
  assert.ok((await sbx.listCodeContexts()).find((c) => c.id === ctx.id));
  await sbx.runCode('y = 1', { context: ctx });
  await sbx.restartCodeContext(ctx);
  const r6 = await sbx.runCode('y', { context: ctx });
  assert.equal(r6.error?.name, 'NameError', 'restart gives a fresh interpreter');
  await sbx.removeCodeContext(ctx);
  assert.ok(!(await sbx.listCodeContexts()).find((c) => c.id === ctx.id));
  await assert.rejects(sbx.runCode('1', { context: ctx }), /not found/i);
  const streamed = [];
  const r7 = await sbx.runCode('import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.3)', { onStdout: (m) => streamed.push([m.line, Date.now()]) });
  assert.equal(r7.logs.stdout.join(''), '0\n1\n2\n');
  assert.ok(streamed.length >= 2 && streamed[streamed.length - 1][1] - streamed[0][1] >= 300, 'runCode stdout arrives while the code runs');
  const r8 = await sbx.runCode('import os\nos.environ["ONLY_HERE"]', { envs: { ONLY_HERE: 'yes' } });
  assert.equal(r8.text, "'yes'");
  const r9 = await sbx.runCode('import subprocess\nsubprocess.run(["echo", "from-child"])\nNone');
  assert.equal(r9.logs.stdout.join(''), 'from-child\n', 'output of child processes is captured');
});

test('list with a metadata filter (SDK 2.51 paginator)', async () => {
  const run = `run-${Date.now()}-${Math.random().toString(16).slice(2)}`;
  const a = await e2b251.Sandbox.create('base', { metadata: { suite: 'conformance', run, 'k e&y': 'v=1 2' }, timeoutMs: 120_000 });
  const b = await e2b251.Sandbox.create('base', { metadata: { suite: 'conformance', run: `${run}-other` }, timeoutMs: 120_000 });
  created.push(a, b);
  const p = e2b251.Sandbox.list({ query: { metadata: { run } } });
  const items = await p.nextItems();
  assert.deepEqual(items.map((s) => s.sandboxId), [a.sandboxId]);
  assert.equal(items[0].metadata.run, run);
  assert.equal(items[0].state, 'running');
  const special = await e2b251.Sandbox.list({ query: { metadata: { 'k e&y': 'v=1 2' } } }).nextItems();
  assert.deepEqual(special.map((s) => s.sandboxId), [a.sandboxId], 'keys and values with & = and spaces round-trip');
  // paging: limit 1 yields X-Next-Token and a second page
  const pg = e2b251.Sandbox.list({ query: { metadata: { suite: 'conformance' } }, limit: 1 });
  const first = await pg.nextItems();
  assert.equal(first.length, 1);
  assert.equal(pg.hasNext, true);
  const second = await pg.nextItems();
  assert.equal(second.length, 1);
  assert.notEqual(second[0].sandboxId, first[0].sandboxId);
});

test('setTimeout, getInfo, kill (true then false)', async () => {
  const sbx = await e2b251.Sandbox.create('base', { timeoutMs: 120_000 });
  await sbx.setTimeout(30_000);
  const info = await sbx.getInfo();
  const left = info.endAt.getTime() - Date.now();
  assert.ok(left > 25_000 && left <= 31_000, `endAt should be ~30 s away, is ${left} ms`);
  assert.equal(info.sandboxId, sbx.sandboxId);
  assert.equal(info.templateId, 'base');
  assert.equal(await sbx.isRunning(), true);
  assert.equal(await e2b251.Sandbox.kill(sbx.sandboxId), true);
  assert.equal(await e2b251.Sandbox.kill(sbx.sandboxId), false);
  assert.equal(await e2b250.Sandbox.kill(sbx.sandboxId), false);
  assert.equal(await sbx.isRunning(), false);
  await assert.rejects(e2b251.Sandbox.getInfo(sbx.sandboxId), e2b251.SandboxNotFoundError ?? Error);
});

test('pause, list paused, connect resumes (processes survive)', async () => {
  const sbx = await e2b251.Sandbox.create('base', { timeoutMs: 120_000 });
  created.push(sbx);
  const bg = await sbx.commands.run('sleep 60', { background: true, timeoutMs: 0 });
  assert.equal(await e2b251.Sandbox.pause(sbx.sandboxId), true);
  assert.equal(await e2b251.Sandbox.pause(sbx.sandboxId), false, 'second pause is a 409');
  const paused = await e2b251.Sandbox.list({ query: { state: ['paused'] } }).nextItems();
  assert.ok(paused.find((s) => s.sandboxId === sbx.sandboxId && s.state === 'paused'));
  assert.equal(await sbx.isRunning(), false, 'a paused sandbox does not answer');
  const again = await e2b251.Sandbox.connect(sbx.sandboxId, { timeoutMs: 60_000 });
  assert.equal(again.sandboxId, sbx.sandboxId);
  assert.equal((await again.commands.run('echo resumed')).stdout, 'resumed\n');
  assert.ok((await again.commands.list()).find((p) => p.pid === bg.pid), 'the background process survived the pause');
  const v250 = await e2b250.Sandbox.connect(sbx.sandboxId);
  assert.equal((await v250.commands.run('echo via-250')).stdout, 'via-250\n');
});

test('a bad API key raises AuthenticationError', async () => {
  const bad = `e2b_${'0'.repeat(40)}`;
  await assert.rejects(e2b251.Sandbox.create('base', { apiKey: bad }), (err) => {
    assert.ok(err instanceof e2b251.AuthenticationError, `expected AuthenticationError, got ${err?.constructor?.name}: ${err}`);
    return true;
  });
  await assert.rejects(e2b250.Sandbox.create('base', { apiKey: bad }), e2b250.AuthenticationError);
});

test('the sandbox limit answers 429 (RateLimitError)', async () => {
  const opts = {
    apiUrl: process.env.LIMIT_API_URL,
    sandboxUrl: process.env.LIMIT_SANDBOX_URL,
    apiKey: process.env.LIMIT_API_KEY,
    timeoutMs: 60_000,
  };
  const max = Number(process.env.LIMIT_MAX);
  assert.ok(opts.apiUrl && max > 0, 'LIMIT_* variables must be set');
  const live = [];
  try {
    for (let i = 0; i < max; i++) live.push(await e2b251.Sandbox.create('base', opts));
    await assert.rejects(e2b251.Sandbox.create('base', opts), (err) => {
      assert.ok(err instanceof e2b251.RateLimitError, `expected RateLimitError, got ${err?.constructor?.name}: ${err}`);
      assert.match(err.message, new RegExp(`maximum number of concurrent E2B sandboxes \\(${max}\\)`));
      return true;
    });
    await assert.rejects(e2b250.Sandbox.create('base', opts), e2b250.RateLimitError);
    assert.equal(await live.pop().kill(), true);
    live.push(await e2b251.Sandbox.create('base', opts)); // a slot was freed
  } finally {
    for (const s of live) await s.kill().catch(() => {});
  }
});

// Pause/resume, lifecycle, background processes, hosts, metrics, network
// options and connect (issue 14): in their own module, run here so run.sh
// needs no change.
await import('./lifecycle.mjs');
