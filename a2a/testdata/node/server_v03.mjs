// A v0.3 A2A agent built with @a2a-js/sdk@0.3.14 (JSON-RPC over express), for package a2a's tests.
// It listens on 127.0.0.1 (random port) and prints the port on stdout.
// Behaviour: a message "wait" starts a task that stays working until it is canceled; any other message
// produces four stream events: task (submitted), status-update (working), artifact-update (echo), status-update
// (completed, final).
import express from 'express';
import { DefaultRequestHandler, InMemoryTaskStore } from 'a2a-sdk-v03/server';
import { agentCardHandler, jsonRpcHandler, UserBuilder } from 'a2a-sdk-v03/server/express';
import { randomUUID } from 'node:crypto';

const card = {
  protocolVersion: '0.3.0',
  name: 'js-echo-v03',
  description: 'Echo agent (a2a-js 0.3.14)',
  url: 'http://127.0.0.1:1/rpc', // deliberately wrong: the gateway must rewrite it
  preferredTransport: 'JSONRPC',
  version: '1.0.0',
  capabilities: { streaming: true, pushNotifications: false },
  defaultInputModes: ['text/plain'],
  defaultOutputModes: ['text/plain'],
  skills: [{ id: 'echo', name: 'Echo', description: 'Echoes text', tags: ['echo', 'text'] }],
};

const waiting = new Map();

class Executor {
  async execute(ctx, bus) {
    const { taskId, contextId, userMessage } = ctx;
    const text = userMessage.parts.filter((p) => p.kind === 'text').map((p) => p.text).join('');
    if (!ctx.task) {
      bus.publish({ kind: 'task', id: taskId, contextId, status: { state: 'submitted', timestamp: new Date().toISOString() }, history: [userMessage] });
    }
    bus.publish({ kind: 'status-update', taskId, contextId, status: { state: 'working', timestamp: new Date().toISOString() }, final: false });
    if (text === 'wait') {
      await new Promise((resolve) => waiting.set(taskId, resolve));
      bus.finished();
      return;
    }
    bus.publish({ kind: 'artifact-update', taskId, contextId, artifact: { artifactId: randomUUID(), parts: [{ kind: 'text', text: 'echo: ' + text }] } });
    bus.publish({ kind: 'status-update', taskId, contextId, status: { state: 'completed', timestamp: new Date().toISOString() }, final: true });
    bus.finished();
  }
  async cancelTask(taskId, bus) {
    bus.publish({ kind: 'status-update', taskId, contextId: '', status: { state: 'canceled', timestamp: new Date().toISOString() }, final: true });
    const resolve = waiting.get(taskId);
    if (resolve) { waiting.delete(taskId); resolve(); }
  }
}

const handler = new DefaultRequestHandler(card, new InMemoryTaskStore(), new Executor());
const app = express();
app.use('/.well-known/agent-card.json', agentCardHandler({ agentCardProvider: handler }));
app.use('/rpc', jsonRpcHandler({ requestHandler: handler, userBuilder: UserBuilder.noAuthentication }));
const server = app.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
