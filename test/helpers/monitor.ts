/** Payloads exactly as pytest-monitor 1.7 sends them to `--remote-server`. */

export const pluginContext = (h = "a1b2c3d4e5f60718293a4b5c6d7e8f90") => ({
  cpu_count: 8,
  cpu_frequency: 2712.003, // psutil reports a float
  cpu_type: "",
  cpu_vendor: "GenuineIntel",
  ram_total: 15903,
  machine_node: "ci-runner-17",
  machine_type: "x86_64",
  machine_arch: "64bit",
  system_info: "Linux - 6.1.0-13-amd64",
  python_info: "3.11.2 (main, Mar 13 2023, 12:18:29)\n[GCC 12.2.0]",
  h,
});

export const pluginSession = (
  session_h = "5d41402abc4b2a76b9719d911017c592",
  description: Record<string, string> = {},
) => ({
  session_h,
  run_date: "2026-11-23T10:15:02.123456",
  scm_ref: "9f2c1e0b7a6d5c4b3a2910f8e7d6c5b4a3928171",
  description,
});

export const ciDescription = (branch = "main", build = "1042") => ({
  pipeline_branch: branch,
  pipeline_build_no: build,
  __ci__: "gitlabci",
  python: "3.11",
});

export function pluginMetric(over: Partial<Record<string, string | number>> = {}) {
  return {
    session_h: "5d41402abc4b2a76b9719d911017c592",
    context_h: "a1b2c3d4e5f60718293a4b5c6d7e8f90",
    item_start_time: "2026-11-23T10:15:03.000001",
    item_path: "tests.test_api",
    item: "test_login",
    item_variant: "test_login[admin]",
    item_fs_loc: "tests/test_api.py",
    kind: "function",
    component: "",
    total_time: 0.125,
    user_time: 0.1,
    kernel_time: 0.02,
    cpu_usage: 0.96,
    mem_usage: 12.5,
    ...over,
  };
}

/** n metrics of one session, distinct by start time; values vary so head/tail have an order. */
export const metricsOf = (session_h: string, n: number, over: Partial<Record<string, string | number>> = {}) =>
  Array.from({ length: n }, (_, i) =>
    pluginMetric({
      session_h,
      item_start_time: `2026-11-23T10:15:03.${String(i).padStart(6, "0")}`,
      item: `test_${i % 7}`,
      item_variant: `test_${i % 7}[${i}]`,
      total_time: i / 10,
      user_time: (n - i) / 10,
      kernel_time: (i % 5) / 100,
      cpu_usage: (i % 13) / 10,
      mem_usage: i * 1.5 - 3,
      ...over,
    }),
  );
