// Browser smoke test in headless Chromium: the portal and cluster landings look like their
// brands (screenshots, desktop and mobile), a fan signs up, an operator sees the job queues.
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

const VIEWPORTS = [['desktop', { width: 1280, height: 900 }], ['mobile', { width: 390, height: 844 }]];

/** `#rrggbb` as the `rgb(r, g, b)` a computed style reports. */
function rgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return `rgb(${n >> 16}, ${(n >> 8) & 255}, ${n & 255})`;
}

/** Scroll through the page so lazy images load, then wait until every image has loaded. */
async function loadAllImages(page) {
  await page.evaluate(async () => {
    for (let y = 0; y < document.body.scrollHeight; y += 600) {
      window.scrollTo(0, y);
      await new Promise((r) => setTimeout(r, 30));
    }
    window.scrollTo(0, 0);
  });
  await page.waitForFunction(() => [...document.images].every((i) => i.complete), null, { timeout: 15000 });
  const broken = await page.evaluate(() => [...document.images].filter((i) => i.naturalWidth === 0).map((i) => i.src));
  assert.deepEqual(broken, [], 'every image loads');
}

/** Record the status of every generated picture the page asks for. */
function artStatuses(page) {
  const seen = new Map();
  page.on('response', (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith('/art/')) seen.set(path, r.status());
  });
  return seen;
}

test('the portal shows every cluster as a card with its own art', async () => {
  const { clusters } = await (await fetch(`${base}/api/v1/clusters`)).json();
  const worlds = clusters.filter((c) => c.slug !== 'fanzlab');
  assert.ok(worlds.length >= 20, `${worlds.length} clusters`);
  const browser = await launch();
  try {
    for (const [name, viewport] of VIEWPORTS) {
      const page = await browser.newPage({ viewport, reducedMotion: 'reduce' });
      const art = artStatuses(page);
      await page.goto(`${base}/`);
      assert.equal(await page.locator('h1').first().textContent(), 'FanzLab');
      await page.getByRole('heading', { name: 'Choose your world' }).waitFor();
      for (const c of worlds) {
        const card = page.locator(`li.world.theme-${c.slug}`);
        assert.equal(await card.locator('.world-name').textContent(), c.name);
        assert.equal(await card.locator('.world-tagline').textContent(), c.tagline);
        assert.equal(await card.locator('a').getAttribute('href'), `/c/${c.slug}`);
        // The card wears its cluster's colours, not the portal's.
        assert.equal(await card.locator('.world-name').evaluate((e) => getComputedStyle(e).color), rgb(c.theme.primary));
      }
      await loadAllImages(page);
      for (const c of clusters) {
        assert.equal(art.get(`/art/cluster/${c.slug}.svg`), 200, `${c.slug} art`);
      }
      await page.screenshot({ path: `${shots}/portal-${name}.png`, fullPage: true });
      await page.close();
    }
  } finally {
    await browser.close();
  }
});

test('cluster landings each show their own brand', async () => {
  const { clusters } = await (await fetch(`${base}/api/v1/clusters`)).json();
  const bySlug = Object.fromEntries(clusters.map((c) => [c.slug, c]));
  const browser = await launch();
  try {
    for (const [name, viewport] of VIEWPORTS) {
      const looks = new Set();
      for (const slug of ['boyfanz', 'fanzcock', 'milffanz', 'pupfanz']) {
        const c = bySlug[slug];
        const page = await browser.newPage({ viewport, reducedMotion: 'reduce' });
        const art = artStatuses(page);
        await page.goto(`${base}/c/${slug}`);
        const h1 = page.locator('h1').first();
        assert.equal(await h1.textContent(), c.name);
        await loadAllImages(page);
        assert.equal(art.get(`/art/cluster/${slug}.svg`), 200);
        assert.ok(await page.locator('img.hero-art').evaluate((i) => i.naturalWidth > 0), 'hero art shows');
        const look = await h1.evaluate((e) => {
          const s = getComputedStyle(e);
          return { color: s.color, font: s.fontFamily, bg: getComputedStyle(document.body).backgroundColor };
        });
        assert.equal(look.color, rgb(c.theme.primary));
        assert.equal(look.bg, rgb(c.theme.background));
        looks.add(`${look.color} ${look.font} ${look.bg}`);
        // The main tabs: in the header on a wide screen, a bar at the bottom on a phone.
        const tabs = await page.getByRole('navigation', { name: 'Main' }).boundingBox();
        if (name === 'mobile') assert.ok(tabs.y > viewport.height - 120, `tab bar at ${tabs.y}`);
        else assert.ok(tabs.y < 80, `tabs at ${tabs.y}`);
        await page.screenshot({ path: `${shots}/${slug}-${name}.png`, fullPage: true });
        await page.close();
      }
      assert.equal(looks.size, 4, 'each brand looks different');
    }
  } finally {
    await browser.close();
  }
});

