// Fan-out benchmark: opens N subscriptions (graphql-transport-ws) to `elementChanged` on one
// instance, fires M mutations on another (or the same) instance, and prints the delivery
// latency from the mutation request to every subscriber (p50, p99, max), events lost, and
// the server's memory per idle subscription (from /proc when SERVER_PID is given).
//
//   node fanout.mjs                       # N=1000 M=20 against 127.0.0.1:8080
//   N=10000 SUB_URL=http://127.0.0.1:8081 node fanout.mjs   # subscribers on a second instance
//
// Env: KONTOR_TOKEN (required), N, M, MUT_URL, SUB_URL, SERVER_PID.
import WebSocket from 'ws';
import { readFileSync } from 'node:fs';

const token = process.env.KONTOR_TOKEN;
const N = Number(process.env.N ?? 1000);
const M = Number(process.env.M ?? 20);
const mutUrl = process.env.MUT_URL ?? 'http://127.0.0.1:8080';
const subUrl = (process.env.SUB_URL ?? mutUrl).replace(/^http/, 'ws') + '/graphql';
const pid = process.env.SERVER_PID;

const rssKb = () => (pid ? Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) : NaN);
const sentAt = new Map(); // title -> send time
const latencies = [];
let received = 0;

function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(subUrl, 'graphql-transport-ws');
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${token}` } })));
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw);
      if (msg.type === 'connection_ack') {
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { elementChanged(types: [LEAD]) { eventId element { ... on Lead { title } } } }' } }));
        // The server has no "subscribed" message; a short pause lets the stream start.
        setTimeout(() => resolve(ws), 5);
      } else if (msg.type === 'next') {
        const title = msg.payload?.data?.elementChanged?.element?.title;
        const t0 = sentAt.get(title);
        if (t0 !== undefined) {
          latencies.push(performance.now() - t0);
          received++;
        }
      } else if (msg.type === 'ping') {
        ws.send(JSON.stringify({ type: 'pong' }));
      }
    });
    ws.on('error', reject);
  });
}

const before = rssKb();
const sockets = [];
for (let i = 0; i < N; i += 200) {
  const batch = [];
  for (let j = i; j < Math.min(N, i + 200); j++) batch.push(open());
  sockets.push(...(await Promise.all(batch)));
}
await new Promise((r) => setTimeout(r, 1000));
const after = rssKb();
console.log(`opened ${sockets.length} subscriptions`);
if (pid) console.log(`server memory per idle subscription: ${(((after - before) * 1024) / N / 1024).toFixed(1)} KiB`);

for (let k = 0; k < M; k++) {
  const title = `fanout ${Date.now()} ${k}`;
  sentAt.set(title, performance.now());
  const res = await fetch(`${mutUrl}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: `mutation { createLead(input: { title: ${JSON.stringify(title)} }) { id } }` }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  await new Promise((r) => setTimeout(r, 200));
}
await new Promise((r) => setTimeout(r, 3000));

latencies.sort((a, b) => a - b);
const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
console.log(`events expected ${N * M}, received ${received}, lost ${N * M - received}`);
console.log(`delivery latency ms: p50 ${q(50).toFixed(1)}  p99 ${q(99).toFixed(1)}  max ${latencies.at(-1)?.toFixed(1)}`);
for (const ws of sockets) ws.terminate();
process.exit(0);
