// Conformance test: the official Anthropic (@anthropic-ai/sdk) and OpenAI
// (openai) npm SDKs against modeld.  run.sh starts modeld with --api-key and
// exports MODELD_URL, MODELD_API_KEY, ANTHROPIC_BASE_URL and OPENAI_BASE_URL.
//
// Every test uses its own prompt (a nonce), so the per-conversation
// fail_first counters and the prompt cache of one test never affect another.
// Also covered: the hostile_* and huge directives (raw bodies through fetch,
// the SDKs' acceptance), prompt-caching usage, and the usage objects against
// the SDKs' TypeScript types (tsc, a devDependency).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, execSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

const URL = process.env.MODELD_URL;
const TEST_DIR = fileURLToPath(new globalThis.URL('.', import.meta.url));
const KEY = process.env.MODELD_API_KEY;
assert.ok(URL && KEY, 'run through test/modeld/run.sh (MODELD_URL, MODELD_API_KEY)');

const MODEL = 'modeld-test-model';
const anthropic = new Anthropic({ apiKey: KEY, baseURL: process.env.ANTHROPIC_BASE_URL });
const openai = new OpenAI({ apiKey: KEY, baseURL: process.env.OPENAI_BASE_URL });

// Tool declarations in each provider's format.
const TOOL_DEFS = [
  { name: 'run_command', description: 'Run a shell command', params: { command: { type: 'string' } }, required: ['command'] },
  { name: 'write_file', description: 'Write a file', params: { path: { type: 'string' }, content: { type: 'string' } }, required: ['path', 'content'] },
];
const ANTHROPIC_TOOLS = TOOL_DEFS.map((t) => ({
  name: t.name, description: t.description,
  input_schema: { type: 'object', properties: t.params, required: t.required },
}));
const OPENAI_TOOLS = TOOL_DEFS.map((t) => ({
  type: 'function',
  function: { name: t.name, description: t.description, parameters: { type: 'object', properties: t.params, required: t.required } },
}));

let nonceCounter = 0;
// A prompt unique to this test run and call site.
function prompt(body) {
  return `Task ${process.pid}-${Date.now()}-${++nonceCounter}.\n${body}`;
}

const SCRIPT = [
  'Run these, in order:',
  '```bash',
  'echo "hello from bash"',
  '```',
  '```python',
  'print(6 * 7)',
  '```',
].join('\n');

// Really runs the scripted tool calls, with /home/user mapped to a temp dir.
const HOME = mkdtempSync(join(tmpdir(), 'modeld-test-'));
function runTool(name, input) {
  const map = (s) => s.replaceAll('/home/user/', `${HOME}/`);
  if (name === 'run_command') {
    return execSync(map(input.command), { shell: '/bin/bash', encoding: 'utf8' });
  }
  if (name === 'write_file') {
    writeFileSync(map(input.path), input.content);
    return `wrote ${input.content.length} bytes to ${input.path}`;
  }
  throw new Error(`unknown tool ${name}`);
}

async function admin(method, path, body) {
  const res = await fetch(`${URL}${path}`, {
    method,
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(res.status < 400, `${method} ${path} -> ${res.status}`);
  return res.status === 204 ? null : res.json();
}

// Number of answers modeld gave on a route with a status (from /admin/stats).
// httpd counts a request when its connection reports completion, which can
// lag the client seeing the answer by a moment, so poll (up to 2 s) until
// the count reaches `expected`, then return it.
async function served(route, status, expected) {
  const deadline = Date.now() + 2000;
  for (;;) {
    const stats = await admin('GET', '/admin/stats');
    const n = stats.requests?.model?.[route]?.[String(status)] ?? 0;
    if (n >= expected || Date.now() > deadline) return n;
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Drives the Anthropic tool-use loop as the SDK docs show: append the
// assistant turn unchanged, then one user turn with a tool_result per
// tool_use block.
async function anthropicLoop(text, client = anthropic) {
  const messages = [{ role: 'user', content: text }];
  const calls = [];
  for (let turn = 0; turn < 10; turn++) {
    const msg = await client.messages.create({ model: MODEL, max_tokens: 1024, tools: ANTHROPIC_TOOLS, messages });
    if (msg.stop_reason !== 'tool_use') return { msg, calls, messages };
    messages.push({ role: 'assistant', content: msg.content });
    const results = [];
    for (const block of msg.content) {
      if (block.type !== 'tool_use') continue;
      const out = runTool(block.name, block.input);
      calls.push({ name: block.name, input: block.input, out });
      results.push({ type: 'tool_result', tool_use_id: block.id, content: out });
    }
    messages.push({ role: 'user', content: results });
  }
  throw new Error('no final answer after 10 turns');
}

// Drives the OpenAI tool loop: append the assistant message, then one
// role=tool message per tool call.
async function openaiLoop(text) {
  const messages = [{ role: 'system', content: 'You are a careful agent.' }, { role: 'user', content: text }];
  const calls = [];
  for (let turn = 0; turn < 10; turn++) {
    const res = await openai.chat.completions.create({ model: MODEL, messages, tools: OPENAI_TOOLS });
    const choice = res.choices[0];
    if (choice.finish_reason !== 'tool_calls') return { res, calls, messages };
    messages.push(choice.message);
    for (const tc of choice.message.tool_calls) {
      const input = JSON.parse(tc.function.arguments);
      const out = runTool(tc.function.name, input);
      calls.push({ name: tc.function.name, input, out });
      messages.push({ role: 'tool', tool_call_id: tc.id, content: out });
    }
  }
  throw new Error('no final answer after 10 turns');
}

const PLAN = 'Plan:\n1. Run the bash script\n2. Write and run the Python program\n3. Report the output\n';

before(async () => {
  await admin('DELETE', '/admin/faults');
  await admin('DELETE', '/admin/conversations');
});

// ---- planning calls ----

test('anthropic: planning call answers a numbered plan', async () => {
  const msg = await anthropic.messages.create({ model: MODEL, max_tokens: 512, messages: [{ role: 'user', content: prompt(SCRIPT) }] });
  assert.equal(msg.type, 'message');
  assert.equal(msg.role, 'assistant');
  assert.equal(msg.model, MODEL);
  assert.match(msg.id, /^msg_/);
  assert.equal(msg.stop_reason, 'end_turn');
  assert.deepEqual(msg.content, [{ type: 'text', text: PLAN }]);
  assert.ok(msg.usage.input_tokens > 0 && msg.usage.output_tokens > 0);
  assert.match(msg._request_id, /^req_/);
});

test('openai: planning call answers a numbered plan', async () => {
  const res = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: prompt(SCRIPT) }] });
  assert.equal(res.object, 'chat.completion');
  assert.match(res.id, /^chatcmpl-/);
  assert.equal(res.choices[0].finish_reason, 'stop');
  assert.equal(res.choices[0].message.content, PLAN);
  assert.equal(res.choices[0].message.tool_calls, undefined);
  assert.equal(res.usage.total_tokens, res.usage.prompt_tokens + res.usage.completion_tokens);
  assert.match(res._request_id, /^req_/);
});

