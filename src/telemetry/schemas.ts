/** Bodies the telemetry family accepts and answers, and the mapping from stored rows to them. */
import { z } from "zod";
import type { telemetryMeters } from "../db/schema";
import { badQuery, formatTimestamp, type MetadataKind, parseTimestamp } from "./query";

export const SAMPLE_TYPES = ["gauge", "delta", "cumulative"] as const;
/** Most samples one post may carry (one D1 batch). */
export const MAX_SAMPLES_PER_POST = 1000;

/**
 * A sample as every tier answers it (hot ones expanded from their chunk, cold ones read
 * from R2). `seq` orders ties newest first (chunks.ts).
 */
export interface SampleRow {
  seq: number;
  id: string;
  meter: string;
  displayName: string;
  projectId: string;
  resourceId: string;
  resourceName: string;
  namespace: string;
  type: (typeof SAMPLE_TYPES)[number];
  unit: string;
  volume: number;
  timestamp: number;
  recordedAt: number;
  userId: string;
  source: string;
  metadata: string;
}
type MeterRow = typeof telemetryMeters.$inferSelect;

/**
 * Most metadata entries one sample may carry, counting each leaf of a nested object or
 * list once (`flavor.name`, `tags[0]`): each is a row of the metadata index, written
 * with the sample (docs/api/telemetry.md).
 */
export const MAX_METADATA_ENTRIES = 64;

/** One flattened metadata leaf, as the metadata index stores it. */
export interface MetadataEntry {
  key: string;
  kind: MetadataKind;
  value: string | number;
}

/** A sample as validated input, before the server adds its id and recorded_at. */
export type NewSample = Omit<SampleRow, "seq" | "id" | "recordedAt"> & { metadataEntries: MetadataEntry[] };

// Ceilometer's columns are 255 characters; clients send null for what they leave unset.
const name = z.string().min(1).max(255);
const optionalText = z
  .string()
  .max(255)
  .nullish()
  .transform((v) => v ?? "");
/**
 * A float field takes a number or a numeric string (`"12.5"`): Ceilometer's WSME layer
 * converts strings with Python's float(), and the ceilometer client sends them so.
 */
const volume = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = typeof v === "number" ? v : /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n)) {
    ctx.addIssue({
      code: "custom",
      message:
        typeof v === "number" ? "must be a finite number" : `Value: '${v}'. Wrong type. Expected 'float', got 'str'`,
    });
    return z.NEVER;
  }
  return n;
});
const timestamp = z
  .string()
  .nullish()
  .transform((v, ctx) => {
    if (v == null || v === "") return Date.now() * 1000;
    const us = parseTimestamp(v);
    if (us === null) {
      ctx.addIssue({ code: "custom", message: `Value: '${v}'. Not an ISO 8601 datetime` });
      return z.NEVER;
    }
    return us;
  });
const metadata = z
  .union([z.record(z.string(), z.unknown()), z.literal(""), z.null()])
  .optional()
  .transform((v, ctx) => {
    if (!v || !Object.keys(v).length) return { text: "", entries: [] as MetadataEntry[] };
    const entries = flattenMetadata(v);
    if (entries === null) {
      ctx.addIssue({
        code: "custom",
        message: `metadata holds more than ${MAX_METADATA_ENTRIES} entries (each nested key and list item counts)`,
      });
      return z.NEVER;
    }
    return { text: JSON.stringify(v), entries };
  });

/**
 * Metadata's leaves as Ceilometer's dict_to_keyval names them: nested keys joined by
 * `.`, list items as `[i]`. Nulls, empty objects and lists have no entry (they cannot be
 * queried). Null when there are more than `max` leaves.
 */
export function flattenMetadata(doc: Record<string, unknown>, max = MAX_METADATA_ENTRIES): MetadataEntry[] | null {
  const entries: MetadataEntry[] = [];
  let leaves = 0;
  const stack: Array<[string, unknown]> = Object.entries(doc).reverse();
  while (stack.length) {
    const [key, v] = stack.pop()!;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([`${key}[${i}]`, v[i]]);
      continue;
    }
    if (v && typeof v === "object") {
      const children = Object.entries(v);
      for (let i = children.length - 1; i >= 0; i--) stack.push([`${key}.${children[i][0]}`, children[i][1]]);
      continue;
    }
    if (++leaves > max) return null;
    if (typeof v === "string") entries.push({ key, kind: "s", value: v });
    else if (typeof v === "number") entries.push({ key, kind: "n", value: v });
    else if (typeof v === "boolean") entries.push({ key, kind: "b", value: v ? 1 : 0 });
  }
  return entries;
}
const serverMade = (field: string) =>
  z
    .unknown()
    .optional()
    .refine((v) => v === undefined || v === null || v === "", `The ${field} must not be set`);

/** `POST /v2/samples`: the sample fields of the spec. */
const sampleFields = z.object({
  meter: name,
  type: z.enum(SAMPLE_TYPES),
  unit: optionalText,
  volume,
  resource_id: name,
  display_name: optionalText,
  project_id: optionalText,
  resource_name: optionalText,
  namespace: optionalText,
  user_id: optionalText,
  source: optionalText,
  timestamp,
  metadata,
  id: serverMade("id"),
  message_id: serverMade("message_id"),
  // Ceilometer's Sample has it; the server sets it (as Ceilometer's post does).
  recorded_at: z.unknown().optional(),
});
export const sampleInput = sampleFields.transform(
  (s): NewSample => ({
    meter: s.meter,
    type: s.type,
    unit: s.unit,
    volume: s.volume,
    resourceId: s.resource_id,
    displayName: s.display_name,
    projectId: s.project_id,
    resourceName: s.resource_name,
    namespace: s.namespace,
    userId: s.user_id,
    source: s.source,
    timestamp: s.timestamp,
    metadata: s.metadata.text,
    metadataEntries: s.metadata.entries,
  }),
);

