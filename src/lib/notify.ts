/** Desktop notifications, behind an interface so state can be tested without a browser. */
export type NotifyPermission = NotificationPermission | 'unsupported';

export interface Notifier {
  permission(): NotifyPermission;
  /** Asks the browser; must run in a click handler (browsers refuse it otherwise). */
  request(): Promise<NotifyPermission>;
  show(title: string, body: string, tag: string, onclick: () => void): void;
}

const supported = (): boolean => typeof Notification !== 'undefined';

export const browserNotifier: Notifier = {
  permission: () => (supported() ? Notification.permission : 'unsupported'),
  request: async () => (supported() ? Notification.requestPermission() : 'unsupported'),
  show(title, body, tag, onclick) {
    if (!supported() || Notification.permission !== 'granted') return;
    try {
      const notification = new Notification(title, { body, tag });
      notification.onclick = () => {
        window.focus();
        onclick();
        notification.close();
      };
    } catch {
      // Android Chrome allows notifications only from a service worker: no desktop notice there.
    }
  },
};
