/** True on touch screens, which have no hover: controls shown on hover there are always shown. */
export const noHover: boolean = typeof matchMedia === 'function' && matchMedia('(hover: none)').matches;
