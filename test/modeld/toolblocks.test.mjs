// toolblocks.test.mjs - modeld's ```tool NAME blocks (one scripted call of
// any tool, its input the block's JSON, in order with the bash and python
// blocks) and the echo_system directive (the request's system prompt in the
// text answers), through the official SDKs.  Run through test/modeld/run.sh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

const KEY = process.env.MODELD_API_KEY;
assert.ok(process.env.MODELD_URL && KEY, 'run through test/modeld/run.sh');
const MODEL = 'modeld-test-model';
const anthropic = new Anthropic({ apiKey: KEY, baseURL: process.env.ANTHROPIC_BASE_URL, maxRetries: 0 });
const openai = new OpenAI({ apiKey: KEY, baseURL: process.env.OPENAI_BASE_URL, maxRetries: 0 });

let n = 0;
const prompt = (body) => `Tool blocks ${process.pid}-${Date.now()}-${++n}.\n${body}`;
const fence = '```';

// The extension's tools (src/tools.c), in each provider's format.
const STR = { type: 'string' };
const TOOL_DEFS = [
  { name: 'run_command', params: { command: STR }, required: ['command'] },
  { name: 'write_file', params: { path: STR, content: STR }, required: ['path', 'content'] },
  { name: 'read_file', params: { path: STR }, required: ['path'] },
  { name: 'list_files', params: { path: STR, depth: { type: 'integer' } }, required: ['path'] },
  { name: 'edit_file', params: { path: STR, old_string: STR, new_string: STR }, required: ['path', 'old_string', 'new_string'] },
];
const anthropicTools = (names) => TOOL_DEFS.filter((t) => names.includes(t.name)).map((t) => ({
  name: t.name, description: t.name, input_schema: { type: 'object', properties: t.params, required: t.required },
}));
const openaiTools = (names) => TOOL_DEFS.filter((t) => names.includes(t.name)).map((t) => ({
  type: 'function', function: { name: t.name, description: t.name, parameters: { type: 'object', properties: t.params, required: t.required } },
}));
const ALL = TOOL_DEFS.map((t) => t.name);

// The tools, really run with /home/user mapped to a temp dir (as the
// extension answers them, roughly).
function runner() {
  const home = mkdtempSync(join(tmpdir(), 'modeld-tools-'));
  const map = (p) => p.replaceAll('/home/user', home);
  return (name, input) => {
    switch (name) {
      case 'run_command':
        return execSync(map(input.command), { shell: '/bin/bash', encoding: 'utf8', cwd: home });
      case 'write_file':
        mkdirSync(join(map(input.path), '..'), { recursive: true });
        writeFileSync(map(input.path), input.content);
        return `wrote ${input.content.length} bytes to ${input.path}`;
      case 'read_file':
        return readFileSync(map(input.path), 'utf8');
      case 'list_files': {
        const dir = map(input.path);
        if (!existsSync(dir)) return `error: no such directory: ${input.path}`;
        return readdirSync(dir).sort().map((f) => `file\t${statSync(join(dir, f)).size}\t${input.path}/${f}`).join('\n') + '\n';
      }
      case 'edit_file': {
        const text = readFileSync(map(input.path), 'utf8');
        const count = text.split(input.old_string).length - 1;
        if (count !== 1) return count ? `error: old_string occurs ${count} times in ${input.path}` : `error: old_string was not found in ${input.path}`;
        writeFileSync(map(input.path), text.replace(input.old_string, input.new_string));
        return `replaced 1 occurrence in ${input.path}`;
      }
      default:
        throw new Error(`unknown tool ${name}`);
    }
  };
}

async function anthropicLoop(text, { tools = ALL, system, stream = false } = {}) {
  const run = runner();
  const messages = [{ role: 'user', content: text }];
  const calls = [];
  for (let turn = 0; turn < 20; turn++) {
    const req = { model: MODEL, max_tokens: 1024, tools: anthropicTools(tools), messages, ...(system === undefined ? {} : { system }) };
    const msg = stream ? await anthropic.messages.stream(req).finalMessage() : await anthropic.messages.create(req);
    if (msg.stop_reason !== 'tool_use') return { msg, calls };
    messages.push({ role: 'assistant', content: msg.content });
    const results = [];
    for (const b of msg.content.filter((x) => x.type === 'tool_use')) {
      const out = run(b.name, b.input);
      calls.push({ name: b.name, input: b.input, out, text: msg.content[0].text });
      results.push({ type: 'tool_result', tool_use_id: b.id, content: out, ...(out.startsWith('error:') ? { is_error: true } : {}) });
    }
    messages.push({ role: 'user', content: results });
  }
  throw new Error('no final answer after 20 turns');
}