test('a fan signs up on the BoyFanz page and reaches settings', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(`${base}/c/boyfanz/`);
    assert.equal(await page.locator('h1').first().textContent(), 'BoyFanz');

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

test('a fan browses discover, a post, a creator page, search and stories', async () => {
  const browser = await launch();
  try {
    for (const [name, viewport] of VIEWPORTS) {
      const page = await browser.newPage({ viewport, reducedMotion: 'reduce' });
      await page.goto(`${base}/c/girlfanz/discover`);
      assert.equal(await page.locator('h1').first().textContent(), 'Discover GirlFanz');
      assert.ok((await page.locator('.post-card').count()) >= 5, 'the demo fills the feed');
      // Locked posts show a preview and the way in, never their text.
      const locked = page.locator('.post-card.is-locked').first();
      await locked.waitFor();
      assert.ok(await locked.locator('.unlock').count() === 1);
      await page.screenshot({ path: `${shots}/discover-${name}.png`, fullPage: true });
      await page.goto(`${base}/c/girlfanz/discover?sort=trending`);
      assert.equal(await page.locator('.tabs a.current').textContent(), 'Trending');
      await page.screenshot({ path: `${shots}/trending-${name}.png` });

      await page.goto(`${base}/c/girlfanz/discover`);
      await page.locator('.post-card:not(.is-locked) a.open').first().click();
      await page.waitForURL('**/c/girlfanz/p/*');
      await page.locator('#comments-h').waitFor();
      await page.screenshot({ path: `${shots}/post-${name}.png`, fullPage: true });

      await page.locator('.post-card .post-author').first().click();
      await page.waitForURL('**/c/girlfanz/@*');
      assert.ok((await page.locator('.tier-offer').count()) >= 2, 'tier cards');
      assert.ok((await page.locator('.creator-posts .post-card').count()) >= 3, 'post grid');
      await page.screenshot({ path: `${shots}/creator-${name}.png`, fullPage: true });

      // The index fills from events after start: ask until it answers.
      let hits = 0;
      for (let i = 0; i < 40 && hits === 0; i++) {
        await page.goto(`${base}/c/girlfanz/search?q=sunst`);
        hits = await page.locator('.post-card').count();
        if (hits === 0) await page.waitForTimeout(250);
      }
      assert.ok(hits > 0, 'a misspelled word finds posts');
      await page.screenshot({ path: `${shots}/search-${name}.png`, fullPage: true });
      await page.close();
    }
  } finally {
    await browser.close();
  }
});

test('a creator publishes from the studio; a follower sees the feed and stories', async () => {
  const handle = `sia_${Date.now().toString(36)}`;
  const password = 'correct horse battery';
  const api = async (path, body, token) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    assert.ok(res.ok, `${path}: ${res.status}`);
    return res.status === 204 ? null : res.json();
  };
  await api('/api/v1/auth/signup', { email: `${handle}@example.com`, handle, password });
  const { token } = await api('/api/v1/auth/login', { email: `${handle}@example.com`, password });
  await api('/api/v1/me/creator', { clusters: ['girlfanz'] }, token);
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, reducedMotion: 'reduce' });
    await page.goto(`${base}/c/girlfanz/login`);
    await page.getByLabel('Email').fill(`${handle}@example.com`);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL('**/c/girlfanz/settings');
    await page.goto(`${base}/c/girlfanz/studio`);
    await page.getByLabel('Name').fill('VIP');
    await page.getByLabel('Price (0 for free)').fill('9.99');
    await page.getByRole('button', { name: 'Add tier' }).click();
    await page.waitForURL('**/studio?done=tier');
    await page.getByLabel("What's new?").fill('Members-only gallery from the neon shoot.');
    await page.getByLabel('Who sees it').selectOption('subscribers');
    await page.getByLabel('Tags').fill('neon, latex');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.waitForURL('**/studio?done=published');
    assert.match(await page.getByRole('status').textContent(), /Published/);
    await page.screenshot({ path: `${shots}/studio-desktop.png`, fullPage: true });

    // A follower's home feed and the story ring of a demo creator.
    await page.goto(`${base}/c/girlfanz/@pink_pixel`);
    await page.getByRole('button', { name: 'Follow', exact: true }).click();
    await page.getByRole('button', { name: 'Unfollow', exact: true }).waitFor();
    await page.goto(`${base}/c/girlfanz/feed`);
    assert.ok((await page.locator('.post-card').count()) >= 1, 'the followed creator posts in the feed');
    await page.screenshot({ path: `${shots}/feed-desktop.png`, fullPage: true });
    await page.locator('.rings a').first().click();
    await page.waitForURL('**/c/girlfanz/stories/*');
    await page.locator('.story').first().waitFor();
    await page.screenshot({ path: `${shots}/story-desktop.png`, fullPage: true });
    const mobile = await browser.newPage({ viewport: { width: 390, height: 844 }, reducedMotion: 'reduce' });
    await mobile.context().addCookies(await page.context().cookies());
    await mobile.goto(`${base}/c/girlfanz/studio`);
    await mobile.screenshot({ path: `${shots}/studio-mobile.png`, fullPage: true });
  } finally {
    await browser.close();
  }
});
