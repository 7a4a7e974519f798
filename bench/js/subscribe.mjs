// Subscribes to Kontor with the official graphql-ws client (graphql-transport-ws protocol),
// creates a lead over HTTP, and exits 0 once the subscription delivered it.
//
//   cd bench/js && npm install && KONTOR_URL=http://127.0.0.1:8080 KONTOR_TOKEN=kontor_... node subscribe.mjs
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const base = process.env.KONTOR_URL ?? 'http://127.0.0.1:8080';
const token = process.env.KONTOR_TOKEN;
if (!token) {
  console.error('set KONTOR_TOKEN');
  process.exit(2);
}

const client = createClient({
  url: base.replace(/^http/, 'ws') + '/graphql',
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
});

const title = `graphql-ws check ${Date.now()}`;
const timer = setTimeout(() => {
  console.error('no event within 10 s');
  process.exit(1);
}, 10000);

client.subscribe(
  { query: 'subscription { elementChanged(types: [LEAD]) { eventId action element { ... on Lead { title } } } }' },
  {
    next: (msg) => {
      const change = msg.data?.elementChanged;
      if (change?.element?.title === title) {
        console.log(`received ${change.action} as event ${change.eventId}`);
        clearTimeout(timer);
        client.dispose();
        process.exit(0);
      }
    },
    error: (err) => {
      console.error('subscription error', err);
      process.exit(1);
    },
    complete: () => {},
  },
);

// Give the subscription a moment to start, then write.
setTimeout(async () => {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: `mutation { createLead(input: { title: ${JSON.stringify(title)} }) { id } }` }),
  });
  const body = await res.json();
  if (body.errors) {
    console.error('mutation failed', body.errors);
    process.exit(1);
  }
}, 500);
