// continue.test.mjs - modeld scripting a continued run (issue 12): the
// request carries the whole earlier conversation (task, tool calls, tool
// results, final answer), then a new user text message U whose fenced blocks
// are the planned calls, progress counting only the tool results after U;
// the recall directive (the tool results before U and the message count);
// directives of U over those of the first message.  Both SDKs, JSON and
// streams.  Run through test/modeld/run.sh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

const KEY = process.env.MODELD_API_KEY;
assert.ok(process.env.MODELD_URL && KEY, 'run through test/modeld/run.sh');
const MODEL = 'modeld-test-model';
const anthropic = new Anthropic({ apiKey: KEY, baseURL: process.env.ANTHROPIC_BASE_URL, maxRetries: 0 });
const openai = new OpenAI({ apiKey: KEY, baseURL: process.env.OPENAI_BASE_URL, maxRetries: 0 });

let n = 0;
const prompt = (body) => `Continue ${process.pid}-${Date.now()}-${++n}.\n${body}`;
const fence = '```';
const bash = (cmd) => `${fence}bash\n${cmd}\n${fence}`;
const NOTHING = 'Done. The request has no bash or python code blocks, so there was nothing to run.';

const STR = { type: 'string' };
const A_TOOLS = [
  { name: 'run_command', description: 'Run', input_schema: { type: 'object', properties: { command: STR }, required: ['command'] } },
  { name: 'write_file', description: 'Write', input_schema: { type: 'object', properties: { path: STR, content: STR }, required: ['path', 'content'] } },
];
const O_TOOLS = A_TOOLS.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.input_schema } }));

// A fake tool: its result names the call, so every result is distinct.
let resultNo = 0;
const fakeTool = (name, input) => `result ${++resultNo} of ${name}: ${input.command ?? input.path}`;

// Runs the Anthropic loop on `messages` (extended in place: assistant turns,
// tool results, and the final assistant answer) until a final answer.
async function anthropicTurns(messages, { stream = false, tools = A_TOOLS, extra = {} } = {}) {
  const calls = [];
  for (let turn = 0; turn < 20; turn++) {
    const req = { model: MODEL, max_tokens: 1024, tools, messages, ...extra };
    const msg = stream ? await anthropic.messages.stream(req).finalMessage() : await anthropic.messages.create(req);
    messages.push({ role: 'assistant', content: msg.content });
    if (msg.stop_reason !== 'tool_use') return { msg, calls };
    const results = [];
    for (const b of msg.content.filter((x) => x.type === 'tool_use')) {
      const out = fakeTool(b.name, b.input);
      calls.push({ name: b.name, input: b.input, out, text: msg.content[0].text });
      results.push({ type: 'tool_result', tool_use_id: b.id, content: out });
    }
    messages.push({ role: 'user', content: results });
  }
  throw new Error('no final answer after 20 turns');
}

async function openaiTurns(messages, { stream = false, tools = O_TOOLS } = {}) {
  const calls = [];
  for (let turn = 0; turn < 20; turn++) {
    const req = { model: MODEL, messages, tools };
    const res = stream ? await openai.chat.completions.stream(req).finalChatCompletion() : await openai.chat.completions.create(req);
    const choice = res.choices[0];
    messages.push(choice.message);
    if (choice.finish_reason !== 'tool_calls') return { res, calls };
    for (const tc of choice.message.tool_calls) {
      const input = JSON.parse(tc.function.arguments);
      const out = fakeTool(tc.function.name, input);
      calls.push({ name: tc.function.name, input, out, text: choice.message.content });
      messages.push({ role: 'tool', tool_call_id: tc.id, content: out });
    }
  }
  throw new Error('no final answer after 20 turns');
}

const FIRST = (tag) => prompt(`Run ${tag}:\n${bash(`echo first-${tag}`)}\n${bash(`echo second-${tag}`)}`);