test('anthropic: anthropic-version 2023-06-01 is accepted too, a missing one is not', async () => {
  const old = new Anthropic({ apiKey: KEY, baseURL: process.env.ANTHROPIC_BASE_URL, defaultHeaders: { 'anthropic-version': '2023-06-01' } });
  const msg = await old.messages.create({ model: MODEL, max_tokens: 64, temperature: 0, messages: [{ role: 'user', content: prompt('hi') }] });
  assert.equal(msg.stop_reason, 'end_turn');
  const res = await fetch(`${URL}/v1/messages`, {
    method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.error.type, 'invalid_request_error');
  assert.match(body.error.message, /anthropic-version/);
});

// ---- tool loops ----

test('anthropic: tool-use loop runs every block and quotes the last output', async () => {
  const { msg, calls } = await anthropicLoop(prompt(SCRIPT));
  assert.deepEqual(calls.map((c) => [c.name, c.input]), [
    ['run_command', { command: 'echo "hello from bash"' }],
    ['write_file', { path: '/home/user/program_1.py', content: 'print(6 * 7)' }],
    ['run_command', { command: 'python3 /home/user/program_1.py' }],
  ]);
  assert.equal(calls[0].out, 'hello from bash\n');
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(msg.content[0].text, 'Done. The last tool returned:\n42\n');
});

test('openai: tool-call loop runs every block and quotes the last output', async () => {
  const { res, calls } = await openaiLoop(prompt(SCRIPT));
  assert.deepEqual(calls.map((c) => c.name), ['run_command', 'write_file', 'run_command']);
  assert.equal(calls[2].input.command, 'python3 /home/user/program_1.py');
  assert.equal(res.choices[0].finish_reason, 'stop');
  assert.equal(res.choices[0].message.content, 'Done. The last tool returned:\n42\n');
});

test('anthropic: each tool call answer has a text block and one tool_use', async () => {
  const msg = await anthropic.messages.create({ model: MODEL, max_tokens: 256, tools: ANTHROPIC_TOOLS, messages: [{ role: 'user', content: prompt(SCRIPT) }] });
  assert.equal(msg.stop_reason, 'tool_use');
  assert.equal(msg.content.length, 2);
  assert.deepEqual(msg.content[0], { type: 'text', text: 'Running step 1.' });
  assert.equal(msg.content[1].type, 'tool_use');
  assert.match(msg.content[1].id, /^toolu_/);
});

test('parallel: all planned calls in one answer (both SDKs)', async () => {
  const text = prompt(`[[modeld: parallel]]\n${SCRIPT}`);
  const a = await anthropicLoop(text);
  assert.equal(a.messages.length, 3); // user, assistant with 3 tool_use, user with 3 results
  assert.equal(a.messages[1].content.filter((b) => b.type === 'tool_use').length, 3);
  assert.equal(a.msg.content[0].text, 'Done. The last tool returned:\n42\n');
  const o = await openaiLoop(prompt(`[[modeld: parallel]]\n${SCRIPT}`));
  assert.equal(o.messages[2].tool_calls.length, 3);
  assert.equal(o.res.choices[0].message.content, 'Done. The last tool returned:\n42\n');
});

test('loop directive never finishes', async () => {
  const messages = [{ role: 'user', content: prompt('[[modeld: loop]] keep going\n```bash\necho once\n```') }];
  for (let n = 1; n <= 4; n++) {
    const msg = await anthropic.messages.create({ model: MODEL, max_tokens: 256, tools: ANTHROPIC_TOOLS, messages });
    assert.equal(msg.stop_reason, 'tool_use');
    const tu = msg.content.find((b) => b.type === 'tool_use');
    assert.deepEqual(tu.input, { command: `echo turn ${n}` });
    messages.push({ role: 'assistant', content: msg.content });
    messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: tu.id, content: `turn ${n}\n` }] });
  }
});

test('a tool that the request does not declare is never called', async () => {
  const msg = await anthropic.messages.create({
    model: MODEL, max_tokens: 256, tools: [ANTHROPIC_TOOLS[1]],
    messages: [{ role: 'user', content: prompt('```bash\necho x\n```') }],
  });
  assert.equal(msg.stop_reason, 'end_turn');
  assert.match(msg.content[0].text, /"run_command", which this request does not declare/);
});

// ---- error directives and retries ----

test('anthropic: 429 -> RateLimitError after the SDK retried twice', async () => {
  await admin('POST', '/admin/stats/reset');
  const err = await anthropic.messages
    .create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: prompt('[[modeld: status=429 retry_after_ms=1]]') }] })
    .catch((e) => e);
  assert.ok(err instanceof Anthropic.RateLimitError, `got ${err}`);
  assert.equal(err.status, 429);
  assert.equal(err.type, 'rate_limit_error');
  assert.match(err.requestID, /^req_/);
  assert.equal(err.headers.get('retry-after'), '1');
  assert.equal(err.headers.get('retry-after-ms'), '1');
  assert.equal(await served('POST /v1/messages', 429, 3), 3);
});

test('openai: 429 -> RateLimitError after the SDK retried twice', async () => {
  await admin('POST', '/admin/stats/reset');
  const err = await openai.chat.completions
    .create({ model: MODEL, messages: [{ role: 'user', content: prompt('[[modeld: status=429 retry_after_ms=0]]') }] })
    .catch((e) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `got ${err}`);
  assert.equal(err.code, 'rate_limit_exceeded');
  assert.equal(await served('POST /v1/chat/completions', 429, 3), 3);
});

test('fail_first: the SDK retries through scripted 429s and succeeds', async () => {
  await admin('POST', '/admin/stats/reset');
  const msg = await anthropic.messages.create({
    model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: prompt('[[modeld: status=429 fail_first=2 retry_after_ms=1]] hi') }],
  });
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(await served('POST /v1/messages', 429, 2), 2);
  assert.equal(await served('POST /v1/messages', 200, 1), 1);
});

test('anthropic: 500 -> InternalServerError, 529 -> OverloadedError', async () => {
  const e500 = await anthropic.messages
    .create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: prompt('[[modeld: status=500 retry_after_ms=1]]') }] })
    .catch((e) => e);
  assert.ok(e500 instanceof Anthropic.InternalServerError, `got ${e500}`);
  assert.equal(e500.type, 'api_error');
  await admin('POST', '/admin/stats/reset');
  const e529 = await anthropic.messages
    .create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: prompt('[[modeld: status=529 should_retry=false]]') }] })
    .catch((e) => e);
  assert.ok(e529 instanceof Anthropic.OverloadedError, `got ${e529}`);
  assert.equal(e529.status, 529);
  assert.equal(e529.type, 'overloaded_error');
  assert.equal(await served('POST /v1/messages', 529, 1), 1); // x-should-retry: false
});

test('openai: 500 and 503 -> InternalServerError', async () => {
  for (const status of [500, 503]) {
    const err = await openai.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: prompt(`[[modeld: status=${status} retry_after_ms=0]]`) }] })
      .catch((e) => e);
    assert.ok(err instanceof OpenAI.InternalServerError, `got ${err}`);
    assert.equal(err.status, status);
    assert.equal(err.type, 'server_error');
  }
});

test('400 directive -> BadRequestError with the message (both SDKs)', async () => {
  const text = prompt('[[modeld: status=400]]');
  const a = await anthropic.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: text }] }).catch((e) => e);
  assert.ok(a instanceof Anthropic.BadRequestError, `got ${a}`);
  assert.equal(a.type, 'invalid_request_error');
  assert.equal(a.apiMessage, 'modeld: scripted error (directive status=400)');
  const o = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: text }] }).catch((e) => e);
  assert.ok(o instanceof OpenAI.BadRequestError, `got ${o}`);
  assert.equal(o.error.message, 'modeld: scripted error (directive status=400)');
  assert.equal(o.type, 'invalid_request_error');
});

