/**
 * Registers the service worker (src/pwa/sw.ts, emitted as sw.js next to index.html) so the app shell
 * opens offline and the site installs as an app. Production builds only: the dev server has no sw.js,
 * and a worker caching modules would only get in the way there.
 *
 * Both URLs are relative to the page, which is always the deployment's index.html: the same build works
 * at `/` and at `/<repo>/` on GitHub Pages.
 */
export const registerServiceWorker = (): void => {
  if (!import.meta.env.PROD || !('serviceWorker' in navigator)) return;
  const register = () => {
    navigator.serviceWorker.register('./sw.js', { scope: './' }).catch((error: unknown) => {
      // Private modes and some embedded browsers refuse service workers; the app works without one.
      console.warn('mqchat: service worker not registered, no offline start', error);
    });
  };
  // Installing downloads the whole shell once more; let the page's own requests go first.
  if (document.readyState === 'complete') register();
  else window.addEventListener('load', register, { once: true });
};
