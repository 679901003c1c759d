// sandboxd benchmark driver (see run.sh).
//   node bench.mjs rps   -> commands.run('true') throughput from N concurrent SDK clients
//   node bench.mjs unary -> files.exists() throughput (no process), for comparison
//   node bench.mjs rss   -> 20 live sandboxes, each with a command run and a live
//                           code-interpreter context; prints their sandbox IDs and waits
//                           for a line on stdin before killing them
import { Sandbox } from 'e2b';
import { Sandbox as CodeSandbox } from '@e2b/code-interpreter';
import readline from 'node:readline';

const mode = process.argv[2];

async function rps() {
  const clients = Number(process.env.CLIENTS || 16);
  const seconds = Number(process.env.BENCH_SECONDS || 10);
  const sandboxes = await Promise.all(Array.from({ length: clients }, () => Sandbox.create('base', { timeoutMs: 300_000 })));
  // warm-up: the first command of a sandbox also starts its init
  await Promise.all(sandboxes.map((s) => s.commands.run('true')));
  const lat = [];
  let errors = 0;
  const end = Date.now() + seconds * 1000;
  const t0 = Date.now();
  await Promise.all(sandboxes.map(async (s) => {
    while (Date.now() < end) {
      const a = performance.now();
      try {
        await s.commands.run('true');
        lat.push(performance.now() - a);
      } catch (e) {
        errors++;
      }
    }
  }));
  const elapsed = (Date.now() - t0) / 1000;
  lat.sort((x, y) => x - y);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  await Promise.all(sandboxes.map((s) => s.kill()));
  console.log(JSON.stringify({
    clients, seconds: elapsed, completed: lat.length, errors,
    rps: +(lat.length / elapsed).toFixed(1),
    p50_ms: +q(0.5).toFixed(1), p90_ms: +q(0.9).toFixed(1), p99_ms: +q(0.99).toFixed(1),
  }));
}

// For comparison: a unary envd call (files.exists = Filesystem/Stat, no
// process started) from the same number of clients for 3 s.
async function unary() {
  const clients = Number(process.env.CLIENTS || 16);
  const sandboxes = await Promise.all(Array.from({ length: clients }, () => Sandbox.create('base', { timeoutMs: 300_000 })));
  let n = 0;
  const end = Date.now() + 3000;
  const t0 = Date.now();
  await Promise.all(sandboxes.map(async (s) => {
    while (Date.now() < end) { await s.files.exists('/home/user'); n++; }
  }));
  const rps = n / ((Date.now() - t0) / 1000);
  await Promise.all(sandboxes.map((s) => s.kill()));
  console.log(JSON.stringify({ clients, files_exists_rps: +rps.toFixed(1) }));
}

async function rss() {
  const n = Number(process.env.SANDBOXES || 20);
  const sbxs = [];
  for (let i = 0; i < n; i++) {
    const s = await CodeSandbox.create({ timeoutMs: 600_000 });
    const r = await s.commands.run('echo ready');
    if (r.stdout !== 'ready\n') throw new Error('command failed');
    const ex = await s.runCode('x = 6 * 7\nx');
    if (ex.text !== '42') throw new Error('runCode failed');
    sbxs.push(s);
  }
  console.log(JSON.stringify({ ready: sbxs.map((s) => s.sandboxId) }));
  const rl = readline.createInterface({ input: process.stdin });
  await new Promise((res) => rl.once('line', res));
  await Promise.all(sbxs.map((s) => s.kill()));
  rl.close();
}

if (mode === 'rps') await rps();
else if (mode === 'rss') await rss();
else if (mode === 'unary') await unary();
else { console.error('usage: node bench.mjs rps|rss'); process.exit(2); }