test('on=exec: the planning call passes, the execution call fails', async () => {
  const text = prompt('[[modeld: status=503 on=exec should_retry=false]]\n```bash\necho x\n```');
  const plan = await anthropic.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: text }] });
  assert.equal(plan.stop_reason, 'end_turn');
  const err = await anthropic.messages
    .create({ model: MODEL, max_tokens: 64, tools: ANTHROPIC_TOOLS, messages: [{ role: 'user', content: text }] })
    .catch((e) => e);
  assert.ok(err instanceof Anthropic.ServiceUnavailableError, `got ${err}`);
});

test('unknown directive -> 400 naming it', async () => {
  const err = await openai.chat.completions
    .create({ model: MODEL, messages: [{ role: 'user', content: prompt('[[modeld: stauts=429]]') }] })
    .catch((e) => e);
  assert.ok(err instanceof OpenAI.BadRequestError, `got ${err}`);
  assert.match(err.message, /unknown modeld directive 'stauts'/);
});

test('malformed -> the SDKs reject the answer', async () => {
  const text = prompt('[[modeld: malformed]]');
  await assert.rejects(anthropic.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: text }] }));
  await assert.rejects(openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: text }] }));
});

test('drop -> APIConnectionError', async () => {
  const noRetry = new OpenAI({ apiKey: KEY, baseURL: process.env.OPENAI_BASE_URL, maxRetries: 0 });
  const err = await noRetry.chat.completions
    .create({ model: MODEL, messages: [{ role: 'user', content: prompt('[[modeld: drop]]') }] })
    .catch((e) => e);
  assert.ok(err instanceof OpenAI.APIConnectionError, `got ${err}`);
});

test('max_tokens -> stop_reason max_tokens / finish_reason length, no tool call', async () => {
  const text = prompt(`[[modeld: max_tokens]]\n${SCRIPT}`);
  const msg = await anthropic.messages.create({ model: MODEL, max_tokens: 64, tools: ANTHROPIC_TOOLS, messages: [{ role: 'user', content: text }] });
  assert.equal(msg.stop_reason, 'max_tokens');
  assert.equal(msg.content.length, 1);
  assert.equal(msg.content[0].type, 'text');
  assert.ok('Running step 1.'.startsWith(msg.content[0].text));
  const res = await openai.chat.completions.create({ model: MODEL, tools: OPENAI_TOOLS, messages: [{ role: 'user', content: text }] });
  assert.equal(res.choices[0].finish_reason, 'length');
  assert.equal(res.choices[0].message.tool_calls, undefined);
});

test('bad_tool_args: OpenAI arguments fail JSON.parse, Anthropic input lacks the field', async () => {
  const text = prompt(`[[modeld: bad_tool_args]]\n${SCRIPT}`);
  const res = await openai.chat.completions.create({ model: MODEL, tools: OPENAI_TOOLS, messages: [{ role: 'user', content: text }] });
  const args = res.choices[0].message.tool_calls[0].function.arguments;
  assert.equal(typeof args, 'string');
  assert.throws(() => JSON.parse(args), SyntaxError);
  const msg = await anthropic.messages.create({ model: MODEL, max_tokens: 64, tools: ANTHROPIC_TOOLS, messages: [{ role: 'user', content: text }] });
  const tu = msg.content.find((b) => b.type === 'tool_use');
  assert.deepEqual(tu.input, {});
});

test('empty -> final answer with empty text', async () => {
  const text = prompt(`[[modeld: empty]]\n${SCRIPT}`);
  const msg = await anthropic.messages.create({ model: MODEL, max_tokens: 64, tools: ANTHROPIC_TOOLS, messages: [{ role: 'user', content: text }] });
  assert.equal(msg.stop_reason, 'end_turn');
  assert.deepEqual(msg.content, [{ type: 'text', text: '' }]);
  const res = await openai.chat.completions.create({ model: MODEL, tools: OPENAI_TOOLS, messages: [{ role: 'user', content: text }] });
  assert.equal(res.choices[0].message.content, '');
});

// ---- authentication ----

test('a wrong key -> AuthenticationError (both SDKs); Bearer works for Anthropic', async () => {
  const badA = new Anthropic({ apiKey: 'wrong', baseURL: process.env.ANTHROPIC_BASE_URL });
  const a = await badA.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
  assert.ok(a instanceof Anthropic.AuthenticationError, `got ${a}`);
  assert.equal(a.type, 'authentication_error');
  const badO = new OpenAI({ apiKey: 'wrong', baseURL: process.env.OPENAI_BASE_URL });
  const o = await badO.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
  assert.ok(o instanceof OpenAI.AuthenticationError, `got ${o}`);
  assert.equal(o.code, 'invalid_api_key');
  const bearer = new Anthropic({ apiKey: null, authToken: KEY, baseURL: process.env.ANTHROPIC_BASE_URL });
  const ok = await bearer.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: prompt('hi') }] });
  assert.equal(ok.stop_reason, 'end_turn');
});

// ---- validation of client bugs ----

test('anthropic: a tool_use without its tool_result -> BadRequestError', async () => {
  const text = prompt(SCRIPT);
  const first = await anthropic.messages.create({ model: MODEL, max_tokens: 64, tools: ANTHROPIC_TOOLS, messages: [{ role: 'user', content: text }] });
  const err = await anthropic.messages
    .create({
      model: MODEL, max_tokens: 64, tools: ANTHROPIC_TOOLS,
      messages: [
        { role: 'user', content: text },
        { role: 'assistant', content: first.content },
        { role: 'user', content: 'I ran it, it printed hello' },
      ],
    })
    .catch((e) => e);
  assert.ok(err instanceof Anthropic.BadRequestError, `got ${err}`);
  assert.match(err.apiMessage, /^messages\.1: tool_use ids were found without tool_result blocks immediately after: toolu_/);
});

test('anthropic: roles must alternate; max_tokens is required', async () => {
  const alt = await anthropic.messages
    .create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] })
    .catch((e) => e);
  assert.ok(alt instanceof Anthropic.BadRequestError);
  assert.match(alt.apiMessage, /roles must alternate/);
  const res = await fetch(`${URL}/v1/messages`, {
    method: 'POST', headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.status, 400);
  assert.match((await res.json()).error.message, /^max_tokens: Field required/);
});

test('anthropic 2026-10-21: temperature is rejected', async () => {
  const err = await anthropic.messages
    .create({ model: MODEL, max_tokens: 64, temperature: 0.5, messages: [{ role: 'user', content: 'hi' }] })
    .catch((e) => e);
  assert.ok(err instanceof Anthropic.BadRequestError, `got ${err}`);
  assert.match(err.apiMessage, /temperature/);
});

