// Renders the bench's results as markdown (bench/RESULTS.md).

const n = (x, digits = 0) => (x === undefined || x === null || Number.isNaN(x) ? "—" : Number(x).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const cellText = (s) => String(s).replace(/\|/g, "\\|").replace(/\n/g, " ");
const size = (x) => (x >= 1_000_000 ? `${x / 1_000_000}M` : x >= 1000 ? `${x / 1000}k` : String(x));

export function table(headers, rows) {
  const line = (cells) => `| ${cells.map(cellText).join(" | ")} |`;
  return [line(headers), line(headers.map(() => "---")), ...rows.map(line)].join("\n");
}

const TARGET = { read: 0.8, write: 0.6 };
const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b.rps, 0) / xs.length : NaN);
/** The /health rate a family's routes are compared with: the runs just before and after its block. */
const baseOf = (f) => mean(f.health ?? []);
const UNSEEN = "not in header¹";
const UNSEEN_NOTE =
  "¹ The response carried no `Server-Timing: d1` entry: its D1 queries run while the body streams, after the headers are sent, so the header cannot count them.";

/** Rows read as a cell: a read that reported no query at all was not observable. */
const readCell = (x, digits = 0) => (x.kind !== "write" && x.group !== "write" && x.queries === 0 ? UNSEEN : n(x.read, digits));

/** A count or linked page meets its target when what it reads does not grow with the table. */
export function flatVerdict(cells) {
  const ok = cells.filter((c) => !c.error);
  if (ok.length < 2) return "—";
  const first = ok[0].read;
  const last = ok.at(-1).read;
  if (last <= first + Math.max(2, first * 0.1)) return "flat ✓";
  return `grows ×${n(last / Math.max(1, first), 1)} ✗`;
}

/**
 * The cheapest D1 route measured (one query, at most one row): every route that touches
 * D1 pays at least this much locally, so it tells route cost from the local D1 round trip.
 */
function floorNote(r) {
  let best = null;
  for (const f of r.families) {
    const base = baseOf(f);
    for (const row of f.routes) {
      if (row.error || row.kind !== "read" || row.queries !== 1 || row.read > 1) continue;
      const ratio = row.rps / base;
      if (!best || ratio > best.ratio) best = { ratio, label: row.label };
    }
  }
  if (!best) return [];
  return [
    `One D1 query costs: the fastest route with a single one-row query (${best.label}) ran at ${n(best.ratio, 2)}× /health. ` +
      `Locally each D1 query is a call into miniflare's D1 object in the same workerd, on the same ${r.cores} cores as the load generator; ` +
      "a route near that ratio is bounded by the local D1 round trip, one well below it does more work than its query count explains.",
  ];
}

/** Where the run missed a target or a route answered an error, in one list. */
function misses(r) {
  const lines = [];
  for (const f of r.families) {
    const base = baseOf(f);
    const slow = f.routes.filter((row) => !row.error && row.rps / base < (TARGET[row.kind] ?? TARGET.read));
    if (slow.length) lines.push(`- ${f.name}: below the rate target: ${slow.map((row) => `${row.label} (${n(row.rps / base, 2)}×)`).join(", ")}`);
    const grows = [...f.probes.values()].filter((p) => p.flat && flatVerdict(p.cells).includes("✗"));
    if (grows.length) lines.push(`- ${f.name}: rows read grow with the table: ${grows.map((p) => `${p.label} (${p.cells.map((c) => n(c.read)).join(" → ")})`).join(", ")}`);
    const failed = [...f.routes.filter((row) => row.error).map((row) => row.label), ...[...f.probes.values()].filter((p) => p.cells.some((c) => c.error)).map((p) => p.label)];
    if (failed.length) lines.push(`- ${f.name}: answered an error: ${[...new Set(failed)].join(", ")}`);
    if (f.error) lines.push(`- ${f.name}: ${f.error}`);
  }
  return ["## Targets missed", "", ...(lines.length ? lines : ["None."])];
}

