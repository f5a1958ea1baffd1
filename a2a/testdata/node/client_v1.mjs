// A v1.0 A2A client (@a2a-js/sdk@1.3.0) for package a2a's tests: node client_v1.mjs BASE_URL.
// Same steps and output as client_v03.mjs; states and roles are printed with their v1.0 names.
import { ClientFactory } from 'a2a-sdk-v1/client';
import { TaskState, Role } from 'a2a-sdk-v1';
import { randomUUID } from 'node:crypto';

const base = process.argv[2];
const out = (o) => console.log(JSON.stringify(o));
const stateName = (s) => Object.keys(TaskState).find((k) => TaskState[k] === s);
const msg = (text) => ({ messageId: randomUUID(), contextId: '', taskId: '', role: Role.ROLE_USER, parts: [{ content: { $case: 'text', value: text }, filename: '', mediaType: '' }], extensions: [], referenceTaskIds: [] });
const partText = (parts) => (parts ?? []).filter((p) => p.content?.$case === 'text').map((p) => p.content.value).join('');
const artifactText = (t) => (t.artifacts ?? []).map((a) => partText(a.parts)).join('');

try {
  const client = await new ClientFactory().createFromUrl(base);
  const card = await client.getAgentCard();
  out({ step: 'card', url: card.supportedInterfaces?.[0]?.url, name: card.name, protocolVersion: client.protocolVersion });

  const sent = await client.sendMessage({ tenant: '', message: msg('hello'), configuration: { acceptedOutputModes: [], returnImmediately: false } });
  out({ step: 'send', id: sent.id, state: stateName(sent.status?.state), text: artifactText(sent) });

  const events = [];
  for await (const ev of client.sendMessageStream({ tenant: '', message: msg('stream') })) {
    const kind = ev.payload ? ev.payload.$case : (ev.kind ?? (ev.status && ev.taskId ? 'statusUpdate' : ev.artifact ? 'artifactUpdate' : ev.status ? 'task' : 'message'));
    const v = ev.payload ? ev.payload.value : ev;
    events.push({ kind, state: v.status ? stateName(v.status.state) : undefined, text: v.artifact ? partText(v.artifact.parts) : undefined });
  }
  out({ step: 'stream', events });

  const got = await client.getTask({ tenant: '', id: sent.id });
  out({ step: 'get', id: got.id, state: stateName(got.status?.state) });

  const waiting = await client.sendMessage({ tenant: '', message: msg('wait'), configuration: { acceptedOutputModes: [], returnImmediately: true } });
  const canceled = await client.cancelTask({ tenant: '', id: waiting.id });
  out({ step: 'cancel', id: canceled.id, state: stateName(canceled.status?.state) });
} catch (e) {
  out({ step: 'error', message: String(e?.stack ?? e) });
  process.exit(1);
}