test('openai: a tool_call without a tool message -> BadRequestError', async () => {
  const text = prompt(SCRIPT);
  const first = await openai.chat.completions.create({ model: MODEL, tools: OPENAI_TOOLS, messages: [{ role: 'user', content: text }] });
  const call = first.choices[0].message;
  const err = await openai.chat.completions
    .create({ model: MODEL, tools: OPENAI_TOOLS, messages: [{ role: 'user', content: text }, call, { role: 'user', content: 'done?' }] })
    .catch((e) => e);
  assert.ok(err instanceof OpenAI.BadRequestError, `got ${err}`);
  assert.match(err.message, /did not have response messages: call_/);
  const objArgs = structuredClone(call);
  objArgs.tool_calls[0].function.arguments = { command: 'x' };
  const err2 = await openai.chat.completions
    .create({ model: MODEL, tools: OPENAI_TOOLS, messages: [{ role: 'user', content: text }, objArgs, { role: 'tool', tool_call_id: call.tool_calls[0].id, content: 'x' }] })
    .catch((e) => e);
  assert.ok(err2 instanceof OpenAI.BadRequestError, `got ${err2}`);
  assert.match(err2.message, /arguments': expected a string/);
});

// ---- fault injection through the admin API ----

test('admin faults: an injected 503 fires once, then the call succeeds', async () => {
  const rule = await admin('POST', '/admin/faults', { server: 'model', path: '/v1/chat/completions', error_rate: 1, error_status: 503, times: 1 });
  assert.ok(rule.id > 0);
  const noRetry = new OpenAI({ apiKey: KEY, baseURL: process.env.OPENAI_BASE_URL, maxRetries: 0 });
  const err = await noRetry.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: prompt('hi') }] }).catch((e) => e);
  assert.ok(err instanceof OpenAI.InternalServerError, `got ${err}`);
  assert.equal(err.status, 503);
  assert.equal(err.error.message, 'injected fault');
  const ok = await noRetry.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: prompt('hi') }] });
  assert.equal(ok.choices[0].finish_reason, 'stop');
  const cfg = await admin('GET', '/admin/faults');
  assert.equal(cfg.rules.find((r) => r.id === rule.id).hits, 1);
  await admin('DELETE', '/admin/faults');
});

test('admin faults: an injected 429 is a RateLimitError with the Anthropic body', async () => {
  await admin('PUT', '/admin/faults', { rules: [{ path: '/v1/messages', rate_limit_rate: 1, retry_after: 0, times: 1 }] });
  const noRetry = new Anthropic({ apiKey: KEY, baseURL: process.env.ANTHROPIC_BASE_URL, maxRetries: 0 });
  const err = await noRetry.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: prompt('hi') }] }).catch((e) => e);
  assert.ok(err instanceof Anthropic.RateLimitError, `got ${err}`);
  assert.equal(err.type, 'rate_limit_error');
  assert.equal(err.headers.get('retry-after'), '0');
  await admin('DELETE', '/admin/faults');
});

// ---- streaming ----

test('anthropic: streaming tool loop with messages.stream()', async () => {
  const messages = [{ role: 'user', content: prompt(SCRIPT) }];
  for (let turn = 0; turn < 5; turn++) {
    const final = await anthropic.messages.stream({ model: MODEL, max_tokens: 1024, tools: ANTHROPIC_TOOLS, messages }).finalMessage();
    if (final.stop_reason !== 'tool_use') {
      assert.equal(final.content[0].text, 'Done. The last tool returned:\n42\n');
      return;
    }
    messages.push({ role: 'assistant', content: final.content });
    const results = final.content.filter((b) => b.type === 'tool_use')
      .map((b) => ({ type: 'tool_result', tool_use_id: b.id, content: runTool(b.name, b.input) }));
    messages.push({ role: 'user', content: results });
  }
  assert.fail('no final answer');
});

test('openai: streaming chunks assemble into a tool call', async () => {
  const stream = await openai.chat.completions.create({
    model: MODEL, tools: OPENAI_TOOLS, stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: prompt(SCRIPT) }],
  });
  let args = '', name = '', finish = null, usage = null, content = '';
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    content += c.delta.content ?? '';
    for (const tc of c.delta.tool_calls ?? []) {
      name += tc.function?.name ?? '';
      args += tc.function?.arguments ?? '';
    }
    finish = c.finish_reason ?? finish;
  }
  assert.equal(content, 'Running step 1.');
  assert.equal(name, 'run_command');
  assert.deepEqual(JSON.parse(args), { command: 'echo "hello from bash"' });
  assert.equal(finish, 'tool_calls');
  assert.ok(usage.completion_tokens > 0);
});

test('admin faults: a stream dropped mid-way is an SDK error', async () => {
  await admin('PUT', '/admin/faults', { rules: [{ path: '/v1/messages', drop_rate: 1, after_messages: 2, times: 1 }] });
  const noRetry = new Anthropic({ apiKey: KEY, baseURL: process.env.ANTHROPIC_BASE_URL, maxRetries: 0 });
  await assert.rejects(noRetry.messages.stream({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: prompt('hi') }] }).finalMessage());
  await admin('DELETE', '/admin/faults');
});

test('admin faults: a stream cut before message_stop is an Anthropic SDK error', async () => {
  await admin('PUT', '/admin/faults', { rules: [{ path: '/v1/messages', cut_rate: 1, times: 1 }] });
  const noRetry = new Anthropic({ apiKey: KEY, baseURL: process.env.ANTHROPIC_BASE_URL, maxRetries: 0 });
  await assert.rejects(
    noRetry.messages.stream({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: prompt('hi') }] }).finalMessage(),
    /stream ended without producing a Message/,
  );
  await admin('DELETE', '/admin/faults');
});

test('malformed + stream -> both SDKs fail to parse the events', async () => {
  const text = prompt('[[modeld: malformed]]');
  await assert.rejects(anthropic.messages.stream({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: text }] }).finalMessage());
  await assert.rejects(async () => {
    const stream = await openai.chat.completions.create({ model: MODEL, stream: true, messages: [{ role: 'user', content: text }] });
    for await (const chunk of stream) void chunk;
  }, /malformed server-sent event JSON/);
});

// ---- models ----

test('models list works with both SDKs', async () => {
  const a = await anthropic.models.list();
  assert.equal(a.data[0].id, 'modeld');
  const o = await openai.models.list();
  assert.equal(o.data[0].id, 'modeld');
});

// ---- hostile answers (directives hostile_*, huge) ----
//
// Each shape passes a JSON lexer (JSON.parse, so both SDKs, accept it) but
// not PostgreSQL's jsonb: 1e999999 and a 200000-digit integer are outside
// numeric's range, 100000 nested arrays exceed the stack depth limit.  The
// raw body is checked with fetch, the SDKs' acceptance with the SDKs.

const SHAPES = {
  bignum: '1e999999',
  negbignum: '-1e999999',
  longint: Array.from({ length: 200000 }, (_, i) => String((i + 1) % 10)).join(''),
  deep: '['.repeat(100000) + ']'.repeat(100000),
};

async function rawPost(path, body) {
  const anthropicPath = path === '/v1/messages';
  const res = await fetch(`${URL}${path}`, {
    method: 'POST',
    headers: anthropicPath
      ? { 'x-api-key': KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }
      : { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}
const rawAnthropic = (body) => rawPost('/v1/messages', { model: MODEL, max_tokens: 64, ...body });
const rawOpenAI = (body) => rawPost('/v1/chat/completions', { model: MODEL, ...body });

// Depth of nested single-element arrays (what `deep` parses to).
function depth(v) {
  let d = 0;
  while (Array.isArray(v)) { d++; v = v[0]; }
  return d;
}

test('hostile_text: the plan / final answer text field is the raw shape (both providers)', async () => {
  for (const [shape, raw] of Object.entries(SHAPES)) {
    const text = prompt(`[[modeld: hostile_text=${shape}]] hi`);
    const a = await rawAnthropic({ messages: [{ role: 'user', content: text }] });
    assert.equal(a.status, 200);
    assert.ok(a.text.includes(`"content":[{"type":"text","text":${raw}}]`), `anthropic ${shape}`);
    const o = await rawOpenAI({ messages: [{ role: 'user', content: text }] });
    assert.ok(o.text.includes(`"content":${raw},"refusal":null`), `openai ${shape}`);
  }
  // the SDKs' JSON parsing accepts them (JSON.parse: Infinity, nested arrays)
  const msg = await anthropic.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: prompt('[[modeld: hostile_text=negbignum]]') }] });
  assert.equal(msg.content[0].text, -Infinity);
  const res = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: prompt('[[modeld: hostile_text=deep]]') }] });
  assert.equal(depth(res.choices[0].message.content), 100000);
});

