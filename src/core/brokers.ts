import { isPrefix } from '../protocol/topics.ts';
import { checkBrokerUrl } from './urls.ts';

/**
 * Broker settings (issue "Any MQTT-WS broker"): well-known public brokers as presets, and share
 * links that open the app on a broker and room. Links never carry secrets (user name, password).
 */
export interface BrokerPreset {
  id: string;
  label: string;
  url: string;
  /** Public brokers: anyone can read every topic; only signatures and DM encryption protect you. */
  public: boolean;
}

export const BROKER_PRESETS: readonly BrokerPreset[] = [
  { id: 'local', label: 'This computer (npm start)', url: 'ws://localhost:8888', public: false },
  { id: 'mosquitto', label: 'test.mosquitto.org', url: 'wss://test.mosquitto.org:8081/mqtt', public: true },
  { id: 'emqx', label: 'broker.emqx.io', url: 'wss://broker.emqx.io:8084/mqtt', public: true },
  { id: 'hivemq', label: 'broker.hivemq.com', url: 'wss://broker.hivemq.com:8884/mqtt', public: true },
];

export interface ShareTarget {
  broker: string;
  room: string;
  prefix?: string;
}

/** A link to `base` (the app's own address) that opens `target`; credentials are never included. */
export const shareLink = (base: string, target: ShareTarget): string => {
  const url = new URL(base);
  url.search = '';
  url.hash = '';
  const broker = new URL(target.broker);
  broker.username = '';
  broker.password = '';
  url.searchParams.set('broker', broker.href);
  url.searchParams.set('room', target.room);
  if (target.prefix !== undefined && target.prefix !== 'mqchat')
    url.searchParams.set('prefix', target.prefix);
  return url.href;
};

/** Reads a share link's query; invalid values are dropped, not trusted. */
export const readShareLink = (search: string): Partial<ShareTarget> => {
  const params = new URLSearchParams(search);
  const out: Partial<ShareTarget> = {};
  const broker = params.get('broker');
  if (broker !== null && checkBrokerUrl(broker).ok) out.broker = broker;
  const room = params.get('room');
  if (room !== null && room.length <= 64) out.room = room;
  const prefix = params.get('prefix');
  if (prefix !== null && isPrefix(prefix)) out.prefix = prefix;
  return out;
};
