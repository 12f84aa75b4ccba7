/**
 * A small deterministic generator (xorshift32): the same population on every run. Its own module so that light
 * processes (the keeper memory benchmark) can use it without loading the scenario tooling.
 */
export function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}