test('hostile_text applies to text answers only: plan and final answer, not tool-call turns', async () => {
  const text = prompt('[[modeld: hostile_text=bignum hostile_depth=5]]\n```bash\necho hi\n```');
  const plan = await rawAnthropic({ messages: [{ role: 'user', content: text }] });
  assert.match(plan.text, /"text":1e999999/);
  const call = await anthropic.messages.create({ model: MODEL, max_tokens: 64, tools: ANTHROPIC_TOOLS, messages: [{ role: 'user', content: text }] });
  assert.equal(call.stop_reason, 'tool_use');
  assert.equal(call.content[0].text, 'Running step 1.');
  const tu = call.content[1];
  const final = await rawAnthropic({
    tools: ANTHROPIC_TOOLS,
    messages: [{ role: 'user', content: text }, { role: 'assistant', content: call.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: tu.id, content: 'hi\n' }] }],
  });
  assert.match(final.text, /"content":\[\{"type":"text","text":1e999999\}\],"stop_reason":"end_turn"/);
  // on=plan scopes it to the planning call
  const scoped = prompt('[[modeld: hostile_text=longint hostile_digits=40 on=plan]] hi');
  assert.match((await rawOpenAI({ messages: [{ role: 'user', content: scoped }] })).text, /"content":1234567890123456789012345678901234567890,/);
  const exec = await openai.chat.completions.create({ model: MODEL, tools: OPENAI_TOOLS, messages: [{ role: 'user', content: scoped }] });
  assert.match(exec.choices[0].message.content, /^Done\./);
});

test('hostile_json_text: valid JSON around, the text is {"result":SHAPE}', async () => {
  const text = prompt('[[modeld: hostile_json_text=deep]]');
  const msg = await anthropic.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: text }] });
  assert.equal(msg.content[0].text, `{"result":${SHAPES.deep}}`);
  const res = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: prompt('[[modeld: hostile_json_text=bignum]]') }] });
  assert.equal(res.choices[0].message.content, '{"result":1e999999}');
});

test('hostile_input: Anthropic tool_use.input values raw, OpenAI inside the arguments string', async () => {
  const text = prompt(`[[modeld: hostile_input=bignum]]\n${SCRIPT}`);
  const a = await rawAnthropic({ tools: ANTHROPIC_TOOLS, messages: [{ role: 'user', content: text }] });
  assert.match(a.text, /"name":"run_command","input":\{"command":1e999999\}/);
  const o = await openai.chat.completions.create({ model: MODEL, tools: OPENAI_TOOLS, messages: [{ role: 'user', content: text }] });
  assert.equal(o.choices[0].message.tool_calls[0].function.arguments, '{"command":1e999999}');
  // every argument of a write_file; deep parses (JSON.parse) to 100000 levels
  const py = prompt('[[modeld: hostile_input=deep]]\n```python\nprint(1)\n```');
  const r = await openai.chat.completions.create({ model: MODEL, tools: OPENAI_TOOLS, messages: [{ role: 'user', content: py }] });
  const args = r.choices[0].message.tool_calls[0].function.arguments;
  assert.equal(args, `{"path":${SHAPES.deep},"content":${SHAPES.deep}}`);
  assert.equal(depth(JSON.parse(args).content), 100000);
  const m = await anthropic.messages.create({ model: MODEL, max_tokens: 64, tools: ANTHROPIC_TOOLS, messages: [{ role: 'user', content: py }] });
  assert.equal(depth(m.content[1].input.path), 100000);
});

test('hostile_usage: every usage count is the raw shape (JSON and streams)', async () => {
  const text = prompt('[[modeld: hostile_usage=longint]]');
  const a = await rawAnthropic({ messages: [{ role: 'user', content: text }] });
  assert.ok(a.text.includes(`"usage":{"input_tokens":${SHAPES.longint},"cache_creation_input_tokens":${SHAPES.longint},`));
  const o = await rawOpenAI({ messages: [{ role: 'user', content: text }] });
  assert.ok(o.text.includes(`"usage":{"prompt_tokens":${SHAPES.longint},"completion_tokens":${SHAPES.longint},`));
  const res = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: prompt('[[modeld: hostile_usage=bignum]]') }] });
  assert.equal(res.usage.prompt_tokens, Infinity);
  // streams: message_start / message_delta usage, the include_usage chunk
  const s = await rawAnthropic({ stream: true, messages: [{ role: 'user', content: prompt('[[modeld: hostile_usage=negbignum]]') }] });
  assert.match(s.text, /event: message_start\ndata: .*"usage":\{"input_tokens":-1e999999,/);
  assert.match(s.text, /event: message_delta\ndata: .*"usage":\{"input_tokens":-1e999999,/);
  const so = await rawOpenAI({ stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: prompt('[[modeld: hostile_usage=deep hostile_depth=3]]') }] });
  assert.match(so.text, /"choices":\[\],"usage":\{"prompt_tokens":\[\[\[\]\]\],/);
});

test('hostile shapes in streams: text delta and tool arguments (both SDKs)', async () => {
  const s = await rawAnthropic({ stream: true, messages: [{ role: 'user', content: prompt('[[modeld: hostile_text=bignum]]') }] });
  assert.match(s.text, /"delta":\{"type":"text_delta","text":1e999999\}/);
  const so = await rawOpenAI({ stream: true, messages: [{ role: 'user', content: prompt('[[modeld: hostile_text=negbignum]]') }] });
  assert.match(so.text, /"delta":\{"content":-1e999999\}/);
  // tool inputs arrive as string pieces; assembled, they hold the shape
  const text = prompt(`[[modeld: hostile_input=deep]]\n${SCRIPT}`);
  const final = await anthropic.messages.stream({ model: MODEL, max_tokens: 64, tools: ANTHROPIC_TOOLS, messages: [{ role: 'user', content: text }] }).finalMessage();
  assert.equal(depth(final.content[1].input.command), 100000);
  const stream = await openai.chat.completions.create({ model: MODEL, tools: OPENAI_TOOLS, stream: true, messages: [{ role: 'user', content: text }] });
  let args = '';
  for await (const chunk of stream) for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) args += tc.function?.arguments ?? '';
  assert.equal(args, `{"command":${SHAPES.deep}}`);
});

test('huge=SIZE: text answers of exactly SIZE bytes (JSON and stream)', async () => {
  const text = prompt('[[modeld: huge=2M]] hi');
  const msg = await anthropic.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: text }] });
  assert.equal(Buffer.byteLength(msg.content[0].text), 2 * 1024 * 1024);
  assert.match(msg.content[0].text, /^Plan:\n1\. Answer the request directly\n\nmodeld huge answer/);
  assert.equal(msg.usage.output_tokens, 512 * 1024);
  const streamed = await anthropic.messages.stream({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: text }] }).finalMessage();
  assert.equal(streamed.content[0].text, msg.content[0].text);
  const res = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: prompt('[[modeld: huge=100000]]') }] });
  assert.equal(res.choices[0].message.content.length, 100000);
});

