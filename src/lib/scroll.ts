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
  // The first row in view, and a few after it: the change may remove the first (a day divider is
  // replaced by one further up when older messages of its day arrive); the next one still there holds
  // the place then, rather than an estimate from the scroll height.
  const children = [...rows.children];
  const first = children.findIndex((child) => child.getBoundingClientRect().bottom > edge);
  const anchors = (first === -1 ? [] : children.slice(first, first + 4)).map((row) => ({
    row,
    offset: row.getBoundingClientRect().top,
  }));
  return () => {
    const anchor = anchors.find(({ row }) => row.isConnected);
    if (anchor !== undefined) el.scrollTop += anchor.row.getBoundingClientRect().top - anchor.offset;
    else el.scrollTop = top + (el.scrollHeight - height);
  };
};
