/**
 * Up to `count` distinct items of `items`, chosen uniformly at random. Gossip picks 1-3 targets out of
 * hundreds of members many times a second, so a small pick draws distinct indices instead of shuffling
 * a copy of the whole list.
 */
export function pickRandom<T>(items: readonly T[], count: number): T[] {
  if (count * 4 < items.length) {
    const chosen = new Set<number>();
    while (chosen.size < count) chosen.add(Math.floor(Math.random() * items.length));
    return [...chosen].map((index) => items[index] as T);
  }
  const pool = [...items];
  const picked: T[] = [];
  while (picked.length < count && pool.length > 0) {
    const index = Math.floor(Math.random() * pool.length);
    picked.push(pool[index] as T);
    pool[index] = pool[pool.length - 1] as T;
    pool.pop();
  }
  return picked;
}
