/**
 * Places a popover (the HTML `popover` attribute: top layer, light dismiss) next to the button that
 * opened it: below it when there is room, else above; kept inside the viewport. CSS anchor
 * positioning would do this, but not yet in every browser we support.
 */
export const placePopover = (popover: HTMLElement, anchor: HTMLElement, gap = 4): void => {
  const box = anchor.getBoundingClientRect();
  const width = popover.offsetWidth;
  const height = popover.offsetHeight;
  const below = box.bottom + gap + height <= window.innerHeight || box.top - gap - height < 0;
  const top = below ? box.bottom + gap : box.top - gap - height;
  const left = Math.min(Math.max(8, box.left), Math.max(8, window.innerWidth - width - 8));
  // CSSOM writes, which the site's CSP allows (it refuses style attributes in markup).
  popover.style.top = `${Math.max(8, top)}px`;
  popover.style.left = `${left}px`;
};