test('hostile directives: bad values are 400s naming them', async () => {
  for (const [d, re] of [['hostile_text=huge', /'hostile_text' must be bignum, negbignum, longint or deep/],
    ['hostile_depth=0', /'hostile_depth' needs an integer/], ['huge=2T', /'huge' needs a size/], ['huge=2G', /'huge' needs a size/]]) {
    const err = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: prompt(`[[modeld: ${d}]]`) }] }).catch((e) => e);
    assert.ok(err instanceof OpenAI.BadRequestError, `${d}: got ${err}`);
    assert.match(err.message, re);
  }
});

// ---- prompt caching usage ----
//
// Tokens are request bytes / 4; the minimum cacheable prompt is 1024 tokens,
// so cached prefixes here are a few KB.  Each test uses its own nonce, so a
// prefix is never cached by an earlier test.

const longText = (tag, bytes = 6000) => `${prompt(tag)} ${'All work and no play makes a dull agent. '.repeat(Math.ceil(bytes / 41))}`;

// A deep copy of an Anthropic conversation whose last block (only) carries
// a cache_control breakpoint, as agent loops do.
function lastBreakpoint(messages, cc = { type: 'ephemeral' }) {
  const out = structuredClone(messages).map((m) => ({
    ...m,
    content: typeof m.content === 'string' ? [{ type: 'text', text: m.content }]
      : m.content.map(({ cache_control, ...b }) => (void cache_control, b)),
  }));
  const last = out[out.length - 1].content;
  last[last.length - 1] = { ...last[last.length - 1], cache_control: cc };
  return out;
}

test('anthropic cache: a system breakpoint is written once, then read', async () => {
  const system = [{ type: 'text', text: longText('system'), cache_control: { type: 'ephemeral' } }];
  const ask = (q) => anthropic.messages.create({ model: MODEL, max_tokens: 64, system, messages: [{ role: 'user', content: prompt(q) }] });
  const first = await ask('one');
  assert.ok(first.usage.cache_creation_input_tokens >= 1024, JSON.stringify(first.usage));
  assert.equal(first.usage.cache_read_input_tokens, 0);
  assert.deepEqual(first.usage.cache_creation, { ephemeral_5m_input_tokens: first.usage.cache_creation_input_tokens, ephemeral_1h_input_tokens: 0 });
  const second = await ask('two, another question');
  assert.equal(second.usage.cache_read_input_tokens, first.usage.cache_creation_input_tokens);
  assert.equal(second.usage.cache_creation_input_tokens, 0);
  // input_tokens excludes the cached part: only the uncached tail is left
  assert.ok(second.usage.input_tokens > 0 && second.usage.input_tokens < 100, JSON.stringify(second.usage));
  assert.ok(second.usage.input_tokens >= first.usage.input_tokens); // a longer question
  // another model: another cache
  const other = await anthropic.messages.create({ model: `${MODEL}-2`, max_tokens: 64, system, messages: [{ role: 'user', content: 'x' }] });
  assert.equal(other.usage.cache_read_input_tokens, 0);
  assert.equal(other.usage.cache_creation_input_tokens, first.usage.cache_creation_input_tokens);
});

test('anthropic cache: a growing tool loop reads what the previous turn wrote', async () => {
  const system = [{ type: 'text', text: longText('loop system'), cache_control: { type: 'ephemeral' } }];
  let messages = [{ role: 'user', content: prompt(SCRIPT) }];
  const usages = [];
  for (let turn = 0; turn < 10; turn++) {
    const msg = await anthropic.messages.create({ model: MODEL, max_tokens: 1024, system, tools: ANTHROPIC_TOOLS, messages: lastBreakpoint(messages) });
    usages.push(msg.usage);
    if (msg.stop_reason !== 'tool_use') break;
    messages.push({ role: 'assistant', content: msg.content });
    messages.push({ role: 'user', content: msg.content.filter((b) => b.type === 'tool_use').map((b) => ({ type: 'tool_result', tool_use_id: b.id, content: runTool(b.name, b.input) })) });
  }
  assert.equal(usages.length, 4); // 3 tool calls, then the final answer
  assert.equal(usages[0].cache_read_input_tokens, 0);
  for (let k = 1; k < usages.length; k++) {
    const prev = usages[k - 1];
    assert.equal(usages[k].cache_read_input_tokens, prev.cache_read_input_tokens + prev.cache_creation_input_tokens, `turn ${k + 1}`);
    assert.ok(usages[k].cache_creation_input_tokens > 0, `turn ${k + 1} writes its new turn`);
  }
});

test('anthropic cache: ttl 1h, top-level cache_control, the minimum length, at most 4 breakpoints', async () => {
  const long = longText('ttl');
  const h = await anthropic.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: [{ type: 'text', text: long, cache_control: { type: 'ephemeral', ttl: '1h' } }] }] });
  assert.equal(h.usage.cache_creation.ephemeral_1h_input_tokens, h.usage.cache_creation_input_tokens);
  assert.ok(h.usage.cache_creation_input_tokens >= 1024);
  // top-level cache_control marks the last block: same prefix, read
  const t = await anthropic.messages.create({ model: MODEL, max_tokens: 64, cache_control: { type: 'ephemeral' }, messages: [{ role: 'user', content: long }] });
  assert.equal(t.usage.cache_read_input_tokens, h.usage.cache_creation_input_tokens);
  // below 1024 tokens nothing is cached
  const short = await anthropic.messages.create({ model: MODEL, max_tokens: 64, messages: lastBreakpoint([{ role: 'user', content: prompt('short') }]) });
  assert.equal(short.usage.cache_creation_input_tokens, 0);
  const again = await anthropic.messages.create({ model: MODEL, max_tokens: 64, messages: lastBreakpoint([{ role: 'user', content: prompt('short') }]) });
  assert.equal(again.usage.cache_read_input_tokens, 0);
  // 5 breakpoints: the API's 400
  const blocks = Array.from({ length: 5 }, (_, i) => ({ type: 'text', text: `b${i}`, cache_control: { type: 'ephemeral' } }));
  const err = await anthropic.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: blocks }] }).catch((e) => e);
  assert.ok(err instanceof Anthropic.BadRequestError, `got ${err}`);
  assert.equal(err.apiMessage, 'A maximum of 4 blocks with cache_control may be provided. Found 5.');
  const bad = await anthropic.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: [{ type: 'text', text: 'x', cache_control: { type: 'persistent' } }] }] }).catch((e) => e);
  assert.ok(bad instanceof Anthropic.BadRequestError, `got ${bad}`);
  assert.match(bad.apiMessage, /messages\.0\.content\.0\.cache_control\.type/);
});

test('openai cache: automatic for prompts of 1024+ tokens, cached_tokens in 128-token steps', async () => {
  const messages = [{ role: 'system', content: longText('openai system') }, { role: 'user', content: prompt('question') }];
  const first = await openai.chat.completions.create({ model: MODEL, messages });
  assert.ok(first.usage.prompt_tokens >= 1024);
  assert.equal(first.usage.prompt_tokens_details.cached_tokens, 0);
  const second = await openai.chat.completions.create({ model: MODEL, messages });
  const cached = second.usage.prompt_tokens_details.cached_tokens;
  assert.ok(cached >= 1024 && cached <= second.usage.prompt_tokens && (cached - 1024) % 128 === 0, `cached ${cached}`);
  assert.equal(second.usage.prompt_tokens, first.usage.prompt_tokens); // prompt_tokens includes the cached part
  assert.equal(second.usage.total_tokens, second.usage.prompt_tokens + second.usage.completion_tokens);
  const longer = await openai.chat.completions.create({ model: MODEL, messages: [...messages, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'and then?' }] });
  assert.ok(longer.usage.prompt_tokens_details.cached_tokens >= cached);
  const short = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: prompt('short') }] });
  const shortAgain = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: prompt('short') }] });
  assert.equal(short.usage.prompt_tokens_details.cached_tokens, 0);
  assert.equal(shortAgain.usage.prompt_tokens_details.cached_tokens, 0);
});

