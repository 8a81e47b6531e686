/**
 * MurmurHash3 (x86, 32-bit) over a string's UTF-16 code units, two per 32-bit block. Fast, with good
 * avalanche, so the points of a consistent-hash ring spread evenly even for similar ids such as
 * `a#1`, `a#2`. (The seed's hash distribution compared a request hash with a service hash for
 * equality, which only routes anything when they happen to collide.)
 */
export function murmur3(text: string, seed = 0): number {
  let h = seed >>> 0;
  const len = text.length;
  const pairs = len >> 1;
  for (let i = 0; i < pairs; i++) {
    let k = (text.charCodeAt(2 * i) & 0xffff) | ((text.charCodeAt(2 * i + 1) & 0xffff) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (len & 1) {
    let k = text.charCodeAt(len - 1) & 0xffff;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= len * 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