export function render(r) {
  const out = [];
  const health = mean(r.baseline);
  out.push("# Benchmark results", "");
  out.push(`- Command: \`${r.command}\``);
  out.push(`- Date: ${r.date}; finished in ${n(r.elapsed / 60, 1)} min`);
  out.push(`- Machine: ${r.cores} cores (${r.cpu}), Node ${r.node}`);
  out.push(`- Service: \`wrangler dev\` ${r.wrangler} (local workerd, D1, R2 and Durable Objects under miniflare; fresh \`--persist-to\` state), on 127.0.0.1`);
  out.push(`- Load: autocannon, ${r.connections} connections, ${r.seconds} s per route, admin token; D1 rows from the \`Server-Timing: d1\` header`);
  const sizes = r.families.filter((f) => f.sizes.length).map((f) => `${f.name} ${f.sizes.map(size).join(" / ")} ${f.unit}`);
  out.push(`- Sizes: ${sizes.join("; ")}`);
  out.push("");
  out.push(
    `Targets (reported, not asserted): reads ≥ ${TARGET.read}× and writes ≥ ${TARGET.write}× the bare \`GET /health\` rate measured in the same run; ` +
      "counts and linked pages read a number of rows that does not grow with the table. " +
      "Local D1 is SQLite in the same machine as the load generator, so the ratios say how much work a route adds to a bare request, not what production latency will be.",
  );
  out.push("");

  out.push("## Throughput at the largest size", "");
  out.push(
    `Bare \`GET /health\` was measured before each family's block and at the end: ${r.baseline.map((b) => `${n(b.rps)} req/s ${b.when} (p50 ${b.p50} ms, p99 ${b.p99} ms)`).join("; ")} (mean ${n(health)} req/s). ` +
      "A route's ratio uses the mean of the two runs around its family's block.",
    "",
  );
  const rows = [];
  for (const f of r.families) {
    const base = baseOf(f);
    for (const row of f.routes) {
      if (row.error) {
        rows.push([f.name, row.label, row.kind, "—", "—", "—", "—", "—", "—", n(row.read), n(row.written), `error: ${row.error}`]);
        continue;
      }
      const ratio = row.rps / base;
      const target = TARGET[row.kind] ?? TARGET.read;
      const notes = [];
      if (row.non2xx) notes.push(`${row.non2xx} non-2xx of ${row.total} (${Object.entries(row.statusCodes ?? {}).map(([k, v]) => `${k}×${v.count}`).join(" ")})`);
      if (row.d1FromLoad) notes.push("D1 rows: mean over every response of the run");
      if (row.note) notes.push(row.note);
      rows.push([
        f.name,
        row.label,
        row.kind,
        n(row.rps),
        `${n(ratio, 2)}×`,
        ratio >= target ? `≥ ${target}× ✓` : `≥ ${target}× ✗`,
        n(row.p50),
        n(row.p99),
        row.queries === undefined ? "—" : n(row.queries, row.d1FromLoad ? 1 : 0),
        readCell(row, row.d1FromLoad ? 1 : 0),
        n(row.written, row.d1FromLoad ? 2 : 0),
        notes.join("; "),
      ]);
    }
    if (f.routes.length) rows.push([f.name, "GET /health (baseline of this block)", "", n(base), "1.00×", "", "", "", "0", "0", "0", "mean of the runs before and after the block"]);
    if (f.error) rows.push([f.name, "(family)", "", "—", "—", "—", "—", "—", "—", "—", "—", `error: ${f.error}`]);
  }
  out.push(table(["family", "route", "kind", "req/s", "× /health", "target", "p50 ms", "p99 ms", "D1 queries/req", "D1 rows read/req", "rows written/req", "notes"], rows));
  out.push("");
  out.push(...floorNote(r), "");

  out.push("## D1 cost as the data grows", "");
  out.push("Rows read (and written, for writes) per request, sampled with `fetch` after seeding each size (median of up to 3).", "");
  for (const f of r.families) {
    out.push(`### ${f.title}`, "");
    if (f.error) out.push(`Error: ${f.error}`, "");
    if (!f.sizes.length) continue;
    const seeding = f.seeding.map((s) => (s.failed ? `${size(s.to)}: failed after ${n(s.seconds, 1)} s` : `${size(s.to)}: +${n(s.to - s.from)} in ${n(s.seconds, 1)} s (${n((s.to - s.from) / s.seconds)}/s)`));
    out.push(`Seeded through the API: ${seeding.join("; ")}.`, "");
    const head = ["group", "request", ...f.sizes.map((s) => `rows read @ ${size(s)} ${f.unit}`), "rows written", "target"];
    const body = [...f.probes.values()].map((p) => {
      const cells = p.cells.map((c) => (c.error ? `error: ${c.error}` : readCell({ ...c, group: p.group })));
      const written = p.cells.filter((c) => !c.error).map((c) => c.written);
      const wr = written.length ? [...new Set(written)].map((x) => n(x)).join(" / ") : "—";
      return [p.group, p.label, ...cells, wr, p.flat ? `does not grow: ${flatVerdict(p.cells)}` : ""];
    });
    out.push(table(head, body), "");
    if (f.notes) for (const note of f.notes) out.push(note, "");
  }
  out.push(UNSEEN_NOTE, "");

  out.push(...misses(r), "");

  for (const x of r.extras) {
    out.push(`## ${x.title}`, "");
    if (x.error) out.push(`Error: ${x.error}`, "");
    if (x.headers) out.push(table(x.headers, x.rows), "");
    for (const note of x.notes ?? []) out.push(note, "");
  }
  return out.join("\n");
}