test('cache: DELETE /admin/cache forgets, stats count the tokens', async () => {
  const system = [{ type: 'text', text: longText('admin'), cache_control: { type: 'ephemeral' } }];
  const ask = () => anthropic.messages.create({ model: MODEL, max_tokens: 64, system, messages: [{ role: 'user', content: 'q' }] });
  await admin('POST', '/admin/stats/reset');
  const w = await ask();
  const r = await ask();
  assert.equal(r.usage.cache_read_input_tokens, w.usage.cache_creation_input_tokens);
  const stats = await admin('GET', '/admin/stats');
  assert.equal(stats.counters.model_cache_read_tokens, w.usage.cache_creation_input_tokens);
  assert.ok(stats.counters.model_cache_entries >= 1);
  await admin('DELETE', '/admin/cache');
  const again = await ask();
  assert.equal(again.usage.cache_read_input_tokens, 0);
  assert.equal(again.usage.cache_creation_input_tokens, w.usage.cache_creation_input_tokens);
});

test('cache: entries expire after the TTL (--cache-ttl-ms on a modeld of its own)', async () => {
  const bin = process.env.MODELD_BIN || join(TEST_DIR, '../../hosts/modeld/modeld');
  const child = spawn(bin, ['--port', '0', '--cache-ttl-ms', '1000', '--cache-min-tokens', '16'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const line = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => { out += d; if (out.includes('\n')) resolve(out); });
      child.on('exit', (code) => reject(new Error(`modeld exited ${code}`)));
    });
    const port = line.trim().split(':').pop();
    const client = new Anthropic({ apiKey: 'any', baseURL: `http://127.0.0.1:${port}` });
    const ask = () => client.messages.create({ model: MODEL, max_tokens: 64, messages: lastBreakpoint([{ role: 'user', content: 'a prompt of a little more than sixteen tokens, cached' }]) });
    const w = await ask();
    assert.ok(w.usage.cache_creation_input_tokens >= 16);
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    await sleep(600);
    assert.equal((await ask()).usage.cache_read_input_tokens, w.usage.cache_creation_input_tokens);
    await sleep(600); // 1.2 s after the write, 0.6 s after the hit that refreshed it
    assert.equal((await ask()).usage.cache_read_input_tokens, w.usage.cache_creation_input_tokens);
    await new Promise((r) => setTimeout(r, 1300));
    const expired = await ask();
    assert.equal(expired.usage.cache_read_input_tokens, 0);
    assert.equal(expired.usage.cache_creation_input_tokens, w.usage.cache_creation_input_tokens);
  } finally {
    child.kill('SIGTERM');
  }
});

// ---- rate limits (--rpm, --itpm) ----

// Starts a modeld of its own with `args`; returns { port, child, url }.
async function ownModeld(args) {
  const bin = process.env.MODELD_BIN || join(TEST_DIR, '../../hosts/modeld/modeld');
  const child = spawn(bin, ['--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => { out += d; if (out.includes('\n')) resolve(out); });
    child.on('exit', (code) => reject(new Error(`modeld exited ${code}`)));
  });
  const port = line.trim().split(':').pop();
  return { port, child, url: `http://127.0.0.1:${port}` };
}

async function ownAdmin(url, method, path, body) {
  const res = await fetch(`${url}${path}`, {
    method, headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(res.status < 400, `${method} ${path} -> ${res.status}`);
  return res.status === 204 ? null : res.json();
}

// An RFC 3339 UTC time to the second, between lo and hi ms from now.
function assertResetIn(value, lo, hi) {
  assert.match(value, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, `reset ${value}`);
  const dt = Date.parse(value) - Date.now();
  assert.ok(dt >= lo && dt <= hi, `reset ${value} is ${dt} ms away, expected ${lo}..${hi}`);
}

test('rate limits: --rpm 3, headers on every answer, the 4th call is a RateLimitError (both SDKs)', async () => {
  const m = await ownModeld(['--rpm', '3', '--itpm', '1000000']);
  try {
    const client = new Anthropic({ apiKey: 'any', baseURL: m.url, maxRetries: 0 });
    const oai = new OpenAI({ apiKey: 'any', baseURL: `${m.url}/v1`, maxRetries: 0 });
    const ask = () => client.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: prompt('hi') }] });
    for (let i = 1; i <= 3; i++) {
      const { data, response } = await ask().withResponse();
      assert.equal(data.type, 'message');
      const h = response.headers;
      assert.equal(h.get('anthropic-ratelimit-requests-limit'), '3');
      assert.equal(h.get('anthropic-ratelimit-requests-remaining'), String(3 - i));
      // full again after 20 s per request taken
      assertResetIn(h.get('anthropic-ratelimit-requests-reset'), i * 20000 - 3000, i * 20000 + 1000);
      assert.equal(h.get('anthropic-ratelimit-input-tokens-limit'), '1000000');
      const left = Number(h.get('anthropic-ratelimit-input-tokens-remaining'));
      assert.ok(left > 999000 && left < 1000000, `input tokens remaining ${left}`);
      assertResetIn(h.get('anthropic-ratelimit-input-tokens-reset'), -1000, 2000);
    }
    const err = await ask().catch((e) => e);
    assert.ok(err instanceof Anthropic.RateLimitError, `got ${err}`);
    assert.equal(err.status, 429);
    assert.equal(err.type, 'rate_limit_error');
    assert.match(err.error.error.message, /rate limit .* of 3 requests per minute/);
    const ra = Number(err.headers.get('retry-after'));
    assert.ok(ra >= 19 && ra <= 20, `retry-after ${ra}`);
    assert.equal(err.headers.get('anthropic-ratelimit-requests-remaining'), '0');
    assertResetIn(err.headers.get('anthropic-ratelimit-requests-reset'), 55000, 61000);
    // OpenAI-shaped: x-ratelimit-* and the OpenAI error
    const oerr = await oai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: prompt('hi') }] }).catch((e) => e);
    assert.ok(oerr instanceof OpenAI.RateLimitError, `got ${oerr}`);
    assert.equal(oerr.code, 'rate_limit_exceeded');
    assert.equal(oerr.type, 'requests');
    assert.equal(oerr.headers.get('x-ratelimit-limit-requests'), '3');
    assert.equal(oerr.headers.get('x-ratelimit-remaining-requests'), '0');
    assert.match(oerr.headers.get('x-ratelimit-reset-requests'), /^(\d+(\.\d+)?s|\d+m\d+(\.\d+)?s)$/);
    assert.equal(oerr.headers.get('x-ratelimit-limit-tokens'), '1000000');
    const stats = await ownAdmin(m.url, 'GET', '/admin/stats');
    assert.equal(stats.counters.model_ratelimit_answered, 3);
    assert.equal(stats.counters.model_ratelimit_limited, 2);
    assert.equal(stats.counters.model_ratelimit_limited_requests, 2);
    // DELETE /admin/ratelimit fills the buckets again
    await ownAdmin(m.url, 'DELETE', '/admin/ratelimit');
    const { response } = await oai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: prompt('hi') }] }).withResponse();
    assert.equal(response.headers.get('x-ratelimit-remaining-requests'), '2');
  } finally {
    m.child.kill('SIGTERM');
  }
});

