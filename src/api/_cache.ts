/**
 * One query per key per `ms` in this process, for routes every open ops page polls: callers
 * within the window share the answer (and a pending query); a failure is not kept.
 */
export function cachedFor<K, V>(ms: number, load: (key: K) => Promise<V>): (key: K) => Promise<V> {
  const cache = new Map<K, { at: number; value: Promise<V> }>();
  return (key) => {
    const now = Date.now();
    let hit = cache.get(key);
    if (!hit || now - hit.at > ms) {
      hit = { at: now, value: load(key) };
      cache.set(key, hit);
      hit.value.catch(() => cache.delete(key));
    }
    return hit.value;
  };
}
