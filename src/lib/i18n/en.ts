/**
 * English UI strings. End-to-end tests locate elements by these names in an en-US browser, so the
 * accessible names (labels, buttons, the log) must not change without updating tests/e2e.
 * `{name}` placeholders are filled in by `t()`.
 */
export const en = {
  'app.tagline': 'Chat over any MQTT broker. No server, no account.',
  'app.loading': 'Loading…',
  'app.bootFailed': 'mqchat cannot start in this browser: {detail}',
  'app.noEd25519': 'it does not support Ed25519 signatures (use a current Chrome, Edge, Firefox or Safari).',
  'app.memoryStore':
    'This browser does not allow local storage here, so history and your key last only until you close the tab.',

  'language.label': 'Language',

  'join.heading': 'Join a room',
  'join.name': 'Name',
  'join.nameHint': 'Shown next to your messages. Up to {max} characters.',
  'join.room': 'Room',
  'join.roomHint': 'Letters, numbers, - and _. Everyone who enters the same name meets there.',
  'join.roomAs': 'You will join “{room}”.',
  'join.broker': 'Broker URL',
  'join.brokerHint': 'Any MQTT broker with WebSockets enabled.',
  'join.submit': 'Join',
  'join.fingerprint': 'Your key: {fingerprint}',
  'join.fingerprintTitle':
    'Your messages are signed with a key made in this browser. Others see this short fingerprint next to your name.',
  'join.error.name': 'Enter a name',
  'join.error.room.empty': 'Enter a room name',
  'join.error.room.too-long': 'Room names have at most {max} characters',
  'join.error.room.invalid': 'Use letters, numbers, - and _, starting with a letter or number',
  'join.error.invalid-url': 'Enter a ws:// or wss:// URL',
  'join.error.mixed-content':
    'This page is served over https, so the browser only allows secure connections: use a wss:// URL.',

  'room.leave': 'Leave',
  'room.you': 'You',
  'room.fingerprintTitle': 'Key fingerprint: compare it to tell apart people with the same name',

  'status.connecting': 'connecting',
  'status.online': 'online',
  'status.reconnecting': 'reconnecting',
  'status.offline': 'offline',
  'status.mqtt4': 'MQTT 3.1.1',
  'status.mqtt5': 'MQTT 5',
  'status.error.unreachable': 'Cannot reach the broker at {url}',
  'status.error.refused': 'The broker refused the connection',
  'status.error.auth': 'The broker refused the user name or password',
  'status.error.protocol': 'The broker speaks neither MQTT 5 nor MQTT 3.1.1',
  'status.error.closed': 'The broker closed the connection',
  'status.error.invalid-url': 'The broker URL is not a ws:// or wss:// URL',
  'status.error.mixed-content': 'This page is served over https: the broker URL must use wss://',
  'status.rejected': '{count} rejected',
  'status.rejectedTitle':
    'Received payloads that were invalid or had forged signatures. They were dropped and not shown.',

  'messages.label': 'Messages',
  'messages.empty': 'No messages yet. Say hello!',
  'messages.older': 'Load older messages',
  'messages.loadingOlder': 'Loading older messages…',
  'messages.jump': 'New messages',
  'message.you': '(you)',
  'message.sending': 'sending…',
  'message.failed': 'failed',
  'message.retry': 'Retry',
  'message.edited': '(edited)',
  'message.deleted': 'Message deleted',

  'composer.label': 'Message',
  'composer.placeholder': 'Write a message',
  'composer.hint': 'Enter to send, Shift+Enter for a new line',
  'composer.send': 'Send',
  'composer.error.too-long': 'This message is too long to send.',
  'composer.error.not-joined': 'Not in a room any more. Leave and join again.',
  'composer.error.empty': 'Write something first.',
  'composer.error.other': 'Could not send: {error}',
  'composer.error.not-found': 'That message no longer exists.',
  'composer.error.not-yours': 'Only the author can change that message.',
} as const;

export type MessageKey = keyof typeof en;
