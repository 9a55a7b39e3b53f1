/**
 * "did you mean …" for a key nobody defines: the known name closest to a typo, by edit distance, when close
 * enough to be the one meant (at most 2 edits, and fewer than a third of the name). It lives beside the
 * sandbox because the loader names the hook a misspelt one was meant to be, and the worker loads nothing from
 * the core; the config and plugin-config checks use it too.
 */
export function closestName(word: string, known: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(word.toLowerCase(), name.toLowerCase());
    if (!best || distance < best.distance) best = { name, distance };
  }
  return best && best.distance <= Math.min(2, Math.ceil(best.name.length / 3)) ? best.name : undefined;
}

/** `; did you mean "config"?`, or nothing. */
export function didYouMean(word: string, known: readonly string[]): string {
  const name = closestName(word, known);
  return name ? `; did you mean ${JSON.stringify(name)}?` : "";
}

/** Levenshtein distance, two rows. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++)
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    previous = current;
  }
  return previous[b.length]!;
}
