// Conformance test: the official Anthropic (@anthropic-ai/sdk) and OpenAI
// (openai) npm SDKs against modeld.  run.sh starts modeld with --api-key and
// exports MODELD_URL, MODELD_API_KEY, ANTHROPIC_BASE_URL and OPENAI_BASE_URL.
//
// Every test uses its own prompt (a nonce), so the per-conversation
// fail_first counters of one test never affect another.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

const URL = process.env.MODELD_URL;
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
