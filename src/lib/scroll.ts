/** Scroll helpers for a list that grows at both ends (a chat log). */

/** True when `el` is scrolled to within `slack` pixels of its end. */
export const nearBottom = (el: HTMLElement, slack = 48): boolean =>
  el.scrollHeight - el.scrollTop - el.clientHeight <= slack;

/** True when `el` is scrolled to within `slack` pixels of its start and can scroll at all. */
export const nearTop = (el: HTMLElement, slack = 96): boolean =>
  el.scrollTop <= slack && el.scrollHeight > el.clientHeight;

export const scrollToBottom = (el: HTMLElement): void => {
  el.scrollTop = el.scrollHeight;
};

/**
 * Snapshot before a list changes, and the fix-up after: whatever is added or removed above the view
 * (older history, rows rendered or dropped by a virtual list, rows measured at other heights than
 * estimated), the row at the top of the view stays where it was. `rows` holds the rows (default: `el`
 * itself). Browsers' own scroll anchoring is missing in Safari and fights manual scrolling, so the
 * list sets `overflow-anchor: none`.
 */
export const keepPosition = (el: HTMLElement, rows: HTMLElement = el): (() => void) => {
  const height = el.scrollHeight;
  const top = el.scrollTop;
  const edge = el.getBoundingClientRect().top;
  const anchor = [...rows.children].find((child) => child.getBoundingClientRect().bottom > edge);
  const offset = anchor?.getBoundingClientRect().top;
  return () => {
    if (anchor?.isConnected && offset !== undefined)
      el.scrollTop += anchor.getBoundingClientRect().top - offset;
    else el.scrollTop = top + (el.scrollHeight - height);
  };
};
