/** `fn`'s result shared for `ttlMs` (one call in flight at a time); a failure is not kept. */
export function shared<T>(ttlMs: number, fn: () => Promise<T>): () => Promise<T> {
  let hit: { at: number; value: Promise<T> } | null = null;
  return () => {
    const now = performance.now();
    if (!hit || now - hit.at > ttlMs) {
      const value = fn();
      hit = { at: now, value };
      value.catch(() => (hit = null));
    }
    return hit.value;
  };
}
