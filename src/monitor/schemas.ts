import { z } from "zod";

/**
 * Request bodies exactly as pytest-monitor 1.7 sends them. Extra keys are ignored,
 * missing or mistyped ones are a 400 naming the field.
 */
export const SessionIn = z.object({
  session_h: z.string().min(1),
  run_date: z.string().min(1),
  // The key must be present; null when the run has no SCM reference.
  scm_ref: z.string().nullable(),
  description: z.unknown(),
});
export type SessionIn = z.infer<typeof SessionIn>;

/** The most entries a session description may hold: each is a row of the flag index (docs/api/monitor.md). */
export const DESCRIPTION_MAX_ENTRIES = 64;
/** The most flags one `with_flags` (or values one `restrict_flags`) may name. */
export const FLAGS_MAX = 32;

/**
 * description: a flat object of JSON scalars. The plugin sends strings (CI keys and
 * --tag k=v); other clients send numbers (`pipeline_build_no: 1`), booleans or null.
 */
export const Description = z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]));

export const ContextIn = z.object({
  h: z.string().min(1),
  cpu_count: z.number().int().nonnegative(),
  // The plugin sends a float (psutil's MHz); stored and echoed as an integer.
  cpu_frequency: z
    .number()
    .nonnegative()
    .transform((f) => Math.round(f)),
  cpu_type: z.string(),
  cpu_vendor: z.string().default(""),
  ram_total: z.number().int().nonnegative(),
  machine_node: z.string(),
  machine_type: z.string(),
  machine_arch: z.string(),
  system_info: z.string(),
  python_info: z.string(),
});
export type ContextIn = z.infer<typeof ContextIn>;

export const MetricIn = z.object({
  session_h: z.string().min(1),
  context_h: z.string().min(1),
  item_start_time: z.string().min(1),
  item_path: z.string(),
  item: z.string(),
  item_variant: z.string(),
  item_fs_loc: z.string(),
  kind: z.string().min(1),
  component: z.string(),
  total_time: z.number(),
  user_time: z.number(),
  kernel_time: z.number(),
  cpu_usage: z.number(),
  mem_usage: z.number(),
});
export type MetricIn = z.infer<typeof MetricIn>;
/** A metric's keys in the order the plugin sends them: the table's insert order and the CSV columns. */
export const METRIC_COLUMNS = MetricIn.keyof().options;

/** The most metrics one bulk post may carry (one D1 batch). */
export const METRICS_PER_POST = 1000;
export const MetricsIn = z.array(MetricIn).min(1).max(METRICS_PER_POST);

// Response shapes, for /openapi.json.
export const SessionOut = z.object({
  session_h: z.string(),
  run_date: z.string(),
  scm_ref: z.string().nullable(),
  tags: z.array(z.object({ name: z.string(), key: z.string(), value: z.string().nullable() })),
});
export const ContextOut = ContextIn.extend({ cpu_frequency: z.number().int(), cpu_vendor: z.string() });
export const MetricOut = MetricIn;
export const Count = z.object({ count: z.number().int() });
export const pageOf = <T extends z.ZodType>(key: string, item: T) =>
  z.object({
    [key]: z.array(item),
    total_page: z.number().int(),
    prev_url: z.string().optional(),
    next_url: z.string().optional(),
  });

/** Resources of head/tail queries → metric column. */
export const RESOURCES = ["memory", "cpu", "kernel_time", "user_time", "total_time"] as const;
export type Resource = (typeof RESOURCES)[number];
