import type { BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Chromium, launchChromium } from "./browser";

// The API reference as a reader opens it on a machine without internet access: Debian's
// Chromium (driven by playwright-core, as in dashboard.e2e.ts) with every request that is
// not for the local server refused. The page must still list the routes.
const base = () => inject("baseUrl");

let browser: BrowserContext;
let chromium: Chromium;

describe("/docs with no internet", () => {
  beforeAll(async () => {
    chromium = await launchChromium("docs", { width: 1280, height: 900 });
    browser = chromium.context;
  });

  afterAll(async () => {
    await chromium?.close();
  });

  it("loads its script from this server and lists the routes, every other host refused", async () => {
    const origin = new URL(base()).origin;
    const refused: string[] = [];
    const served: string[] = [];
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(`${origin}/`) || url.startsWith("data:") || url.startsWith("blob:")) {
        served.push(new URL(url).pathname);
        return route.continue();
      }
      refused.push(url);
      return route.abort("blockedbyclient");
    });
    const res = await page.goto(`${base()}/docs`);
    expect(res?.status()).toBe(200);
    expect(await res?.text()).not.toMatch(/cdn\.jsdelivr\.net|unpkg\.com/);

    // Routes as the reference renders them: their summaries and their paths.
    await page.getByText("Mint a token (shown once)").first().waitFor({ timeout: 60_000 });
    const text = await page.locator("body").textContent();
    for (const summary of ["Revoke a token at once", "The calling token's user, role, projects and groups"])
      expect(text).toContain(summary);
    expect(text).toMatch(/\/auth\/tokens/);
    // Nothing that needs Scalar's cloud is offered (on localhost the bundle would show them).
    for (const cloud of ["Ask AI", "Generate SDKs & MCP", "Generate MCP", "Connect MCP"])
      expect(text).not.toContain(cloud);
    expect(await page.getByRole("button", { name: /Ask AI|Generate SDKs/ }).count()).toBe(0);
    expect(served).toContain("/docs/assets/api-reference.js");
    expect(served).toContain("/openapi.json");
    // Whatever else the page tried (fonts, telemetry) was refused and not needed.
    for (const url of refused) expect(new URL(url).origin).not.toBe(origin);
  });

  it("serves the reference script as a static asset of this deployment", async () => {
    const res = await fetch(`${base()}/docs/assets/api-reference.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/javascript/);
    const body = await res.text();
    expect(body.length).toBeGreaterThan(100_000);
    expect(body).toContain("createApiReference");
  });
});
