// Scale driver (see scale.sh): N sandboxes, then one command in each, all
// at once through the e2b SDK (one node process, N concurrent streams).
import { Sandbox } from 'e2b';

const n = Number(process.env.N || 1000);
const log = (o) => console.log(JSON.stringify(o));

async function pool(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) { const i = next++; out[i] = await fn(items[i], i); }
  }));
  return out;
}

let t0 = Date.now();
const sbxs = await pool(Array.from({ length: n }), 64, () => Sandbox.create('base', { timeoutMs: 600_000 }));
log({ phase: 'created', n, ms: Date.now() - t0 });

t0 = Date.now();
let started = 0;
const res = await Promise.all(sbxs.map(async (s, i) => {
  const a = Date.now();
  try {
    const r = await s.commands.run(`echo run-${i}; sleep 2`, { timeoutMs: 120_000, onStdout: () => { started++; } });
    return { ok: r.stdout === `run-${i}\n` && r.exitCode === 0, ms: Date.now() - a };
  } catch (e) {
    return { ok: false, ms: Date.now() - a, err: String(e).slice(0, 200) };
  }
}));
const ok = res.filter((r) => r.ok);
const ms = ok.map((r) => r.ms).sort((a, b) => a - b);
log({ phase: 'commands', n, ok: ok.length, wall_ms: Date.now() - t0, p50_ms: ms[ms.length >> 1], max_ms: ms[ms.length - 1],
      errors: res.filter((r) => !r.ok).slice(0, 3) });

t0 = Date.now();
const killed = await pool(sbxs, 64, (s) => s.kill());
log({ phase: 'killed', n, ok: killed.filter(Boolean).length, ms: Date.now() - t0 });
