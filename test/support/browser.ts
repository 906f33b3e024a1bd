/** A page in Debian's Chromium (headless, through puppeteer-core), for tests that look at HTML. */
import { existsSync } from 'node:fs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

/** DIFFUBIAS_CHROMIUM, else Debian's package (`apt-get install chromium`); undefined when neither. */
export function chromiumPath(): string | undefined {
  const candidates = [process.env.DIFFUBIAS_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p): p is string => p !== undefined && existsSync(p));
}

export interface OpenedPage {
  page: Page;
  /** Console errors and uncaught exceptions since the page started loading. */
  errors: string[];
  close(): Promise<void>;
}

export async function openPage(url: string, width: number, height = 900): Promise<OpenedPage> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error('no Chromium: apt-get install chromium, or set DIFFUBIAS_CHROMIUM');
  // The sandbox needs user namespaces that CI containers (root) do not give.
  const browser: Browser = await puppeteer.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.setViewport({ width, height });
  await page.goto(url, { waitUntil: 'load' });
  return { page, errors, close: () => browser.close() };
}