/** `POST /v2/meters/{meter}`: Ceilometer's OldSample. */
const oldSampleFields = z.object({
  counter_name: name,
  counter_type: z.enum(SAMPLE_TYPES, { error: `The counter type must be: ${SAMPLE_TYPES.join(", ")}` }),
  counter_unit: z.string().max(255),
  counter_volume: volume,
  resource_id: name,
  user_id: optionalText,
  project_id: optionalText,
  source: optionalText,
  timestamp,
  resource_metadata: metadata,
  message_id: serverMade("message_id"),
  recorded_at: z.unknown().optional(),
});
export const oldSampleInput = oldSampleFields.transform(
  (s): NewSample => ({
    meter: s.counter_name,
    type: s.counter_type,
    unit: s.counter_unit,
    volume: s.counter_volume,
    resourceId: s.resource_id,
    displayName: "",
    projectId: s.project_id,
    resourceName: "",
    namespace: "",
    userId: s.user_id,
    source: s.source,
    timestamp: s.timestamp,
    metadata: s.resource_metadata.text,
    metadataEntries: s.resource_metadata.entries,
  }),
);

/**
 * A field the sample type does not have is refused, naming it, as WSME (Ceilometer's API
 * layer) refuses it: 400 `Unknown attribute for argument samples: <field>`, nothing stored.
 * Dropping it silently would store, say, a `resource_metadata` sample without metadata.
 */
function refuseUnknown(known: readonly string[]) {
  return (body: unknown) => {
    if (!Array.isArray(body)) return;
    for (const item of body) {
      if (!item || typeof item !== "object" || Array.isArray(item)) continue;
      const unknown = Object.keys(item)
        .filter((k) => !known.includes(k))
        .sort();
      if (unknown.length) {
        throw badQuery(`Unknown attribute${unknown.length > 1 ? "s" : ""} for argument samples: ${unknown.join(", ")}`);
      }
    }
  };
}
export const refuseUnknownSampleFields = refuseUnknown(Object.keys(sampleFields.shape));
export const refuseUnknownOldSampleFields = refuseUnknown(Object.keys(oldSampleFields.shape));

const listOf = <S extends z.ZodType>(item: S) =>
  z
    .array(item)
    .min(1, "at least one sample")
    .max(MAX_SAMPLES_PER_POST, `at most ${MAX_SAMPLES_PER_POST} samples per request`);
export const samplesInput = listOf(sampleInput);
export const oldSamplesInput = listOf(oldSampleInput);

function metadataOf(text: string): Record<string, unknown> | "" {
  return text ? (JSON.parse(text) as Record<string, unknown>) : "";
}

export function sampleBody(r: SampleRow) {
  return {
    id: r.id,
    meter: r.meter,
    display_name: r.displayName,
    project_id: r.projectId,
    resource_id: r.resourceId,
    resource_name: r.resourceName,
    namespace: r.namespace,
    type: r.type,
    unit: r.unit,
    volume: r.volume,
    timestamp: formatTimestamp(r.timestamp),
    recorded_at: formatTimestamp(r.recordedAt),
    user_id: r.userId,
    source: r.source,
    metadata: metadataOf(r.metadata),
  };
}

export function oldSampleBody(r: SampleRow) {
  return {
    counter_name: r.meter,
    counter_type: r.type,
    counter_unit: r.unit,
    counter_volume: r.volume,
    message_id: r.id,
    project_id: r.projectId,
    resource_id: r.resourceId,
    user_id: r.userId,
    source: r.source,
    timestamp: formatTimestamp(r.timestamp),
    recorded_at: formatTimestamp(r.recordedAt),
    resource_metadata: metadataOf(r.metadata) || {},
  };
}

/** `unique=True`: Ceilometer's Meter with resource, project, user and source unset. */
export function uniqueMeterBody(m: Pick<MeterRow, "meter" | "type" | "unit">) {
  return {
    name: m.meter,
    type: m.type,
    unit: m.unit,
    resource_id: null,
    project_id: null,
    user_id: null,
    source: null,
    // Ceilometer builds the id from the resource, None here.
    meter_id: btoa(String.fromCharCode(...new TextEncoder().encode(`None+${m.meter}`))),
  };
}

export function meterBody(m: MeterRow) {
  return {
    name: m.meter,
    type: m.type,
    unit: m.unit,
    resource_id: m.resourceId,
    project_id: m.projectId,
    user_id: m.userId,
    source: m.source,
    // Ceilometer's meter id: base64 of "<resource_id>+<meter>".
    meter_id: btoa(String.fromCharCode(...new TextEncoder().encode(`${m.resourceId}+${m.meter}`))),
  };
}

// For /openapi.json.
export const sampleDoc = z.object({
  id: z.string(),
  meter: z.string(),
  display_name: z.string(),
  project_id: z.string(),
  resource_id: z.string(),
  resource_name: z.string(),
  namespace: z.string(),
  type: z.enum(SAMPLE_TYPES),
  unit: z.string(),
  volume: z.number(),
  timestamp: z.string(),
  recorded_at: z.string(),
  user_id: z.string(),
  source: z.string(),
  metadata: z.union([z.record(z.string(), z.unknown()), z.literal("")]),
});
export const errorDoc = z.object({ error: z.object({ code: z.number(), message: z.string(), title: z.string() }) });
