// A line diff (longest common subsequence), laid out side by side.
export type Row = { left: string | null; right: string | null; kind: "same" | "del" | "add" | "change" };

export function diffLines(a: string[], b: string[]): Row[] {
  const n = a.length, m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const rows: Row[] = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { rows.push({ left: a[i++], right: b[j++], kind: "same" }); }
    else if (j < m && (i === n || lcs[i][j + 1] >= lcs[i + 1][j])) { rows.push({ left: null, right: b[j++], kind: "add" }); }
    else { rows.push({ left: a[i++], right: null, kind: "del" }); }
  }
  return rows;
}
