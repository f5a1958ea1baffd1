// A v1.0-only A2A agent built with @a2a-js/sdk@1.3.0 (JSON-RPC over express, no legacy compat), for
// package a2a's bridging tests. It listens on 127.0.0.1 (random port) and prints the port on stdout.
// Same behaviour as server_v03.mjs: "wait" starts a task that stays working until canceled; any other
// message produces task, working, artifact (echo) and completed events.
import express from 'express';
import { DefaultRequestHandler, InMemoryTaskStore, AgentEvent } from 'a2a-sdk-v1/server';
import { agentCardHandler, jsonRpcHandler, UserBuilder } from 'a2a-sdk-v1/server/express';
import { TaskState } from 'a2a-sdk-v1';
import { randomUUID } from 'node:crypto';

const card = {
  name: 'js-echo-v1',
  description: 'Echo agent (a2a-js 1.3.0, A2A v1.0 only)',
  supportedInterfaces: [{ url: 'http://127.0.0.1:1/rpc', protocolBinding: 'JSONRPC', protocolVersion: '1.0', tenant: '' }],
  version: '1.0.0',
  capabilities: { streaming: true, pushNotifications: false, extensions: [], extendedAgentCard: false },
  securitySchemes: {},
  securityRequirements: [],
  defaultInputModes: ['text/plain'],
  defaultOutputModes: ['text/plain'],
  skills: [{ id: 'echo', name: 'Echo', description: 'Echoes text', tags: ['echo', 'text'], examples: [], inputModes: [], outputModes: [], securityRequirements: [] }],
  signatures: [],
};

const now = () => new Date().toISOString();
const text = (s) => ({ content: { $case: 'text', value: s }, metadata: undefined, filename: '', mediaType: '' });
const waiting = new Map();

class Executor {
  async execute(ctx, bus) {
    const { taskId, contextId, userMessage } = ctx;
    const input = userMessage.parts.filter((p) => p.content?.$case === 'text').map((p) => p.content.value).join('');
    if (!ctx.task) {
      bus.publish(AgentEvent.task({ id: taskId, contextId, status: { state: TaskState.TASK_STATE_SUBMITTED, timestamp: now() }, artifacts: [], history: [userMessage], metadata: undefined }));
    }
    bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: { state: TaskState.TASK_STATE_WORKING, timestamp: now() }, metadata: undefined }));
    if (input === 'wait') {
      await new Promise((resolve) => waiting.set(taskId, resolve));
      return;
    }
    bus.publish(AgentEvent.artifactUpdate({ taskId, contextId, artifact: { artifactId: randomUUID(), name: '', description: '', parts: [text('echo: ' + input)], metadata: undefined, extensions: [] }, append: false, lastChunk: true, metadata: undefined }));
    bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: { state: TaskState.TASK_STATE_COMPLETED, timestamp: now() }, metadata: undefined }));
    bus.finished();
  }
  async cancelTask(taskId, bus) {
    bus.publish(AgentEvent.statusUpdate({ taskId, contextId: '', status: { state: TaskState.TASK_STATE_CANCELED, timestamp: now() }, metadata: undefined }));
    bus.finished();
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
