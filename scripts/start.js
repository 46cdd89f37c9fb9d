#!/usr/bin/env node
// `npm start`: the bundled broker plus the app, for local use. Ctrl+C stops both.
import { createServer } from 'vite';
import { startBroker } from '../broker/index.js';

const port = Number(process.env.PORT ?? 5173);
const broker = await startBroker({
  port: Number(process.env.MQCHAT_BROKER_PORT ?? 1883),
  wsPort: Number(process.env.MQCHAT_BROKER_WS_PORT ?? 8888),
  ...(process.env.MQCHAT_BROKER_DATA_DIR !== undefined && { dataDir: process.env.MQCHAT_BROKER_DATA_DIR }),
});
const server = await createServer({
  server: { port, strictPort: false, host: '127.0.0.1' },
  define: { 'import.meta.env.VITE_BROKER_URL': JSON.stringify(broker.urls.ws) },
});
await server.listen();
const address = server.resolvedUrls?.local[0] ?? `http://127.0.0.1:${port}/`;

console.log(`
  mqchat is running

  open      ${address}
  broker    ${broker.urls.ws}   (WebSocket, for browsers)
            ${broker.urls.mqtt}   (TCP, for mosquitto_sub / paho)

  Ctrl+C to stop.
`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.close();
  await broker.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