for (const stream of [false, true]) {
  const how = stream ? 'stream' : 'JSON';

  test(`anthropic (${how}): U's bash block is step 1 of the continued run, then the final answer quotes its result`, async () => {
    const messages = [{ role: 'user', content: FIRST('a') }];
    const first = await anthropicTurns(messages, { stream });
    assert.deepEqual(first.calls.map((c) => c.input.command), ['echo first-a', 'echo second-a']);
    assert.equal(first.msg.content[0].text, `Done. The last tool returned:\n${first.calls[1].out}`);
    // the continuation: a new user text message after the final answer
    messages.push({ role: 'user', content: `Now the next thing:\n${bash('echo third-a')}` });
    const next = await anthropicTurns(messages, { stream });
    assert.deepEqual(next.calls.map((c) => [c.name, c.input, c.text]), [['run_command', { command: 'echo third-a' }, 'Running step 1.']]);
    assert.equal(next.msg.stop_reason, 'end_turn');
    assert.equal(next.msg.content[0].text, `Done. The last tool returned:\n${next.calls[0].out}`);
    assert.equal(messages.length, 10);
  });

  test(`openai (${how}): U's bash block is step 1 of the continued run, then the final answer quotes its result`, async () => {
    const messages = [{ role: 'system', content: 'You are a test.' }, { role: 'user', content: FIRST('o') }];
    const first = await openaiTurns(messages, { stream });
    assert.deepEqual(first.calls.map((c) => c.input.command), ['echo first-o', 'echo second-o']);
    messages.push({ role: 'user', content: [{ type: 'text', text: 'Now the next thing:' }, { type: 'text', text: bash('echo third-o') }] });
    const next = await openaiTurns(messages, { stream });
    assert.deepEqual(next.calls.map((c) => [c.name, c.input, c.text]), [['run_command', { command: 'echo third-o' }, 'Running step 1.']]);
    assert.equal(next.res.choices[0].finish_reason, 'stop');
    assert.equal(next.res.choices[0].message.content, `Done. The last tool returned:\n${next.calls[0].out}`);
  });

  test(`recall (${how}): the tool results before U, one per line, and the message count (both SDKs)`, async () => {
    const am = [{ role: 'user', content: FIRST('ra') }];
    const a1 = await anthropicTurns(am, { stream });
    am.push({ role: 'user', content: [{ type: 'text', text: 'What did you get? [[modeld: recall]]' }] });
    const a2 = await anthropicTurns(am, { stream });
    assert.equal(a2.calls.length, 0);
    assert.equal(a2.msg.content[0].text, `Recalled:\n${a1.calls[0].out}\n${a1.calls[1].out}\nMessages: 7`);

    const om = [{ role: 'system', content: 'sys' }, { role: 'user', content: FIRST('ro') }];
    const o1 = await openaiTurns(om, { stream });
    om.push({ role: 'user', content: 'What did you get? [[modeld: recall]]' });
    const o2 = await openaiTurns(om, { stream });
    assert.equal(o2.calls.length, 0);
    // system, user, (assistant, tool) x 2, assistant, user
    assert.equal(o2.res.choices[0].message.content, `Recalled:\n${o1.calls[0].out}\n${o1.calls[1].out}\nMessages: 8`);
  });
}

test('recall with a block in U: U runs first; the final answer lists only the results before U', async () => {
  const am = [{ role: 'user', content: FIRST('rb') }];
  const a1 = await anthropicTurns(am);
  am.push({ role: 'user', content: `[[modeld: recall]]\n${bash('echo after')}` });
  const a2 = await anthropicTurns(am);
  assert.deepEqual(a2.calls.map((c) => c.input.command), ['echo after']);
  assert.equal(a2.msg.content[0].text, `Recalled:\n${a1.calls[0].out}\n${a1.calls[1].out}\nMessages: 9`);

  const om = [{ role: 'user', content: FIRST('rc') }];
  const o1 = await openaiTurns(om);
  om.push({ role: 'user', content: `[[modeld: recall]]\n${bash('echo after')}` });
  const o2 = await openaiTurns(om);
  assert.deepEqual(o2.calls.map((c) => c.input.command), ['echo after']);
  assert.equal(o2.res.choices[0].message.content, `Recalled:\n${o1.calls[0].out}\n${o1.calls[1].out}\nMessages: 9`);
});

test('recall in the first message: no earlier results, only the message count', async () => {
  const text = prompt(`[[modeld: recall]]\n${bash('echo x')}`);
  const a = await anthropicTurns([{ role: 'user', content: text }]);
  assert.equal(a.calls.length, 1);
  assert.equal(a.msg.content[0].text, 'Recalled:\nMessages: 3');
  const o = await openaiTurns([{ role: 'user', content: text }]);
  assert.equal(o.res.choices[0].message.content, 'Recalled:\nMessages: 3');
});

test('U without a runnable block: the "nothing to run" answer, though earlier results exist', async () => {
  const am = [{ role: 'user', content: FIRST('n') }];
  await anthropicTurns(am);
  am.push({ role: 'user', content: 'Thanks, that is all.' });
  const a = await anthropicTurns(am);
  assert.equal(a.calls.length, 0);
  assert.equal(a.msg.content[0].text, NOTHING);

  const om = [{ role: 'user', content: FIRST('n') }];
  await openaiTurns(om);
  om.push({ role: 'user', content: 'Thanks, that is all.' });
  const o = await openaiTurns(om);
  assert.equal(o.calls.length, 0);
  assert.equal(o.res.choices[0].message.content, NOTHING);
});

test('a run continued twice: the latest user text message drives', async () => {
  const om = [{ role: 'user', content: FIRST('t') }];
  await openaiTurns(om);
  om.push({ role: 'user', content: bash('echo u1') });
  const o1 = await openaiTurns(om);
  om.push({ role: 'user', content: `${bash('echo u2a')}\n${bash('echo u2b')}\n[[modeld: recall]]` });
  const o2 = await openaiTurns(om);
  assert.deepEqual(o1.calls.map((c) => c.input.command), ['echo u1']);
  assert.deepEqual(o2.calls.map((c) => [c.input.command, c.text]), [['echo u2a', 'Running step 1.'], ['echo u2b', 'Running step 2.']]);
  const before = om.filter((m) => m.role === 'tool').slice(0, 3).map((m) => m.content).join('\n');
  assert.equal(o2.res.choices[0].message.content, `Recalled:\n${before}\nMessages: ${om.length - 1}`);
});

