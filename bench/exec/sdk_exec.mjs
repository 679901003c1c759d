// bench/exec/sdk_exec.mjs: mean round trip of the official E2B SDK's
// commands.run('true') against sandboxd (E2B_API_URL / E2B_SANDBOX_URL /
// E2B_API_KEY from the environment), one client, sequential calls.
// Usage: node sdk_exec.mjs SECONDS  -> prints "calls mean_ms p50_ms p99_ms"
import { Sandbox } from '../../test/conformance/node_modules/e2b/dist/index.mjs'

const seconds = Number(process.argv[2] || 5)
const sbx = await Sandbox.create({ timeoutMs: 600_000 })
for (let i = 0; i < 20; i++) await sbx.commands.run('true') // warm up the connection
const times = []
const end = performance.now() + seconds * 1000
while (performance.now() < end) {
  const t0 = performance.now()
  await sbx.commands.run('true')
  times.push(performance.now() - t0)
}
await sbx.kill()
times.sort((a, b) => a - b)
const mean = times.reduce((a, b) => a + b, 0) / times.length
const pct = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))]
console.log(`${times.length} ${mean.toFixed(3)} ${pct(0.5).toFixed(3)} ${pct(0.99).toFixed(3)}`)