async function openaiLoop(text, { tools = ALL, system = [], stream = false } = {}) {
  const run = runner();
  const messages = [...system, { role: 'user', content: text }];
  const calls = [];
  for (let turn = 0; turn < 20; turn++) {
    const req = { model: MODEL, messages, tools: openaiTools(tools) };
    const res = stream ? await openai.chat.completions.stream(req).finalChatCompletion() : await openai.chat.completions.create(req);
    const choice = res.choices[0];
    if (choice.finish_reason !== 'tool_calls') return { res, calls };
    messages.push(choice.message);
    for (const tc of choice.message.tool_calls) {
      const input = JSON.parse(tc.function.arguments);
      const out = run(tc.function.name, input);
      calls.push({ name: tc.function.name, input, out });
      messages.push({ role: 'tool', tool_call_id: tc.id, content: out });
    }
  }
  throw new Error('no final answer after 20 turns');
}

// Input of every kind of JSON value, including text that looks like a fence
// and a directive (inside a block it is only data).
const EDIT = { path: '/home/user/notes/a.txt', old_string: 'beta', new_string: 'BETA "quoted" \\ ünïcode ✓' };
const SCRIPT = [
  'Do these, in order:',
  `${fence}tool write_file`,
  JSON.stringify({ path: '/home/user/notes/a.txt', content: 'alpha\nbeta\ngamma\n' }),
  fence,
  `${fence}bash`,
  'wc -c < /home/user/notes/a.txt',
  fence,
  `${fence}tool list_files`,
  '{"path": "/home/user/notes",',
  ' "depth": 1}',
  fence,
  `${fence}tool   edit_file   extra words are ignored`,
  JSON.stringify(EDIT, null, 2),
  fence,
  `${fence}python`,
  "print(open('notes/a.txt').read().count('BETA'))",
  fence,
  `~~~~tool read_file`,
  '{"path": "/home/user/notes/a.txt"}',
  '~~~~',
].join('\n');
const CALLS = [
  ['write_file', { path: '/home/user/notes/a.txt', content: 'alpha\nbeta\ngamma\n' }],
  ['run_command', { command: 'wc -c < /home/user/notes/a.txt' }],
  ['list_files', { path: '/home/user/notes', depth: 1 }],
  ['edit_file', EDIT],
  ['write_file', { path: '/home/user/program_1.py', content: "print(open('notes/a.txt').read().count('BETA'))" }],
  ['run_command', { command: 'python3 /home/user/program_1.py' }],
  ['read_file', { path: '/home/user/notes/a.txt' }],
];
const FINAL = `Done. The last tool returned:\nalpha\n${EDIT.new_string}\ngamma\n`;

test('anthropic: tool blocks are calls of their tool, in order with bash and python blocks', async () => {
  const { msg, calls } = await anthropicLoop(prompt(SCRIPT));
  assert.deepEqual(calls.map((c) => [c.name, c.input]), CALLS);
  assert.deepEqual(calls.map((c) => c.text), CALLS.map((_, i) => `Running step ${i + 1}.`));
  assert.equal(calls[1].out.trim(), '17');
  assert.equal(calls[2].out, 'file\t17\t/home/user/notes/a.txt\n');
  assert.equal(calls[5].out, '1\n');
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(msg.content[0].text, FINAL);
});

test('openai: tool blocks are calls of their tool, arguments the JSON (also streamed)', async () => {
  for (const stream of [false, true]) {
    const { res, calls } = await openaiLoop(prompt(SCRIPT), { stream });
    assert.deepEqual(calls.map((c) => [c.name, c.input]), CALLS);
    assert.equal(res.choices[0].finish_reason, 'stop');
    assert.equal(res.choices[0].message.content, FINAL);
  }
});

test('anthropic: a streamed tool block call reassembles to the same input', async () => {
  const { msg, calls } = await anthropicLoop(prompt(SCRIPT), { stream: true });
  assert.deepEqual(calls.map((c) => [c.name, c.input]), CALLS);
  assert.equal(msg.content[0].text, FINAL);
});

test('the plan has one line per tool block', async () => {
  const text = prompt(SCRIPT);
  const want = 'Plan:\n1. Call the tool write_file\n2. Run the bash script\n3. Call the tool list_files\n' +
    '4. Call the tool edit_file\n5. Write and run the Python program\n6. Call the tool read_file\n7. Report the output\n';
  const msg = await anthropic.messages.create({ model: MODEL, max_tokens: 256, messages: [{ role: 'user', content: text }] });
  assert.equal(msg.content[0].text, want);
  const res = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: text }] });
  assert.equal(res.choices[0].message.content, want);
});

