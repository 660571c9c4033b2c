// Headless Chromium for the browser tests: the system's own browser (Debian's `chromium`, or CHROMIUM_PATH),
// driven by playwright-core, with a fresh profile and none of Chromium's own network traffic; and axe-core,
// run inside the page, for accessibility checks.
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { serveApp } from "./servedApp.ts";

export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Chromium's own connections (updates, sync, field trials) fail noisily on a machine without a network. */
const QUIET_FLAGS = [
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

export async function launchBrowser(viewport = { width: 1200, height: 800 }): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(`no Chromium at ${chromiumPath}: apt-get install chromium, or set CHROMIUM_PATH`);
  }
  const profile = await mkdtemp(join(tmpdir(), "console-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    chromiumSandbox: false,
    args: QUIET_FLAGS,
    viewport,
    acceptDownloads: true,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** An app served over HTTP on loopback and a browser to drive it, closed together. */
export interface AppInBrowser {
  /** `http://127.0.0.1:<port>`, to put a path after. */
  base: string;
  page: Page;
  close(): Promise<void>;
}

/** Serves `app` (the test platform) and opens a browser on a fresh profile: what each console test starts. */
export async function openInBrowser(app: Parameters<typeof serveApp>[0]): Promise<AppInBrowser> {
  const served = await serveApp(app);
  try {
    const browser = await launchBrowser();
    return {
      base: served.base,
      page: browser.page,
      close: async () => {
        await browser.close();
        served.close();
      },
    };
  } catch (error) {
    served.close();
    throw error;
  }
}

const axeSource = readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/**
 * axe-core's violations of serious or critical impact on the page as it is now. Evaluated over the DevTools
 * protocol, which the page's Content-Security-Policy (scripts from its own origin only) does not apply to.
 */
export async function seriousAccessibilityViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(await axeSource);
  return page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: () => Promise<AxeResults> } }).axe;
    type AxeResults = {
      violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[];
    };
    const results = await axe.run();
    return results.violations
      .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
      .map((violation) => ({
        id: violation.id,
        impact: violation.impact,
        help: violation.help,
        targets: violation.nodes.map((node) => node.target.join(" ")),
      }));
  });
}
