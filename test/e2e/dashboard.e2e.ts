import { mkdirSync } from "node:fs";
import path from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Chromium, launchChromium } from "./browser";

// The dashboard as a person uses it: data goes in through the real APIs, then a headless
// Chromium (Debian's, driven by playwright-core) signs in with a token and reads each view.
const base = () => inject("baseUrl");
const admin = () => inject("adminToken");

async function call(
  p: string,
  init: { method?: string; json?: unknown; token?: string; headers?: Record<string, string> } = {},
) {
  const res = await fetch(`${base()}${p}`, {
    method: init.method ?? (init.json === undefined ? "GET" : "POST"),
    headers: { Authorization: `Bearer ${init.token ?? admin()}`, "content-type": "application/json", ...init.headers },
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const hours = (n: number) => new Date(Date.now() - n * 3600_000);
const PIPELINE = "dash-main";
const ITEM = "test_dashboard_checkout";
const DURATIONS = [1.0, 1.1, 0.9, 1.0, 2.5, 1.05]; // run 5 is slow
const MEMORY = [50, 51, 50, 52, 50, 120]; // run 6 is big
const VOLUMES = [10, 20, 30, 40, 50, 60, 70];
const FLOATS = [10.000195868985, 20.5];
const OTHER_PROJECT = "dash-team-b";
const OTHER_PIPELINE = "team-b-main";
const OTHER_SESSION = "dashteambsession";
const BIG_LOG = "0123456789abcdef".repeat(12_500); // 200,000 bytes: loaded by range, not whole

async function seed() {
  // Test runs: six sessions of one pipeline, one test each, with one slow and one big run.
  const ctx = {
    h: "dash-ctx",
    cpu_count: 4,
    cpu_frequency: 2400,
    cpu_type: "",
    cpu_vendor: "",
    ram_total: 8192,
    machine_node: "ci-1",
    machine_type: "x86_64",
    machine_arch: "64bit",
    system_info: "Linux",
    python_info: "3.11",
  };
  expect((await call("/api/v1/contexts/", { json: ctx })).status).toBe(201);
  for (let i = 0; i < DURATIONS.length; i++) {
    const session_h = `dashsession${i}`;
    const s = await call("/api/v1/sessions/", {
      json: {
        session_h,
        run_date: hours(10 - i).toISOString(),
        scm_ref: `c0ffee${i}0000`,
        description: { pipeline_branch: PIPELINE, pipeline_build_no: String(200 + i) },
      },
    });
    expect(s.status).toBe(201);
    const m = await call("/api/v1/metrics/", {
      json: {
        session_h,
        context_h: "dash-ctx",
        item_start_time: hours(10 - i).toISOString(),
        item_path: "tests.test_shop",
        item: ITEM,
        item_variant: ITEM,
        item_fs_loc: "tests/test_shop.py",
        kind: "function",
        component: "",
        total_time: DURATIONS[i],
        user_time: DURATIONS[i] * 0.8,
        kernel_time: 0.01,
        cpu_usage: 0.9,
        mem_usage: MEMORY[i],
      },
    });
    expect(m.status).toBe(201);
  }

  // Another monitor project: one session, posted where the plugin's --remote-server URL names the project.
  const other = await call(`/projects/${OTHER_PROJECT}/api/v1/sessions/`, {
    json: {
      session_h: OTHER_SESSION,
      run_date: hours(1).toISOString(),
      scm_ref: "beef0000",
      description: { pipeline_branch: OTHER_PIPELINE },
    },
  });
  expect(other.status).toBe(201);

  // Telemetry: seven samples of one meter within the last hours.
  const samples = VOLUMES.map((volume, i) => ({
    meter: "dash.cpu_util",
    type: "gauge",
    unit: "%",
    volume,
    resource_id: "vm-dash-1",
    project_id: "dashproj",
    timestamp: hours(7 - i).toISOString(),
  }));
  expect((await call("/v2/samples", { json: samples })).status).toBe(201);
  // A meter of floats, as agents send them: the statistics are rounded for reading.
  const floats = FLOATS.map((volume, i) => ({ ...samples[i], meter: "dash.load", unit: "load", volume }));
  expect((await call("/v2/samples", { json: floats })).status).toBe(201);

  // Logs: two names for a task (stdout twice: the newer is "latest"), one body big enough to page.
  for (const [name, data] of [
    ["stdout", "first attempt"],
    ["stderr", "warning: disk"],
    ["stdout", BIG_LOG],
  ] as const) {
    const r = await call("/datasets/dash_ds/logs", { json: { name, data, task_id: "task_1" } });
    expect(r.status).toBe(201);
  }

  // Scheduler: a session with one job, started once (tag 0 → 1, running).
  const session = await call("/v2/dashproj/sessions", {
    json: { description: "nightly backup", hold_off: 30, schedule: {} },
  });
  expect(session.status).toBe(201);
  const job = await call("/v2/dashproj/jobs", {
    json: {
      job_id: "dash-job-1",
      client_id: "host-a",
      description: "db dump",
      job_actions: [{ freezer_action: { action: "backup", mode: "fs" } }],
      job_schedule: {},
    },
  });
  expect(job.status).toBe(201);
  expect(
    (await call(`/v2/dashproj/sessions/${session.body.session_id}/jobs/dash-job-1`, { method: "PUT" })).status,
  ).toBe(204);
  const start = await call(`/v2/dashproj/sessions/${session.body.session_id}/action`, {
    json: { start: { job_id: "dash-job-1", current_tag: 0 } },
  });
  expect(start.status).toBe(202);
  return { sessionId: session.body.session_id as string };
}

/** A user's daemon beats with an entrypoint and an abnormal tag (just before its view is read: beats go stale). */
async function seedDaemon() {
  const alice = await call("/auth/tokens", { json: { user: "dash-alice", role: "user", projects: [], groups: [] } });
  expect(alice.status).toBe(201);
  const id = await call("/daemon/id", { token: alice.body.token });
  expect(id.status).toBe(200);
  const beat = await call("/heartbeat", {
    json: {
      daemonid: id.body.daemonid,
      entrypoint: ["http://10.1.2.3:35800"],
      log: ["2026/11/23 12:00:00 started"],
      role: 0,
      abnormaltags: ["shop/orders:v2"],
    },
  });
  expect(beat.status).toBe(200);
}

/** Each statistic's label sits above its own value, and no two statistics overlap. */
async function expectLabelsOverValues(page: Page) {
  const boxes = await page.locator("dl.stats > div").evaluateAll((divs) =>
    divs.map((d) => {
      const r = (el: Element) => el.getBoundingClientRect();
      const [dt, dd] = [d.querySelector("dt")!, d.querySelector("dd")!];
      return { box: r(d).toJSON(), dt: r(dt).toJSON(), dd: r(dd).toJSON(), text: d.textContent };
    }),
  );
  expect(boxes.length).toBe(7);
  for (const b of boxes) {
    expect(b.dt.bottom, String(b.text)).toBeLessThanOrEqual(b.dd.top + 0.5);
    expect(b.dd.right, String(b.text)).toBeLessThanOrEqual(b.box.right + 0.5);
  }
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, b] = [boxes[i].box, boxes[j].box];
      const overlap =
        a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
      expect(overlap, `${boxes[i].text} / ${boxes[j].text}`).toBe(false);
    }
}

let browser: BrowserContext;
let page: Page;
let chromium: Chromium;
let seeded: { sessionId: string };

describe("dashboard in headless Chromium", () => {
  beforeAll(async () => {
    // A phone's width: the views must work there.
    chromium = await launchChromium("dashboard", { width: 390, height: 844 });
    seeded = await seed();
    browser = chromium.context;
    page = browser.pages()[0] ?? (await browser.newPage());
  });

  afterAll(async () => {
    await chromium?.close();
  });

  it("redirects / to the dashboard and asks for a token; a bad one is refused", async () => {
    await page.goto(`${base()}/`);
    expect(new URL(page.url()).pathname).toBe("/dashboard/");
    await page.fill("input[name=token]", "not-a-token");
    await page.click("form.signin button");
    await page.getByText("That token was not accepted.").waitFor();
  });

  it("signs in once and keeps the token across reloads", async () => {
    await page.fill("input[name=token]", admin());
    await page.click("form.signin button");
    await page.locator("[data-user]").waitFor();
    await page.reload();
    await expect(page.locator("[data-user]").textContent()).resolves.toBe("admin (admin)");
  });

  it("test runs: sessions by pipeline and commit, a test's trend with the server's regressions marked", async () => {
    await page.goto(`${base()}/dashboard/#runs`);
    await page.selectOption("select[name=pipeline]", PIPELINE);
    const sessions = page.locator("table[data-table=sessions] tbody tr");
    await expect.poll(() => sessions.count()).toBe(DURATIONS.length);
    expect(await sessions.first().textContent()).toContain("c0ffee5");

    await page.fill("input[name=commit]", "c0ffee3");
    await page.click("form.filters button");
    await expect.poll(() => sessions.count()).toBe(1);
    await page.fill("input[name=commit]", "");

    await page.fill("input[name=test]", ITEM);
    await page.click("form.filters button");
    const duration = page.locator("figure[data-chart=duration]");
    await duration.locator("canvas").waitFor();
    expect(await duration.getAttribute("data-points")).toBe(String(DURATIONS.length));
    expect(await page.locator("figure[data-chart=memory]").getAttribute("data-points")).toBe(String(MEMORY.length));
    // No session picked: the server judges the newest run (memory 120 MB against a median of 50).
    expect(await page.locator("[data-server-verdict]").getAttribute("data-server-verdict")).toBe("regression");
    expect(await page.locator("[data-regressions]").getAttribute("data-regressions")).toBe("1");
    // The marks are drawn, not just counted: the regression red is on the memory canvas.
    const memoryChart = page.locator("figure[data-chart=memory]");
    const redPixels = await memoryChart.locator("canvas").evaluate((c: HTMLCanvasElement) => {
      const px = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i] === 220 && px[i + 1] === 38 && px[i + 2] === 38) n++;
      return n;
    });
    expect(redPixels).toBeGreaterThan(10);
    // A phone's width: nothing makes the page scroll sideways (wide tables scroll in their box).
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    const flagged = await page.locator("table[data-table=runs] tr.regression").allTextContents();
    expect(flagged).toHaveLength(1);
    expect(flagged[0]).toContain("bigger");
    expect(flagged[0]).toContain("120");
    expect(flagged[0]).not.toContain("slower");
  });

  it("test runs: the server's verdicts on a session, its baseline band on the charts, two sessions compared", async () => {
    await page.goto(`${base()}/dashboard/#runs`);
    await page.selectOption("select[name=pipeline]", PIPELINE);
    await expect.poll(() => page.locator("table[data-table=sessions] tbody tr").count()).toBe(DURATIONS.length);
    // The newest run: duration back to normal, memory 120 MB against a median of 50.
    await page.click(`a[data-session=dashsession${DURATIONS.length - 1}]`);
    const summary = page.locator("[data-server-summary]");
    await summary.waitFor();
    expect(await summary.getAttribute("data-server-summary")).toBe("1,0,0,0,0"); // regressions, improvements, unchanged, no history, leaks
    const verdict = page.locator("table[data-table=verdicts] tbody tr").first();
    expect(await verdict.getAttribute("class")).toBe("verdict-regression");
    const cells = await verdict.locator("td").allTextContents();
    expect(cells).toEqual([ITEM, "regression", "1.05 (median 1, +5 %)", "120 (median 50, +140 %)", ""]);

    // Its trend: the server's verdict marks the run, its baseline is a band.
    await verdict.locator("a").click();
    const memory = page.locator("figure[data-chart=memory]");
    await memory.locator("canvas").waitFor();
    expect(await page.locator("[data-server-verdict]").getAttribute("data-server-verdict")).toBe("regression");
    expect(await memory.getAttribute("data-band")).toBe("45,55"); // median 50 ± 10 % (MAD 0)
    expect(await page.locator("figure[data-chart=duration]").getAttribute("data-band")).toBe("0.7,1.3"); // median 1 ± 3 MADs of 0.1
    expect(await page.locator("[data-regressions]").getAttribute("data-regressions")).toBe("1");
    const bandPixels = await memory.locator("canvas").evaluate((c: HTMLCanvasElement) => {
      const px = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i] === 156 && px[i + 1] === 163 && px[i + 2] === 175) n++;
      return n;
    });
    expect(bandPixels).toBeGreaterThan(10);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);

    // Compare: the newest session (B) against the one before it (A) by default.
    await page.click("form.compare-form button");
    const compared = page.locator("table[data-table=compare] tbody tr");
    await expect.poll(() => compared.count()).toBe(1);
    expect(await page.locator("[data-compare-summary]").getAttribute("data-compare-summary")).toBe("1,0,0");
    expect(await compared.locator("td").allTextContents()).toEqual([ITEM, "2.5 → 1.05 -58 %", "50 → 120 +140 %"]);

    // Another session picked: its verdict marks its run (the slow one), nothing else.
    await page.click("a[data-session=dashsession4]");
    const firstVerdict = page.locator("table[data-table=verdicts] tbody tr").first();
    await expect.poll(() => firstVerdict.locator("td").nth(2).textContent()).toBe("2.5 (median 1, +150 %)");
    expect(await page.locator("[data-server-summary]").getAttribute("data-server-summary")).toBe("1,0,0,0,0");
    await firstVerdict.locator("a").click();
    await expect
      .poll(() => page.locator("table[data-table=runs] tr.regression").allTextContents())
      .toEqual([expect.stringContaining("slower")]);
    expect(await page.locator("table[data-table=runs] tr.regression").textContent()).toContain("2.5");
  });

  it("test runs: a project picked shows its runs, and is remembered", async () => {
    await page.goto(`${base()}/dashboard/#runs`);
    const project = page.locator("select[name=project]");
    // The admin opens on `default`: the runs seeded there, none of the other project's.
    expect(await project.inputValue()).toBe("default");
    const sessions = page.locator("table[data-table=sessions] tbody tr");
    await expect.poll(() => sessions.count()).toBe(DURATIONS.length);
    expect(await page.locator(`a[data-session=${OTHER_SESSION}]`).count()).toBe(0);
    expect(await project.locator("option").allTextContents()).toEqual(
      expect.arrayContaining(["default", OTHER_PROJECT]),
    );

    await project.selectOption(OTHER_PROJECT);
    await page.locator(`a[data-session=${OTHER_SESSION}]`).waitFor();
    expect(await sessions.count()).toBe(1);
    expect(await sessions.first().textContent()).toContain(OTHER_PIPELINE);
    expect(await page.locator("select[name=pipeline] option").allTextContents()).toEqual([
      "all sessions",
      OTHER_PIPELINE,
    ]);

    // Remembered across a reload; picking default again brings its runs back.
    await page.reload();
    await page.locator(`a[data-session=${OTHER_SESSION}]`).waitFor();
    expect(await page.locator("select[name=project]").inputValue()).toBe(OTHER_PROJECT);
    await page.locator("select[name=project]").selectOption("default");
    await expect.poll(() => sessions.count()).toBe(DURATIONS.length);
    expect(await page.locator(`a[data-session=${OTHER_SESSION}]`).count()).toBe(0);
  });

  it("test runs: a user token with several projects picks among them", async () => {
    const carol = await call("/auth/tokens", {
      json: { user: "dash-carol", role: "user", projects: [OTHER_PROJECT, "dash-team-c"], groups: [] },
    });
    expect(carol.status).toBe(201);
    // Signed in as the user in this browser, then back as the admin on `default` for the views after.
    await page.evaluate((t) => localStorage.setItem("opshub.token", t), carol.body.token);
    try {
      await page.goto(`${base()}/dashboard/#runs`);
      await page.reload();
      await page.locator("[data-user=dash-carol]").waitFor();
      const project = page.locator("select[name=project]");
      await page.locator(`a[data-session=${OTHER_SESSION}]`).waitFor();
      expect(await project.inputValue()).toBe(OTHER_PROJECT);
      expect(await project.locator("option").allTextContents()).toEqual([OTHER_PROJECT, "dash-team-c (no runs yet)"]);
      await project.selectOption("dash-team-c");
      await page.getByText("No sessions match.").waitFor();
      expect(await page.locator("table[data-table=sessions]").count()).toBe(0);
    } finally {
      await page.evaluate((t) => {
        localStorage.setItem("opshub.token", t);
        localStorage.removeItem("opshub.monitorProject");
      }, admin());
      await page.reload();
      await page.locator("[data-user=admin]").waitFor();
    }
  });

  it("daemons: who is online, since when, entrypoints and abnormal tags", async () => {
    await seedDaemon();
    await page.goto(`${base()}/dashboard/#daemons`);
    const row = page.locator("table[data-table=daemons] tbody tr", { hasText: "dash-alice" });
    await row.waitFor();
    const text = await row.textContent();
    expect(text).toContain("online");
    expect(text).toContain("http://10.1.2.3:35800");
    expect(text).toContain("shop/orders:v2");
  });

  it("telemetry: a meter's samples over a range as a chart, with the period's statistics", async () => {
    await page.goto(`${base()}/dashboard/#telemetry`);
    await page.selectOption("select[name=meter]", "dash.cpu_util");
    await page.click("form.filters button");
    const chart = page.locator("figure[data-chart=telemetry]");
    await chart.locator("canvas").waitFor();
    expect(await chart.getAttribute("data-points")).toBe(String(VOLUMES.length));
    expect(await page.locator("[data-stat=samples]").textContent()).toBe("7");
    expect(await page.locator("[data-stat=min]").textContent()).toBe("10");
    expect(await page.locator("[data-stat=max]").textContent()).toBe("70");
    expect(await page.locator("[data-stat=avg]").textContent()).toBe("40");
    await expectLabelsOverValues(page);

    // A narrower range: only the samples inside it are drawn.
    const local = (d: Date) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    await page.fill("input[name=from]", local(hours(3.5)));
    await page.click("form.filters button");
    await expect.poll(() => page.locator("figure[data-chart=telemetry]").getAttribute("data-points")).toBe("3");
    expect(await page.locator("[data-stat=samples]").textContent()).toBe("3");

    // Floats read as six significant digits, not 10.000195868985.
    await page.fill("input[name=from]", local(hours(24)));
    await page.selectOption("select[name=meter]", "dash.load");
    await page.click("form.filters button");
    await expect.poll(() => page.locator("[data-stat=samples]").textContent()).toBe("2");
    expect(await page.locator("[data-stat=min]").textContent()).toBe("10.0002");
    expect(await page.locator("[data-stat=avg]").textContent()).toBe("15.2501");
    expect(await page.locator("[data-stat=sum]").textContent()).toBe("30.5002");
    await expectLabelsOverValues(page);
  });

  it("logs: opens on the recent logs, newest first; a task's latest log per name, the history, a big body by range", async () => {
    await page.goto(`${base()}/dashboard/#logs`);
    // Nothing typed: the admin sees the newest logs of every dataset.
    const recent = page.locator("table[data-table=recent] tbody tr");
    await expect.poll(() => recent.count()).toBeGreaterThanOrEqual(3);
    const names = (await recent.allTextContents())
      .filter((t) => t.includes("dash_ds"))
      .map((t) => (t.includes("stderr") ? "stderr" : "stdout"));
    expect(names.slice(0, 3)).toEqual(["stdout", "stderr", "stdout"]);
    expect(await recent.first().textContent()).toContain(BIG_LOG.length.toLocaleString("en-US"));
    // Its task opens the task's logs.
    await recent.first().locator("a[data-task=task_1]").click();
    const latest = page.locator("table[data-table=latest] tbody tr");
    await expect.poll(() => latest.count()).toBe(2);
    expect(await page.locator("table[data-table=history] tbody tr").count()).toBe(3);
    expect(await latest.first().textContent()).toContain("stdout");

    await latest.first().locator("a").click();
    const status = page.locator("p[data-loaded]");
    await status.waitFor();
    expect(await status.getAttribute("data-loaded")).toBe(String(64 * 1024));
    expect(await status.getAttribute("data-size")).toBe(String(BIG_LOG.length));
    await page.getByRole("button", { name: "Load more" }).click();
    await expect.poll(() => status.getAttribute("data-loaded")).toBe(String(128 * 1024));
  });

  it("scheduler: opens on the newest sessions the token may see, with their tag, status and jobs", async () => {
    await page.goto(`${base()}/dashboard/#scheduler`);
    // Nothing typed: the admin sees every project's newest sessions.
    const row = page.locator("table[data-table=scheduler] tbody tr", { hasText: seeded.sessionId.slice(0, 8) });
    await row.waitFor();
    const cells = await row.locator("td").allTextContents();
    expect(cells[0]).toBe("dashproj");
    expect(cells[2]).toBe("nightly backup");
    expect(cells[3]).toBe("1");
    expect(cells[4]).toBe("running");
    expect(cells[7]).toContain("dash-job-1 host-a: running");
    // A project named: that project's sessions.
    await page.fill("input[name=project]", "dashproj");
    await page.click("form.filters button");
    await page.getByText("Sessions of dashproj (1), newest first").waitFor();
    expect(await page.locator("table[data-table=scheduler] tbody tr").count()).toBe(1);
  });

  it("every view at desktop (1280 px) and phone (390 px) width, with data: screenshots for docs/dashboard.md", async () => {
    // DASHBOARD_SCREENSHOTS=docs npm run test:e2e -- test/e2e/dashboard.e2e.ts refreshes the pictures in docs/.
    const dir = process.env.DASHBOARD_SCREENSHOTS ?? "test-results";
    mkdirSync(dir, { recursive: true });
    const views: Array<[string, () => Promise<unknown>]> = [
      ["runs", () => page.locator("[data-server-summary]").waitFor()],
      ["telemetry", () => page.locator("figure[data-chart=telemetry] canvas").waitFor()],
      ["logs", () => page.locator("table[data-table=recent]").waitFor()],
      ["scheduler", () => page.locator("table[data-table=scheduler]").waitFor()],
    ];
    for (const [width, height] of [
      [1280, 800],
      [390, 844],
    ]) {
      await page.setViewportSize({ width, height });
      for (const [view, ready] of views) {
        await page.goto(`${base()}/dashboard/#${view}`);
        if (view === "runs") {
          await page.selectOption("select[name=pipeline]", PIPELINE);
          await page.fill("input[name=test]", ITEM);
          await page.click("form.filters button");
        }
        if (view === "telemetry") {
          await page.selectOption("select[name=meter]", "dash.cpu_util");
          await page.click("form.filters button");
        }
        await ready();
        if (view === "telemetry") await expectLabelsOverValues(page);
        expect(
          await page.evaluate(() => document.documentElement.scrollWidth),
          `${view} at ${width} px`,
        ).toBeLessThanOrEqual(width);
        await page.screenshot({ path: path.join(dir, `dashboard-${view}-${width}.png`), fullPage: true });
      }
    }
  });
});
