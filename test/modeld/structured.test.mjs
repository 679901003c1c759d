// structured.test.mjs - modeld's structured final answers (result=,
// result_invalid_first=) through the official SDKs: Anthropic's forced tool
// (tool_choice {"type":"tool"}) and a declared final_result tool, OpenAI's
// response_format json_schema (also parsed by the SDK's .parse helper) and a
// forced function.  Run through test/modeld/run.sh.
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
const prompt = (body) => `Structured ${process.pid}-${Date.now()}-${++n}.\n${body}`;
const SCHEMA = {
  type: 'object',
  properties: { answer: { type: 'integer' }, words: { type: 'array', items: { type: 'string' } } },
  required: ['answer'],
  additionalProperties: false,
};
const RESULT = { answer: 42, words: ['a b', 'c,d', 'e]]f'] };
const DIRECTIVE = `[[modeld: result=${JSON.stringify(RESULT)}]]`;
const RUN_TOOL = { name: 'run_command', description: 'Run', input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] } };
const FINAL_TOOL = { name: 'final_result', description: 'The final answer', input_schema: SCHEMA };

test('anthropic: a forced tool answers one tool_use whose input is result= (no text)', async () => {
  const text = prompt(`Answer. ${DIRECTIVE}`);
  const msg = await anthropic.messages.create({
    model: MODEL, max_tokens: 256, tools: [RUN_TOOL, FINAL_TOOL],
    tool_choice: { type: 'tool', name: 'final_result' }, messages: [{ role: 'user', content: text }],
  });
  assert.equal(msg.stop_reason, 'tool_use');
  assert.equal(msg.content.length, 1);
  assert.equal(msg.content[0].type, 'tool_use');
  assert.equal(msg.content[0].name, 'final_result');
  assert.deepEqual(msg.content[0].input, RESULT);
});

test('anthropic: final_result tool is called after the planned steps, with the final text', async () => {
  const text = prompt(`Run:\n\`\`\`bash\necho one\n\`\`\`\n${DIRECTIVE}`);
  const messages = [{ role: 'user', content: text }];
  const tools = [RUN_TOOL, FINAL_TOOL];
  let msg = await anthropic.messages.create({ model: MODEL, max_tokens: 256, tools, messages });
  assert.equal(msg.content.at(-1).name, 'run_command');
  messages.push({ role: 'assistant', content: msg.content });
  messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: msg.content.at(-1).id, content: 'one' }] });
  msg = await anthropic.messages.create({ model: MODEL, max_tokens: 256, tools, messages });
  assert.equal(msg.stop_reason, 'tool_use');
  assert.equal(msg.content[0].text, 'Done. The last tool returned:\none');
  assert.equal(msg.content[1].name, 'final_result');
  assert.deepEqual(msg.content[1].input, RESULT);
});

test('anthropic: result_invalid_first=1 -> {} first (fails required), then result= (streams too)', async () => {
  const text = prompt(`Answer. ${DIRECTIVE} [[modeld: result_invalid_first=1]]`);
  const req = { model: MODEL, max_tokens: 256, tools: [FINAL_TOOL], tool_choice: { type: 'tool', name: 'final_result' }, messages: [{ role: 'user', content: text }] };
  const first = await anthropic.messages.stream(req).finalMessage();
  assert.deepEqual(first.content[0].input, {});
  const second = await anthropic.messages.create(req);
  assert.deepEqual(second.content[0].input, RESULT);
});

test('anthropic: without result= the input is {"text": final answer}; non-objects are wrapped', async () => {
  const msg = await anthropic.messages.create({
    model: MODEL, max_tokens: 256, tools: [FINAL_TOOL], tool_choice: { type: 'tool', name: 'final_result' },
    messages: [{ role: 'user', content: prompt('No code here.') }],
  });
  assert.deepEqual(msg.content[0].input, { text: 'Done. The request has no bash or python code blocks, so there was nothing to run.' });
  const wrapped = await anthropic.messages.create({
    model: MODEL, max_tokens: 256, tools: [FINAL_TOOL], tool_choice: { type: 'tool', name: 'final_result' },
    messages: [{ role: 'user', content: prompt('[[modeld: result=[1,[2]]]]') }],
  });
  assert.deepEqual(wrapped.content[0].input, { result: [1, [2]] });
});

test('anthropic: tool_choice naming an undeclared tool, a bad result= -> 400', async () => {
  await assert.rejects(anthropic.messages.create({
    model: MODEL, max_tokens: 256, tools: [RUN_TOOL], tool_choice: { type: 'tool', name: 'final_result' },
    messages: [{ role: 'user', content: prompt('x') }],
  }), (e) => e instanceof Anthropic.BadRequestError && /final_result/.test(e.message));
  await assert.rejects(anthropic.messages.create({
    model: MODEL, max_tokens: 256, tools: [RUN_TOOL], messages: [{ role: 'user', content: prompt('[[modeld: result={nope}]]') }],
  }), (e) => e instanceof Anthropic.BadRequestError && /'result' needs a JSON value/.test(e.message));
});

test('openai: response_format json_schema -> the final content is the JSON text (create and parse)', async () => {
  const text = prompt(`Answer. ${DIRECTIVE}`);
  const response_format = { type: 'json_schema', json_schema: { name: 'answer', schema: SCHEMA, strict: true } };
  const res = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: text }], response_format });
  assert.deepEqual(JSON.parse(res.choices[0].message.content), RESULT);
  const parsed = await openai.chat.completions.parse({ model: MODEL, messages: [{ role: 'user', content: text }], response_format });
  assert.deepEqual(parsed.choices[0].message.parsed, RESULT);
});

test('openai: with tools, steps first, then the JSON final content; result_invalid_first', async () => {
  const text = prompt(`Run:\n\`\`\`bash\necho two\n\`\`\`\n${DIRECTIVE} [[modeld: result_invalid_first=1]]`);
  const tools = [{ type: 'function', function: { name: 'run_command', parameters: RUN_TOOL.input_schema } }];
  const response_format = { type: 'json_schema', json_schema: { name: 'answer', schema: SCHEMA } };
  const messages = [{ role: 'user', content: text }];
  let res = await openai.chat.completions.create({ model: MODEL, messages, tools, response_format });
  assert.equal(res.choices[0].finish_reason, 'tool_calls');
  messages.push(res.choices[0].message);
  messages.push({ role: 'tool', tool_call_id: res.choices[0].message.tool_calls[0].id, content: 'two' });
  res = await openai.chat.completions.create({ model: MODEL, messages, tools, response_format });
  assert.equal(res.choices[0].finish_reason, 'stop');
  assert.equal(res.choices[0].message.content, '{}');
  messages.push(res.choices[0].message);
  messages.push({ role: 'user', content: 'That does not match the schema: answer is required.' });
  res = await openai.chat.completions.create({ model: MODEL, messages, tools, response_format, stream: true });
  let content = '';
  for await (const chunk of res) content += chunk.choices[0]?.delta?.content ?? '';
  assert.deepEqual(JSON.parse(content), RESULT);
});

test('openai: a forced function answers its arguments = result=', async () => {
  const res = await openai.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: prompt(`x ${DIRECTIVE}`) }],
    tools: [{ type: 'function', function: { name: 'final_result', parameters: SCHEMA } }],
    tool_choice: { type: 'function', function: { name: 'final_result' } },
  });
  const tc = res.choices[0].message.tool_calls[0];
  assert.equal(tc.function.name, 'final_result');
  assert.deepEqual(JSON.parse(tc.function.arguments), RESULT);
});