test('parallel: tool blocks among all remaining calls in one answer', async () => {
  const msg = await anthropic.messages.create({
    model: MODEL, max_tokens: 256, tools: anthropicTools(ALL),
    messages: [{ role: 'user', content: prompt(`[[modeld: parallel]]\n${SCRIPT}`) }],
  });
  assert.equal(msg.content[0].text, 'Running steps 1 to 7.');
  assert.deepEqual(msg.content.filter((b) => b.type === 'tool_use').map((b) => [b.name, b.input]), CALLS);
});

test('a tool block of an undeclared tool: "I cannot continue" at its step (both SDKs)', async () => {
  const text = prompt(`${fence}bash\necho one\n${fence}\n${fence}tool edit_file\n${JSON.stringify(EDIT)}\n${fence}\n`);
  const a = await anthropicLoop(text, { tools: ['run_command', 'write_file'] });
  assert.equal(a.calls.length, 1);
  assert.equal(a.msg.stop_reason, 'end_turn');
  assert.equal(a.msg.content[0].text,
    'I cannot continue: step 2 needs the tool "edit_file", which this request does not declare (declared: run_command, write_file).');
  const o = await openaiLoop(text, { tools: ['list_files', 'edit_file'] });
  assert.equal(o.calls.length, 0);
  assert.equal(o.res.choices[0].message.content,
    'I cannot continue: step 1 needs the tool "run_command", which this request does not declare (declared: list_files, edit_file).');
  // a tool block may name any tool, declared or not by the extension
  const msg = await anthropic.messages.create({
    model: MODEL, max_tokens: 256, tools: [{ name: 'my_tool', input_schema: { type: 'object' } }],
    messages: [{ role: 'user', content: prompt(`${fence}tool my_tool\n{"deep": {"list": [1, 2.5, null, true, "x"]}}\n${fence}`) }],
  });
  assert.deepEqual(msg.content[1], { type: 'tool_use', id: msg.content[1].id, name: 'my_tool', input: { deep: { list: [1, 2.5, null, true, 'x'] } } });
});

test('a tool block may hold \\u0000 in a string (both SDKs read it as NUL)', async () => {
  const text = prompt(`${fence}tool write_file\n{"path": "/home/user/nul.txt", "content": "a\\u0000b"}\n${fence}`);
  const msg = await anthropic.messages.create({ model: MODEL, max_tokens: 64, tools: anthropicTools(ALL), messages: [{ role: 'user', content: text }] });
  assert.deepEqual(msg.content[1].input, { path: '/home/user/nul.txt', content: 'a\u0000b' });
  const res = await openai.chat.completions.create({ model: MODEL, tools: openaiTools(ALL), messages: [{ role: 'user', content: text }] });
  assert.equal(JSON.parse(res.choices[0].message.tool_calls[0].function.arguments).content, 'a\u0000b');
});

