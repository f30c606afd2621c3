// Browser smoke test: a fan signs up on a cluster page in headless Chromium.
// Needs a running server at FANZ_URL (default http://127.0.0.1:18080) and Chromium at
// CHROMIUM_PATH (default /usr/bin/chromium). Screenshots go to SCREENSHOT_DIR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const base = process.env.FANZ_URL ?? 'http://127.0.0.1:18080';
const shots = process.env.SCREENSHOT_DIR ?? 'screenshots';
mkdirSync(shots, { recursive: true });

async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

test('a fan signs up on the BoyFanz page and reaches settings', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(`${base}/c/boyfanz/`);
    assert.equal(await page.locator('h1').first().textContent(), 'BoyFanz');
    await page.screenshot({ path: `${shots}/boyfanz-landing.png`, fullPage: true });

    await page.getByRole('link', { name: 'Join BoyFanz' }).click();
    await page.waitForURL('**/c/boyfanz/signup');
    const handle = `fan_${Date.now().toString(36)}`;
    await page.getByLabel('Email').fill(`${handle}@example.com`);
    await page.getByLabel('Handle').fill(handle);
    // A weak password is refused with a visible message and the form keeps what was typed.
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').textContent(), /at least 10 characters/);
    assert.equal(await page.getByLabel('Email').inputValue(), `${handle}@example.com`);

    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL('**/c/boyfanz/settings?welcome=1');
    assert.match(await page.locator('#notice').textContent(), new RegExp(`Welcome to BoyFanz, @${handle}!`));
    await page.screenshot({ path: `${shots}/boyfanz-signed-up.png`, fullPage: true });

    // Keyboard users can reach the skip link first.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.className), 'skip');
  } finally {
    await browser.close();
  }
});

test('an operator sees the job queues and the event subscribers', async (t) => {
  const email = process.env.ADMIN_EMAIL;
  const password = process.env.ADMIN_PASSWORD;
  if (!email || !password) {
    t.skip('ADMIN_EMAIL and ADMIN_PASSWORD not set');
    return;
  }
  const browser = await launch();
  try {
    for (const [name, viewport] of [['desktop', { width: 1200, height: 900 }], ['mobile', { width: 390, height: 844 }]]) {
      const page = await browser.newPage({ viewport });
      await page.goto(`${base}/c/boyfanz/login`);
      await page.getByLabel('Email').fill(email);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.waitForURL('**/c/boyfanz/settings');
      await page.goto(`${base}/c/boyfanz/admin/jobs`);
      assert.equal(await page.locator('h1').first().textContent(), 'Jobs and events');
      // Every configured queue has a row; the probe jobs made before start are done.
      for (const queue of ['default', 'mail', 'maintenance']) {
        await page.getByRole('rowheader', { name: queue, exact: true }).waitFor();
      }
      await page.getByText('workers running').waitFor();
      const done = await page.locator('.stats li', { hasText: 'done in the last hour' }).locator('strong').textContent();
      assert.ok(Number(done) >= 25, `done in the last hour: ${done}`);
      await page.screenshot({ path: `${shots}/admin-jobs-${name}.png`, fullPage: true });
      await page.close();
    }
  } finally {
    await browser.close();
  }
});
