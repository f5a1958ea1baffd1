// A v0.3 A2A client (@a2a-js/sdk@0.3.14) for package a2a's tests: node client_v03.mjs BASE_URL.
// It resolves the agent card from BASE_URL, then sends, streams, gets and cancels, printing one JSON
// line per step: {"step": ..., ...}. Errors are printed as {"step":"error","message":...} (exit 1).
import { ClientFactory } from 'a2a-sdk-v03/client';
import { randomUUID } from 'node:crypto';

const base = process.argv[2];
const out = (o) => console.log(JSON.stringify(o));
const msg = (text) => ({ kind: 'message', messageId: randomUUID(), role: 'user', parts: [{ kind: 'text', text }] });
const artifactText = (t) => (t.artifacts ?? []).flatMap((a) => a.parts).filter((p) => p.kind === 'text').map((p) => p.text).join('');

try {
  const client = await new ClientFactory().createFromUrl(base);
  const card = await client.getAgentCard();
  out({ step: 'card', url: card.url, name: card.name });

  const sent = await client.sendMessage({ message: msg('hello'), configuration: { blocking: true } });
  out({ step: 'send', kind: sent.kind, id: sent.id, state: sent.status?.state, text: artifactText(sent) });

  const events = [];
  for await (const ev of client.sendMessageStream({ message: msg('stream') })) {
    events.push({ kind: ev.kind, state: ev.status?.state, text: ev.artifact ? ev.artifact.parts.map((p) => p.text).join('') : undefined, final: ev.final });
  }
  out({ step: 'stream', events });

  const got = await client.getTask({ id: sent.id });
  out({ step: 'get', id: got.id, state: got.status?.state });

  const waiting = await client.sendMessage({ message: msg('wait'), configuration: { blocking: false } });
  const canceled = await client.cancelTask({ id: waiting.id });
  out({ step: 'cancel', id: canceled.id, state: canceled.status?.state });
} catch (e) {
  out({ step: 'error', message: String(e?.message ?? e) });
  process.exit(1);
}
