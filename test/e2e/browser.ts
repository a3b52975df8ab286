import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";

export interface Chromium {
  context: BrowserContext;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/**
 * Debian's headless Chromium, driven by playwright-core, with a fresh profile (user data
 * dir) each run. `test` names the test file in the error when Chromium is not installed.
 */
export async function launchChromium(test: string, viewport: { width: number; height: number }): Promise<Chromium> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `the ${test} test needs Debian's chromium at ${CHROMIUM} (apt-get install -y chromium; .ci/run does it)`,
    );
  const profile = mkdtempSync(path.join(tmpdir(), `opshub-chromium-${test}-`));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport,
    });
    return {
      context,
      close: async () => {
        await context.close();
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
}
