#!/usr/bin/env node
// Draws the app icons in public/icons/ (the chat bubble of public/favicon.svg) as PNGs, with nothing but
// node:zlib: `node scripts/make-icons.js`. The PNGs are committed; run this again only to change them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const BLUE = [0x2f, 0x6f, 0xde];
const WHITE = [0xff, 0xff, 0xff];

/** @typedef {(x: number, y: number) => boolean} Shape a point test in the 64×64 box of favicon.svg */

/** @type {(x0: number, y0: number, x1: number, y1: number, r: number) => Shape} */
const roundRect = (x0, y0, x1, y1, r) => (x, y) => {
  if (x < x0 || x > x1 || y < y0 || y > y1) return false;
  const dx = Math.max(x0 + r - x, 0, x - (x1 - r));
  const dy = Math.max(y0 + r - y, 0, y - (y1 - r));
  return dx * dx + dy * dy <= r * r;
};
/** @type {(cx: number, cy: number, r: number) => Shape} */
const circle = (cx, cy, r) => (x, y) => (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
/** @type {(ax: number, ay: number, bx: number, by: number, cx: number, cy: number) => Shape} */
const triangle = (ax, ay, bx, by, cx, cy) => (x, y) => {
  /** @type {(px: number, py: number, qx: number, qy: number) => number} */
  const side = (px, py, qx, qy) => (qx - px) * (y - py) - (qy - py) * (x - px);
  const [d1, d2, d3] = [side(ax, ay, bx, by), side(bx, by, cx, cy), side(cx, cy, ax, ay)];
  return (d1 >= 0 && d2 >= 0 && d3 >= 0) || (d1 <= 0 && d2 <= 0 && d3 <= 0);
};
/** @type {(...shapes: Shape[]) => Shape} */
const union =
  (...shapes) =>
  (x, y) =>
    shapes.some((shape) => shape(x, y));

// favicon.svg's bubble: a rounded body, a tighter bottom-left corner and the tail; three dots inside.
const bubble = union(
  roundRect(14, 14, 50, 42, 6),
  roundRect(14, 30, 30, 42, 4),
  triangle(18, 41, 28, 41, 18, 50),
);
const dots = union(circle(24, 28, 3), circle(32, 28, 3), circle(40, 28, 3));

/**
 * One icon. `maskable` fills the square edge to edge and shrinks the glyph into the safe zone (the
 * centre circle of radius 40 %) that launchers keep whatever mask they cut; otherwise the background
 * has favicon.svg's rounded corners and transparency around them.
 * @param {number} size
 * @param {{ maskable?: boolean, corner?: number }} options corner: 0 for a full square (apple-touch-icon)
 */
const draw = (size, { maskable = false, corner = maskable ? 0 : 14 } = {}) => {
  const background = roundRect(0, 0, 64, 64, corner);
  const scale = maskable ? 0.8 : 1;
  const samples = 4; // 4×4 supersampling for smooth edges
  const rgba = Buffer.alloc(size * size * 4);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let cover = 0;
      const sum = [0, 0, 0];
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const x = ((px + (sx + 0.5) / samples) / size) * 64;
          const y = ((py + (sy + 0.5) / samples) / size) * 64;
          if (!background(x, y)) continue;
          const gx = 32 + (x - 32) / scale;
          const gy = 32 + (y - 32) / scale;
          const color = bubble(gx, gy) && !dots(gx, gy) ? WHITE : BLUE;
          cover++;
          for (let c = 0; c < 3; c++) sum[c] = (sum[c] ?? 0) + (color[c] ?? 0);
        }
      }
      const at = (py * size + px) * 4;
      for (let c = 0; c < 3; c++) rgba[at + c] = cover === 0 ? 0 : Math.round((sum[c] ?? 0) / cover);
      rgba[at + 3] = Math.round((cover / (samples * samples)) * 255);
    }
  }
  return png(size, size, rgba);
};

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
/** @param {Buffer} bytes */
const crc32 = (bytes) => {
  let c = 0xffffffff;
  for (const byte of bytes) c = (CRC_TABLE[(c ^ byte) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
/** @param {string} type @param {Buffer} data */
const chunk = (type, data) => {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
};
/** An 8-bit RGBA PNG, every scanline with filter 0 (none). @param {number} width @param {number} height @param {Buffer} rgba */
const png = (width, height, rgba) => {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 6, 0, 0, 0], 8); // bit depth 8, colour type 6 (RGBA), deflate, no filter set, no interlace
  const rows = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++)
    rgba.copy(rows, y * (width * 4 + 1) + 1, y * width * 4, (y + 1) * width * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
};

const dir = new URL('../public/icons/', import.meta.url);
mkdirSync(dir, { recursive: true });
/** @type {[string, Buffer][]} */
const icons = [
  ['icon-192.png', draw(192)],
  ['icon-512.png', draw(512)],
  ['maskable-192.png', draw(192, { maskable: true })],
  ['maskable-512.png', draw(512, { maskable: true })],
  // iOS ignores transparency (it would turn black) and rounds the corners itself.
  ['apple-touch-icon.png', draw(180, { corner: 0 })],
];
for (const [name, bytes] of icons) {
  writeFileSync(new URL(name, dir), bytes);
  console.log(`public/icons/${name}  ${bytes.length} bytes`);
}
