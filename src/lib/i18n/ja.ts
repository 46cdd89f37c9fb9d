import type { MessageKey } from './en.ts';

/** Japanese UI strings; every key of en.ts must be here (checked by the type). */
export const ja: Record<MessageKey, string> = {
  'app.tagline': 'どの MQTT ブローカーでも使えるチャット。サーバーもアカウントも不要です。',
  'app.loading': '読み込み中…',
  'app.bootFailed': 'このブラウザーでは mqchat を起動できません: {detail}',
  'app.noEd25519':
    'Ed25519 署名に対応していません（最新の Chrome、Edge、Firefox、Safari をお使いください）。',
  'app.memoryStore':
    'このブラウザーではローカル保存ができないため、履歴と鍵はタブを閉じるまでしか残りません。',

  'language.label': '言語',

  'join.heading': 'ルームに参加',
  'join.name': '名前',
  'join.nameHint': 'メッセージの横に表示されます。{max} 文字まで。',
  'join.room': 'ルーム',
  'join.roomHint': '英数字・-・_ が使えます。同じ名前を入力した人同士が会えます。',
  'join.roomAs': '「{room}」に参加します。',
  'join.broker': 'ブローカー URL',
  'join.brokerHint': 'WebSocket が有効な MQTT ブローカーなら何でも使えます。',
  'join.submit': '参加',
  'join.fingerprint': 'あなたの鍵: {fingerprint}',
  'join.fingerprintTitle':
    'メッセージはこのブラウザーで作られた鍵で署名されます。ほかの人には名前の横にこの短い指紋が表示されます。',
  'join.error.name': '名前を入力してください',
  'join.error.room.empty': 'ルーム名を入力してください',
  'join.error.room.too-long': 'ルーム名は {max} 文字までです',
  'join.error.room.invalid': '英数字・-・_ を使い、英数字で始めてください',
  'join.error.invalid-url': 'ws:// または wss:// の URL を入力してください',
  'join.error.mixed-content':
    'このページは https で配信されているため、安全な接続しか使えません。wss:// の URL を入力してください。',

  'room.leave': '退出',
  'room.you': 'あなた',
  'room.fingerprintTitle': '鍵の指紋: 同じ名前の人を見分けるのに使えます',

  'status.connecting': '接続中',
  'status.online': 'オンライン',
  'status.reconnecting': '再接続中',
  'status.offline': 'オフライン',
  'status.mqtt4': 'MQTT 3.1.1',
  'status.mqtt5': 'MQTT 5',
  'status.error.unreachable': '{url} のブローカーに接続できません',
  'status.error.refused': 'ブローカーが接続を拒否しました',
  'status.error.auth': 'ブローカーがユーザー名またはパスワードを拒否しました',
  'status.error.protocol': 'ブローカーが MQTT 5 にも MQTT 3.1.1 にも対応していません',
  'status.error.closed': 'ブローカーが接続を切断しました',
  'status.error.invalid-url': 'ブローカー URL が ws:// または wss:// の URL ではありません',
  'status.error.mixed-content':
    'このページは https で配信されているため、ブローカー URL には wss:// が必要です',
  'status.rejected': '{count} 件を破棄',
  'status.rejectedTitle': '不正な形式、または署名が偽造された受信データです。破棄し、表示していません。',

  'messages.label': 'メッセージ一覧',
  'messages.empty': 'まだメッセージはありません。あいさつしてみましょう！',
  'messages.older': '過去のメッセージを読み込む',
  'messages.loadingOlder': '過去のメッセージを読み込み中…',
  'messages.jump': '新着メッセージ',
  'message.you': '（あなた）',
  'message.sending': '送信中…',
  'message.failed': '送信失敗',
  'message.retry': '再送信',
  'message.edited': '（編集済み）',
  'message.deleted': 'メッセージは削除されました',

  'composer.label': 'メッセージ',
  'composer.placeholder': 'メッセージを入力',
  'composer.hint': 'Enter で送信、Shift+Enter で改行',
  'composer.send': '送信',
  'composer.error.too-long': 'メッセージが長すぎて送信できません。',
  'composer.error.not-joined': 'ルームに参加していません。退出してからもう一度参加してください。',
  'composer.error.empty': '先に何か入力してください。',
  'composer.error.other': '送信できませんでした: {error}',
  'composer.error.not-found': 'そのメッセージはもうありません。',
  'composer.error.not-yours': 'そのメッセージを変更できるのは投稿者だけです。',
};