test('U = the first user message: exactly as before (tool_result + text in one user message is not U)', async () => {
  // Anthropic: text after the tool_result blocks does not make a new U
  const text = FIRST('same');
  const am = [{ role: 'user', content: text }];
  let msg = await anthropic.messages.create({ model: MODEL, max_tokens: 256, tools: A_TOOLS, messages: am });
  assert.equal(msg.content[1].input.command, 'echo first-same');
  am.push({ role: 'assistant', content: msg.content });
  am.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: msg.content[1].id, content: 'one' }, { type: 'text', text: `keep going\n${bash('echo ignored')}` }] });
  msg = await anthropic.messages.create({ model: MODEL, max_tokens: 256, tools: A_TOOLS, messages: am });
  assert.deepEqual(msg.content.map((b) => b.text ?? b.input.command), ['Running step 2.', 'echo second-same']);
  am.push({ role: 'assistant', content: msg.content });
  am.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: msg.content[1].id, content: 'two' }] });
  msg = await anthropic.messages.create({ model: MODEL, max_tokens: 256, tools: A_TOOLS, messages: am });
  assert.equal(msg.content[0].text, 'Done. The last tool returned:\ntwo');
  // a single user message: the step counter is the whole conversation's
  const o = await openaiTurns([{ role: 'user', content: text }]);
  assert.deepEqual(o.calls.map((c) => c.text), ['Running step 1.', 'Running step 2.']);
  assert.equal(o.res.choices[0].message.content, `Done. The last tool returned:\n${o.calls[1].out}`);
});

test('the planning call still plans the first user message', async () => {
  const am = [{ role: 'user', content: FIRST('p') }];
  await anthropicTurns(am);
  am.push({ role: 'user', content: bash('echo later') });
  const msg = await anthropic.messages.create({ model: MODEL, max_tokens: 256, messages: am });
  assert.equal(msg.content[0].text, 'Plan:\n1. Run the bash script\n2. Run the bash script\n3. Report the output\n');
});

test('directives: read from the first message and from U; U wins for the same key', async () => {
  const am = [{ role: 'user', content: `${FIRST('d')}\n[[modeld: huge=1K on=exec]] [[modeld: echo_system]]` }];
  const a1 = await anthropicTurns(am, { extra: { system: 'SYS' } });
  assert.equal(a1.msg.content[0].text.length, 1024);
  am.push({ role: 'user', content: `${bash('echo d2')}\n[[modeld: huge=2K]]` });
  const a2 = await anthropicTurns(am, { extra: { system: 'SYS' } });
  assert.deepEqual(a2.calls.map((c) => c.input.command), ['echo d2']);
  const t = a2.msg.content[0].text;
  assert.equal(t.length, 2048); // U's huge= wins
  // echo_system of the first message still applies
  assert.ok(t.startsWith(`Done. The last tool returned:\n${a2.calls[0].out}\n\nSystem prompt:\nSYS\nmodeld huge answer: `), t.slice(0, 200));

  // a failure directive in U fails the continued run only
  const om = [{ role: 'user', content: FIRST('f') }];
  await openaiTurns(om);
  om.push({ role: 'user', content: '[[modeld: status=503 should_retry=false]] go on' });
  await assert.rejects(openai.chat.completions.create({ model: MODEL, tools: O_TOOLS, messages: om }),
    (e) => e.status === 503 && /scripted error \(directive status=503\)/.test(e.message));
  // a bad directive in U is a 400 naming it
  om[om.length - 1].content = '[[modeld: recal]]';
  await assert.rejects(openai.chat.completions.create({ model: MODEL, tools: O_TOOLS, messages: om }),
    (e) => e.status === 400 && /unknown modeld directive 'recal'/.test(e.message));
});

test("U's tool blocks are checked and run; the first message's are not planned again", async () => {
  const am = [{ role: 'user', content: `${prompt('x')}\n${fence}tool write_file\n{"path": "/home/user/a", "content": "1"}\n${fence}` }];
  const a1 = await anthropicTurns(am);
  assert.deepEqual(a1.calls.map((c) => c.name), ['write_file']);
  am.push({ role: 'user', content: `Again:\n${fence}tool write_file\n{"path": "/home/user/b", "content": "2"}\n${fence}` });
  const a2 = await anthropicTurns(am);
  assert.deepEqual(a2.calls.map((c) => c.input), [{ path: '/home/user/b', content: '2' }]);
  am.push({ role: 'user', content: `Broken:\n${fence}tool write_file\n{"path": \n${fence}` });
  await assert.rejects(anthropic.messages.create({ model: MODEL, max_tokens: 256, tools: A_TOOLS, messages: am }),
    (e) => e.status === 400 && /tool block 1 \(```tool write_file, line 2 of the prompt\)/.test(e.message));
});
