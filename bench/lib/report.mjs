// Renders the bench's results as markdown (bench/RESULTS.md).

const n = (x, digits = 0) =>
  x === undefined || x === null || Number.isNaN(x)
    ? "—"
    : Number(x).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const cellText = (s) => String(s).replace(/\|/g, "\\|").replace(/\n/g, " ");
const size = (x) => (x >= 1_000_000 ? `${x / 1_000_000}M` : x >= 1000 ? `${x / 1000}k` : String(x));

export function table(headers, rows) {
  const line = (cells) => `| ${cells.map(cellText).join(" | ")} |`;
  return [line(headers), line(headers.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Reads against the one-query floor, writes against bare /health. */
const TARGET = { read: 0.9, write: 0.6 };
const TARGET_BASE = { read: "floor", write: "/health" };
const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b.rps, 0) / xs.length : NaN);
/** The /health rate a family's routes are compared with: the runs just before and after its block. */
const baseOf = (f) => mean(f.health ?? []);
/** The floor (GET /health/d1, one primary-key read) measured around the family's block. */
const floorOf = (f) => mean((f.health ?? []).map((b) => b.floor).filter((x) => x && !x.error));
/** What a route is held to: its ratio to the floor (reads) or to /health (writes). */
const targetRatio = (f, row) => (row.kind === "write" ? row.rps / baseOf(f) : row.rps / floorOf(f));

/** D1's list prices (Workers Paid, beyond the included rows): $ per million rows. */
export const PRICE = { read: 0.001, written: 1.0 };
/** $ per million requests: rows per request × $ per million rows. */
const dollarsPerMillion = (read, written) => (read ?? 0) * PRICE.read + (written ?? 0) * PRICE.written;
const money = (x) =>
  x === undefined || Number.isNaN(x)
    ? "—"
    : x >= 100
      ? `$${n(x)}`
      : x >= 1
        ? `$${n(x, 2)}`
        : `$${Number(x.toPrecision(2))}`;
/** $ per million records ingested, for writes that carry records. */
const perRecord = (x) => (x.records ? money(dollarsPerMillion(x.read, x.written) / x.records) : "—");
const UNSEEN = "not in header¹";
/** Round trips as a cell: queries a Durable Object made for the request come without their round trips. */
const tripsCell = (x, digits = 0) =>
  x.roundTrips === undefined ? "—" : x.roundTrips === 0 && x.queries > 0 ? "—²" : n(x.roundTrips, digits);
const DO_NOTE =
  "² The request's D1 queries were made by a Durable Object, which reports its queries and rows but not yet its round trips (`D1Cost.addWork` in src/http/d1-cost.ts takes them).";
const UNSEEN_NOTE =
  "¹ The response carried no `Server-Timing: d1` entry: its D1 queries run while the body streams, after the headers are sent, so the header cannot count them.";

/** Rows read as a cell: a read that reported no query at all was not observable. */
const readCell = (x, digits = 0) =>
  x.kind !== "write" && x.group !== "write" && x.queries === 0 ? UNSEEN : n(x.read, digits);

/** A count or linked page meets its target when what it reads does not grow with the table. */
export function flatVerdict(cells) {
  const ok = cells.filter((c) => !c.error);
  if (ok.length < 2) return "—";
  const first = ok[0].read;
  const last = ok.at(-1).read;
  if (last <= first + Math.max(2, first * 0.1)) return "flat ✓";
  return `grows ×${n(last / Math.max(1, first), 1)} ✗`;
}

/** The floor in one sentence: its rate against /health, its D1 cost, and the worst read against it. */
function floorNote(r) {
  const floors = r.baseline.map((b) => b.floor).filter((x) => x && !x.error);
  if (!floors.length)
    return [
      `The floor \`GET /health/d1\` could not be measured: ${r.baseline.find((b) => b.floor?.error)?.floor.error ?? "no runs"}`,
    ];
  const ratio = mean(floors) / mean(r.baseline);
  const f0 = floors[0];
  let worst = null;
  for (const f of r.families) {
    for (const row of f.routes) {
      if (row.error || row.kind !== "read") continue;
      const x = row.rps / floorOf(f);
      if (!worst || x < worst.x) worst = { x, label: `${f.name} ${row.label}` };
    }
  }
  return [
    `The floor, \`GET /health/d1\` (no token, one primary-key read: ${n(f0.roundTrips)} round trip, ${n(f0.queries)} query, ${n(f0.read)} row read), ran at ${n(mean(floors))} req/s, ` +
      `${n(ratio, 2)}× bare \`/health\` (mean of ${floors.length} runs, one beside each \`/health\` run). ` +
      "Locally each D1 round trip is a call into miniflare's D1 object in the same workerd, on the same cores as the load generator: a read route near 1.0× the floor costs no more than its one round trip." +
      (worst ? ` Worst read: ${worst.label} at ${n(worst.x, 2)}× the floor.` : ""),
  ];
}

/** Where the run missed a target or a route answered an error, in one list. */
function misses(r) {
  const lines = [];
  for (const f of r.families) {
    const slow = f.routes.filter((row) => !row.error && targetRatio(f, row) < (TARGET[row.kind] ?? TARGET.read));
    if (slow.length)
      lines.push(
        `- ${f.name}: below the rate target: ${slow.map((row) => `${row.label} (${n(targetRatio(f, row), 2)}× ${TARGET_BASE[row.kind] ?? "floor"})`).join(", ")}`,
      );
    const trips = f.routes.filter((row) => !row.error && row.roundTrips > 1);
    if (trips.length)
      lines.push(
        `- ${f.name}: more than one D1 round trip per request: ${trips.map((row) => `${row.label} (${n(row.roundTrips, 1)})`).join(", ")}`,
      );
    const grows = [...f.probes.values()].filter((p) => p.flat && flatVerdict(p.cells).includes("✗"));
    if (grows.length)
      lines.push(
        `- ${f.name}: rows read grow with the table: ${grows.map((p) => `${p.label} (${p.cells.map((c) => n(c.read)).join(" → ")})`).join(", ")}`,
      );
    const failed = [
      ...f.routes.filter((row) => row.error).map((row) => row.label),
      ...[...f.probes.values()].filter((p) => p.cells.some((c) => c.error)).map((p) => p.label),
    ];
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
  out.push(
    `- Service: \`wrangler dev\` ${r.wrangler} (local workerd, D1, R2 and Durable Objects under miniflare; fresh \`--persist-to\` state), on 127.0.0.1`,
  );
  out.push(
    `- Load: autocannon, ${r.connections} connections, ${r.seconds} s per route, admin token; D1 rows from the \`Server-Timing: d1\` header`,
  );
  const sizes = r.families
    .filter((f) => f.sizes.length)
    .map((f) => `${f.name} ${f.sizes.map(size).join(" / ")} ${f.unit}`);
  out.push(`- Sizes: ${sizes.join("; ")}`);
  out.push("");
  out.push(
    `Targets (reported, not asserted): reads ≥ ${TARGET.read}× the one-query floor (\`GET /health/d1\`: one primary-key read, no token) and writes ≥ ${TARGET.write}× the bare \`GET /health\` rate, both measured in the same run around each family's block; ` +
      "at most one D1 round trip per request; counts and linked pages read a number of rows that does not grow with the table. " +
      `Cost at D1's list prices ($${PRICE.read} per million rows read, $${PRICE.written.toFixed(2)} per million rows written): $ per million requests = rows read × ${PRICE.read} + rows written × ${PRICE.written.toFixed(2)}; for writes also per million records ingested. ` +
      "Local D1 is SQLite in the same machine as the load generator, so the ratios say how much work a route adds to a bare request, not what production latency will be.",
  );
  out.push("");

  out.push("## Throughput at the largest size", "");
  const floors = r.baseline.map((b) => b.floor).filter((x) => x && !x.error);
  out.push(
    `Bare \`GET /health\` and the floor \`GET /health/d1\` were measured before each family's block and at the end: ${r.baseline
      .map((b) => `${n(b.rps)} and ${b.floor?.error ? `error (${b.floor.error})` : n(b.floor?.rps)} req/s ${b.when}`)
      .join("; ")} (mean ${n(health)} and ${n(mean(floors))} req/s). ` +
      "A route's ratios use the mean of the two runs around its family's block.",
    "",
  );
  const rows = [];
  const dash = (k) => Array(k).fill("—");
  for (const f of r.families) {
    const base = baseOf(f);
    const floor = floorOf(f);
    for (const row of f.routes) {
      if (row.error) {
        rows.push([
          f.name,
          row.label,
          row.kind,
          ...dash(6),
          n(row.roundTrips),
          n(row.queries),
          n(row.read),
          n(row.written),
          "—",
          "—",
          `error: ${row.error}`,
        ]);
        continue;
      }
      const ratio = targetRatio(f, row);
      const target = TARGET[row.kind] ?? TARGET.read;
      const notes = [];
      if (row.non2xx)
        notes.push(
          `${row.non2xx} non-2xx of ${row.total} (${Object.entries(row.statusCodes ?? {})
            .map(([k, v]) => `${k}×${v.count}`)
            .join(" ")})`,
        );
      if (row.d1FromLoad) notes.push("D1 figures: mean over every response of the run");
      if (row.note) notes.push(row.note);
      const digits = row.d1FromLoad ? 1 : 0;
      rows.push([
        f.name,
        row.label,
        row.kind,
        n(row.rps),
        `${n(row.rps / base, 2)}×`,
        `${n(row.rps / floor, 2)}×`,
        `${ratio >= target ? "✓" : "✗"} ≥ ${target}× ${TARGET_BASE[row.kind] ?? "floor"}`,
        n(row.p50),
        n(row.p99),
        tripsCell(row, digits),
        row.queries === undefined ? "—" : n(row.queries, digits),
        readCell(row, digits),
        n(row.written, row.d1FromLoad ? 2 : 0),
        money(dollarsPerMillion(row.read, row.written)),
        row.kind === "write" ? perRecord(row) : "",
        notes.join("; "),
      ]);
    }
    if (f.routes.length) {
      const fl = (f.health ?? []).map((b) => b.floor).find((x) => x && !x.error);
      rows.push([
        f.name,
        "GET /health/d1 (the floor: one primary-key read, no token)",
        "floor",
        n(floor),
        `${n(floor / base, 2)}×`,
        "1.00×",
        "",
        "",
        "",
        fl ? n(fl.roundTrips) : "—",
        fl ? n(fl.queries) : "—",
        fl ? n(fl.read) : "—",
        fl ? n(fl.written) : "—",
        fl ? money(dollarsPerMillion(fl.read, fl.written)) : "—",
        "",
        "mean of the runs before and after the block",
      ]);
      rows.push([
        f.name,
        "GET /health (baseline of this block)",
        "",
        n(base),
        "1.00×",
        `${n(base / floor, 2)}×`,
        "",
        "",
        "",
        "0",
        "0",
        "0",
        "0",
        "$0",
        "",
        "mean of the runs before and after the block",
      ]);
    }
    if (f.error) rows.push([f.name, "(family)", "", ...dash(12), `error: ${f.error}`]);
  }
  out.push(
    table(
      [
        "family",
        "route",
        "kind",
        "req/s",
        "× /health",
        "× floor",
        "target",
        "p50 ms",
        "p99 ms",
        "D1 round trips/req",
        "D1 queries/req",
        "D1 rows read/req",
        "rows written/req",
        "$ per M requests",
        "$ per M records",
        "notes",
      ],
      rows,
    ),
  );
  out.push("");
  out.push(...floorNote(r), "");

  out.push("## D1 cost as the data grows", "");
  out.push(
    "Rows read (and written, for writes) and D1 round trips per request, sampled with `fetch` after seeding each size (median of up to 3); $ at D1's list prices for the largest size.",
    "",
  );
  for (const f of r.families) {
    out.push(`### ${f.title}`, "");
    if (f.error) out.push(`Error: ${f.error}`, "");
    if (!f.sizes.length) continue;
    const seeding = f.seeding.map((s) =>
      s.failed
        ? `${size(s.to)}: failed after ${n(s.seconds, 1)} s`
        : `${size(s.to)}: +${n(s.to - s.from)} in ${n(s.seconds, 1)} s (${n((s.to - s.from) / s.seconds)}/s)`,
    );
    out.push(`Seeded through the API: ${seeding.join("; ")}.`, "");
    const largest = size(f.sizes.at(-1));
    const head = [
      "group",
      "request",
      ...f.sizes.map((s) => `rows read @ ${size(s)} ${f.unit}`),
      "rows written",
      "round trips",
      `$ per M requests @ ${largest}`,
      `$ per M records @ ${largest}`,
      "target",
    ];
    const distinct = (cells, k) => {
      const xs = cells.filter((c) => !c.error && c[k] !== undefined).map((c) => c[k]);
      return xs.length ? [...new Set(xs)].map((x) => n(x)).join(" / ") : "—";
    };
    const body = [...f.probes.values()].map((p) => {
      const cells = p.cells.map((c) => (c.error ? `error: ${c.error}` : readCell({ ...c, group: p.group })));
      const last = p.cells.at(-1);
      const ok = last && !last.error;
      return [
        p.group,
        p.label,
        ...cells,
        distinct(p.cells, "written"),
        p.cells.some((c) => !c.error && c.roundTrips === 0 && c.queries > 0) ? "—²" : distinct(p.cells, "roundTrips"),
        ok ? money(dollarsPerMillion(last.read, last.written)) : "—",
        ok && p.group === "write" ? perRecord(last) : "",
        p.flat ? `does not grow: ${flatVerdict(p.cells)}` : "",
      ];
    });
    out.push(table(head, body), "");
    if (f.notes) for (const note of f.notes) out.push(note, "");
  }
  out.push(UNSEEN_NOTE, "", DO_NOTE, "");

  out.push(...misses(r), "");

  for (const x of r.extras) {
    out.push(`## ${x.title}`, "");
    if (x.error) out.push(`Error: ${x.error}`, "");
    if (x.headers) out.push(table(x.headers, x.rows), "");
    for (const note of x.notes ?? []) out.push(note, "");
  }
  return out.join("\n");
}
