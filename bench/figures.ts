/**
 * The one shape every benchmark reports its headline figures in (the `figures` field of its
 * results file), so that `npm run bench` (all.ts) can print them in one table: each figure beside
 * the reference measured in the same run, and their ratio.
 */
export type Figure = {
  figure: string;
  value: number;
  unit: string;
  /** What the figure is compared with, measured in the same run ("" when there is none). */
  reference: string;
  referenceValue: number | null;
  /** value / referenceValue, or for costs (higher is worse) as the benchmark states it. */
  ratio: number | null;
};

export function figure(
  name: string,
  value: number,
  unit: string,
  reference?: { name: string; value: number },
): Figure {
  return {
    figure: name,
    value,
    unit,
    reference: reference?.name ?? "",
    referenceValue: reference?.value ?? null,
    ratio: reference && reference.value !== 0 ? Math.round((value / reference.value) * 1000) / 1000 : null,
  };
}
