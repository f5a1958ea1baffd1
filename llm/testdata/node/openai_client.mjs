// The official OpenAI Node SDK against the gateway: one plain and one streamed chat completion.
// Prints one JSON object with what the client saw; the Go test (npm_test.go) checks it.
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.env.AGW_BASE_URL, apiKey: 'client-key', maxRetries: 0 });
const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello.' }];

const plain = await client.chat.completions.create({ model: process.env.AGW_MODEL, messages });

const stream = await client.chat.completions.create({
  model: process.env.AGW_MODEL, messages, stream: true, stream_options: { include_usage: true },
});
let text = '';
let finish = null;
let usage = null;
let chunks = 0;
for await (const chunk of stream) {
  chunks++;
  for (const c of chunk.choices) {
    text += c.delta?.content ?? '';
    finish = c.finish_reason ?? finish;
  }
  usage = chunk.usage ?? usage;
}

let error = null;
try {
  await client.chat.completions.create({ model: 'no-such-model', messages });
} catch (e) {
  error = { status: e.status, message: e.message, type: e.type ?? e.error?.type };
}

console.log(JSON.stringify({
  plain: { text: plain.choices[0].message.content, finish: plain.choices[0].finish_reason, usage: plain.usage, model: plain.model },
  stream: { text, finish, usage, chunks },
  error,
}));
