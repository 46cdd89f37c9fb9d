/** Keys of the settings this app keeps in the store (the core keeps its own, e.g. 'muted-users'). */
export const SETTINGS = {
  name: 'name',
  room: 'room',
  url: 'brokerUrl',
  /** The broker preset chosen (a BROKER_PRESETS id or 'custom'). */
  preset: 'brokerPreset',
  /** The MQTT user name; the password is never saved. */
  username: 'brokerUser',
  /** Sign in with my key (authenticated brokers). */
  login: 'brokerLogin',
  prefix: 'topicPrefix',
  language: 'language',
  /** Joined rooms, rejoined on the next Join. */
  rooms: 'rooms',
  /** Rooms bridged to the classic paho chat. */
  classic: 'classic-rooms',
  /** Users I have DM conversations with: the core has no list of them. */
  dmPeers: 'dm-peers',
  /** This device's X25519 key pair for DMs (a non-extractable CryptoKey, structured-cloneable). */
  dh: 'dh-key',
  notifications: 'notifications',
  /** Per conversation, the newest timeline position read, so unread counts survive a reload. */
  readMarks: 'read-marks',
} as const;