test('rate limits: --itpm counts the prompt\'s input tokens; the SDK retries after retry-after and succeeds', async () => {
  const m = await ownModeld(['--itpm', '600']);
  try {
    const client = new Anthropic({ apiKey: 'any', baseURL: m.url, maxRetries: 0 });
    const big = 'x'.repeat(1200); // ~ 300+ tokens (bytes / 4)
    const ask = (c = client) => c.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: prompt(big) }] });
    const { data, response } = await ask().withResponse();
    const used = 600 - Number(response.headers.get('anthropic-ratelimit-input-tokens-remaining'));
    assert.ok(used >= 300 && used <= 340, `one call took ${used} tokens`);
    assert.equal(data.usage.input_tokens, used, 'the bucket counts what usage reports');
    assert.equal(response.headers.get('anthropic-ratelimit-requests-limit'), null, 'no --rpm, no request headers');
    const err = await ask().catch((e) => e);
    assert.ok(err instanceof Anthropic.RateLimitError, `got ${err}`);
    assert.equal(err.type, 'rate_limit_error');
    assert.match(err.error.error.message, /600 input tokens per minute/);
    const ms = Number(err.headers.get('retry-after-ms'));
    assert.ok(ms > 0 && ms <= 60000, `retry-after-ms ${ms}`);
    assert.equal(Number(err.headers.get('retry-after')), Math.ceil(ms / 1000));
    // an openai error says "tokens"
    const oai = new OpenAI({ apiKey: 'any', baseURL: `${m.url}/v1`, maxRetries: 0 });
    const oerr = await oai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: prompt(big) }] }).catch((e) => e);
    assert.ok(oerr instanceof OpenAI.RateLimitError, `got ${oerr}`);
    assert.equal(oerr.type, 'tokens');
    assert.ok(Number(oerr.headers.get('x-ratelimit-remaining-tokens')) < 320);
    // a higher limit through PUT /admin/ratelimit; then the SDK's own retry
    // (retry-after-ms about 1 s) gets through a 429
    const cfg = await ownAdmin(m.url, 'PUT', '/admin/ratelimit', { rpm: 60, itpm: 0 });
    assert.equal(cfg.rpm, 60);
    assert.equal(cfg.itpm, 0);
    const quick = new Anthropic({ apiKey: 'any', baseURL: m.url, maxRetries: 0 });
    const tb = Date.now();
    const burst = await Promise.all(Array.from({ length: 61 }, () => ask(quick).then(() => 200, (e) => e.status)));
    const passed = burst.filter((s) => s === 200).length;
    // a full bucket of 60, then 429s (plus one per second the burst took: the refill)
    const refilled = Math.floor((Date.now() - tb) / 1000);
    assert.ok(passed >= 60 && passed <= 60 + refilled, `${passed} of 61 passed in ${Date.now() - tb} ms`);
    assert.equal(burst.filter((s) => s === 429).length, 61 - passed);
    const retrying = new Anthropic({ apiKey: 'any', baseURL: m.url, maxRetries: 2 });
    const t0 = Date.now();
    const ok = await ask(retrying);
    assert.equal(ok.type, 'message');
    assert.ok(Date.now() - t0 >= 300, 'the SDK waited for the bucket');
  } finally {
    m.child.kill('SIGTERM');
  }
});

test('rate limits: 40 concurrent calls against --rpm 25: 25 answered, the rest 429, counted once each (thread-safe bucket)', async () => {
  const m = await ownModeld(['--rpm', '25']);
  try {
    const body = JSON.stringify({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    const t0 = Date.now();
    const codes = await Promise.all(Array.from({ length: 40 }, () =>
      fetch(`${m.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body })
        .then(async (r) => { await r.text(); return r.status; })));
    const ok = codes.filter((c) => c === 200).length;
    // 25, plus one per 2.4 s the calls took (the refill; 0 unless the machine crawls)
    const refilled = Math.floor((Date.now() - t0) / 2400);
    assert.ok(ok >= 25 && ok <= 25 + refilled, `${ok} answered in ${Date.now() - t0} ms`);
    assert.equal(codes.filter((c) => c === 429).length, 40 - ok);
    const stats = await ownAdmin(m.url, 'GET', '/admin/stats');
    assert.equal(stats.counters.model_ratelimit_answered, ok);
    assert.equal(stats.counters.model_ratelimit_limited, 40 - ok);
  } finally {
    m.child.kill('SIGTERM');
  }
});

test('usage objects are accepted by the SDKs\' TypeScript types (tsc --strict)', async () => {
  const system = [{ type: 'text', text: longText('types'), cache_control: { type: 'ephemeral' } }];
  const params = { model: MODEL, max_tokens: 64, system, messages: [{ role: 'user', content: 'q' }] };
  const samples = [];
  for (let i = 0; i < 2; i++) samples.push(['Anthropic.Messages.Usage', (await anthropic.messages.create(params)).usage]);
  assert.ok(samples[1][1].cache_read_input_tokens > 0);
  for await (const ev of await anthropic.messages.create({ ...params, stream: true })) {
    if (ev.type === 'message_start') samples.push(['Anthropic.Messages.Usage', ev.message.usage]);
    if (ev.type === 'message_delta') samples.push(['Anthropic.Messages.MessageDeltaUsage', ev.usage]);
  }
  const omsgs = [{ role: 'system', content: longText('types openai') }, { role: 'user', content: 'q' }];
  for (let i = 0; i < 2; i++) samples.push(['OpenAI.CompletionUsage', (await openai.chat.completions.create({ model: MODEL, messages: omsgs })).usage]);
  assert.ok(samples[samples.length - 1][1].prompt_tokens_details.cached_tokens > 0);
  for await (const chunk of await openai.chat.completions.create({ model: MODEL, messages: omsgs, stream: true, stream_options: { include_usage: true } })) {
    if (chunk.usage) samples.push(['OpenAI.CompletionUsage', chunk.usage]);
  }
  assert.equal(samples.length, 7);
  const dir = mkdtempSync(join(tmpdir(), 'modeld-types-'));
  try {
    symlinkSync(join(TEST_DIR, 'node_modules'), join(dir, 'node_modules'));
    // object literals: tsc rejects unknown fields and missing required ones
    writeFileSync(join(dir, 'usage.ts'), [
      "import type Anthropic from '@anthropic-ai/sdk';",
      "import type OpenAI from 'openai';",
      ...samples.map(([type, v], i) => `export const u${i}: ${type} = ${JSON.stringify(v)};`),
    ].join('\n'));
    execFileSync(join(TEST_DIR, 'node_modules/.bin/tsc'), ['--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext',
      '--moduleResolution', 'nodenext', '--target', 'es2022', join(dir, 'usage.ts')], { encoding: 'utf8' });
  } catch (e) {
    assert.fail(`tsc: ${e.stdout ?? e}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a request nested 2040 levels deep (tool schema, message) is answered, not a crash', async () => {
  const deep = '['.repeat(2040) + ']'.repeat(2040);
  const a = await rawPost('/v1/messages', JSON.parse(`{"model":"${MODEL}","max_tokens":64,"tools":[{"name":"run_command","input_schema":{"x":${deep}}}],"messages":[{"role":"user","content":"hi"}]}`));
  assert.equal(a.status, 200);
  const o = await rawPost('/v1/chat/completions', JSON.parse(`{"model":"${MODEL}","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":${deep}},{"role":"user","content":"again"}]}`));
  assert.equal(o.status, 200);
  const models = await openai.models.list();
  assert.equal(models.data[0].id, 'modeld');
});