test('a tool block whose JSON does not parse -> 400 naming the block (both SDKs, plan and exec)', async () => {
  const text = prompt(`${fence}bash\necho one\n${fence}\n\n${fence}tool list_files\n{"path": "/home/user"}\n${fence}\n${fence}tool edit_file\n{"path": "/home/user/a.txt", "old_string": "x",\n${fence}\n`);
  // (the block is one line: its code is returned without the final newline)
  const want = /^modeld: tool block 2 \(```tool edit_file, line 9 of the prompt\): its input is not valid JSON: .+ \(line 1, column \d+ of the block\)$/;
  for (const tools of [undefined, anthropicTools(ALL)]) {
    const err = await anthropic.messages
      .create({ model: MODEL, max_tokens: 64, ...(tools ? { tools } : {}), messages: [{ role: 'user', content: text }] })
      .catch((e) => e);
    assert.ok(err instanceof Anthropic.BadRequestError, `got ${err}`);
    assert.equal(err.type, 'invalid_request_error');
    assert.match(err.apiMessage, want);
  }
  const err = await openai.chat.completions.create({ model: MODEL, tools: openaiTools(ALL), messages: [{ role: 'user', content: text }] }).catch((e) => e);
  assert.ok(err instanceof OpenAI.BadRequestError, `got ${err}`);
  assert.match(err.error.message, want);
});

test('a tool block that is not an object, or names no tool -> 400', async () => {
  const cases = [
    [`${fence}tool edit_file\n["a", "b"]\n${fence}`, /^modeld: tool block 1 \(```tool edit_file, line 2 of the prompt\): its input must be a JSON object$/],
    [`${fence}tool read_file\n${fence}`, /^modeld: tool block 1 \(```tool read_file, line 2 of the prompt\): its input is not valid JSON/],
    [`${fence}tool\n{}\n${fence}`, /^modeld: tool block 1 \(line 2 of the prompt\) names no tool: its info string must be "tool NAME"$/],
  ];
  for (const [body, want] of cases) {
    const err = await anthropic.messages
      .create({ model: MODEL, max_tokens: 64, tools: anthropicTools(ALL), messages: [{ role: 'user', content: prompt(body) }] })
      .catch((e) => e);
    assert.ok(err instanceof Anthropic.BadRequestError, `got ${err}`);
    assert.match(err.apiMessage, want);
  }
  // other info strings that merely start with "tool" are ignored blocks
  const msg = await anthropic.messages.create({
    model: MODEL, max_tokens: 64, tools: anthropicTools(ALL),
    messages: [{ role: 'user', content: prompt(`${fence}tools edit_file\nnot json\n${fence}\n${fence}toolbox\n{\n${fence}`) }],
  });
  assert.equal(msg.content[0].text, 'Done. The request has no bash or python code blocks, so there was nothing to run.');
});

// ---- echo_system ----

test('anthropic echo_system: the final answer ends with the system prompt (string, blocks, none)', async () => {
  const text = prompt(`[[modeld: echo_system]]\n${fence}bash\necho hi\n${fence}`);
  const a = await anthropicLoop(text, { system: 'You are a careful agent.\nLine two.' });
  assert.equal(a.calls.length, 1);
  assert.equal(a.calls[0].text, 'Running step 1.'); // tool-call turns are unchanged
  assert.equal(a.msg.content[0].text, 'Done. The last tool returned:\nhi\n\nSystem prompt:\nYou are a careful agent.\nLine two.');
  const blocks = [
    { type: 'text', text: 'Block one.' },
    { type: 'text', text: 'Block two.', cache_control: { type: 'ephemeral' } },
  ];
  const b = await anthropicLoop(text, { system: blocks });
  assert.equal(b.msg.content[0].text, 'Done. The last tool returned:\nhi\n\nSystem prompt:\nBlock one.\nBlock two.');
  const none = await anthropicLoop(text);
  assert.equal(none.msg.content[0].text, 'Done. The last tool returned:\nhi\n\nSystem prompt:\n(none)');
  // the planning call (a text answer) too, one blank line after the plan
  const plan = await anthropic.messages.create({ model: MODEL, max_tokens: 256, system: 'S', messages: [{ role: 'user', content: text }] });
  assert.equal(plan.content[0].text, 'Plan:\n1. Run the bash script\n2. Report the output\n\nSystem prompt:\nS');
});

test('openai echo_system: system and developer messages joined, streamed too', async () => {
  const text = prompt(`[[modeld: echo_system]]\n${fence}bash\necho hi\n${fence}`);
  const system = [
    { role: 'system', content: 'You are a careful agent.' },
    { role: 'developer', content: [{ type: 'text', text: 'Part A.' }, { type: 'text', text: 'Part B.' }] },
  ];
  for (const stream of [false, true]) {
    const o = await openaiLoop(text, { system, stream });
    assert.equal(o.res.choices[0].message.content,
      'Done. The last tool returned:\nhi\n\nSystem prompt:\nYou are a careful agent.\nPart A.\nPart B.');
  }
  const none = await openaiLoop(text);
  assert.equal(none.res.choices[0].message.content, 'Done. The last tool returned:\nhi\n\nSystem prompt:\n(none)');
});

test('echo_system on=exec leaves the plan alone; without the directive nothing is echoed', async () => {
  const text = prompt(`[[modeld: echo_system on=exec]]`);
  const plan = await anthropic.messages.create({ model: MODEL, max_tokens: 256, system: 'S', messages: [{ role: 'user', content: text }] });
  assert.equal(plan.content[0].text, 'Plan:\n1. Answer the request directly\n');
  const exec = await anthropic.messages.create({ model: MODEL, max_tokens: 256, system: 'S', tools: anthropicTools(ALL), messages: [{ role: 'user', content: text }] });
  assert.equal(exec.content[0].text, 'Done. The request has no bash or python code blocks, so there was nothing to run.\n\nSystem prompt:\nS');
  const plain = await anthropic.messages.create({ model: MODEL, max_tokens: 256, system: 'S', tools: anthropicTools(ALL), messages: [{ role: 'user', content: prompt('hi') }] });
  assert.equal(plain.content[0].text, 'Done. The request has no bash or python code blocks, so there was nothing to run.');
  const bad = await anthropic.messages
    .create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: prompt('[[modeld: echo_system=1]]') }] })
    .catch((e) => e);
  assert.ok(bad instanceof Anthropic.BadRequestError, `got ${bad}`);
  assert.match(bad.apiMessage, /modeld directive 'echo_system' takes no value/);
});
