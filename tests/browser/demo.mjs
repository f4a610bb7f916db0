// Drives the Gatehouse demo in Debian's headless Chromium with playwright-core: the demo
// relying party, the example login front-end and the provider, as a person would click through
// them. tests/all/browser.rs starts the demo and runs this script; it prints one JSON object
// (what each page showed) for the Rust test to check, and saves a screenshot of every step.
//
// Environment: BROWSER_DEPS (the folder holding node_modules/playwright-core, see
// scripts/browser-deps.sh), CHROMIUM (the browser), DEMO_RP and DEMO_FRONTEND (base URLs),
// SCREENSHOTS (a folder; emptied of old PNGs first).

import { createRequire } from 'node:module';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const { chromium } = createRequire(join(env('BROWSER_DEPS'), 'package.json'))('playwright-core');
const rp = new URL(env('DEMO_RP'));
const frontend = new URL(env('DEMO_FRONTEND'));
const screenshots = env('SCREENSHOTS');
mkdirSync(screenshots, { recursive: true });
for (const old of readdirSync(screenshots).filter((f) => f.endsWith('.png'))) rmSync(join(screenshots, old));

// The flags that work on our machines (closed network, root, no GPU). playwright-core gives
// every launch a new, empty profile (user data dir) of its own and adds --headless.
const browser = await chromium.launch({
  executablePath: env('CHROMIUM'),
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  timeout: 20_000,
});

const result = { steps: [] };
let page;
let step = 0;

/** Saves a full-page screenshot of the current page as NN-name.png. */
async function shot(name) {
  step += 1;
  const file = join(screenshots, `${String(step).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  result.steps.push({ name, url: page.url(), file });
}

/** A tab in a fresh browser context (no cookies) that records every URL the main frame
 *  requests, redirects included. */
async function newTab() {
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  const tab = await context.newPage();
  tab.setDefaultTimeout(10_000);
  tab.visited = [];
  tab.on('request', (request) => {
    if (request.isNavigationRequest() && request.frame() === tab.mainFrame()) {
      tab.visited.push(`${request.method()} ${request.url()}`);
    }
  });
  return tab;
}

const at = (base, path) => (url) => url.origin === base.origin && url.pathname === path;

/** What the demo RP shows after a sign-in. */
async function signedIn() {
  await page.waitForURL(at(rp, '/callback'));
  const json = async (id) => JSON.parse(await page.locator(`#${id}`).textContent());
  return {
    heading: await page.locator('h1').textContent(),
    verified: await page.locator('#verified').isVisible(),
    id_token: await json('id-token'),
    userinfo: await json('userinfo'),
  };
}

/** Clicks and returns the main-frame requests ("METHOD URL") made until `until` is met. */
async function clickThrough(locator, until) {
  const from = page.visited.length;
  await locator.click();
  await until();
  return page.visited.slice(from);
}

const isLoginForm = () => page.locator('form[action="login"] input[name="password"]').isVisible();

try {
  page = await newTab();

  // 1. The demo app's home page.
  await page.goto(rp.href);
  await shot('rp-home');

  // 2. "Sign in with Gatehouse": the RP → the provider's /authorize → the login front-end.
  const toLogin = await clickThrough(page.getByRole('link', { name: 'Sign in with Gatehouse' }), () =>
    page.locator('form[action="login"] input[name="password"]').waitFor(),
  );
  if (!at(frontend, '/login')(new URL(page.url()))) throw new Error(`expected the login form, at ${page.url()}`);
  result.to_login = toLogin;
  await shot('login-form');

  // 3. Type the demo user's name and password, submit: the consent page.
  await page.locator('#username').fill('alice');
  await page.locator('#password').fill('wonderland');
  await shot('login-filled');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('form[action="consent"]').waitFor();
  result.consent = { text: await page.locator('main').innerText() };
  await shot('consent');

  // 4. Allow (not remembered): back at the RP, which shows the verified claims.
  await page.getByRole('button', { name: 'Allow' }).click();
  result.first = await signedIn();
  await shot('signed-in');

  // 5. Sign in again: single sign-on skips the login form, and the consent (not remembered)
  //    lasts for the single sign-on session, so no page of the front-end shows.
  const again = await clickThrough(page.getByRole('link', { name: 'Sign in again' }), () =>
    page.waitForURL(at(rp, '/callback')),
  );
  result.sso = { visited: again, login_form: await isLoginForm(), signed_in: await signedIn() };
  await shot('sso-signed-in');

  // 6. And again: still no page of the front-end at all.
  const third = await clickThrough(page.getByRole('link', { name: 'Sign in again' }), () =>
    page.waitForURL(at(rp, '/callback')),
  );
  result.remembered = { visited: third, signed_in: await signedIn() };
  await shot('sso-remembered');

  // 7. Sign out (RP-initiated logout): the front-end asks to confirm; after it, the demo app's
  //    front-channel logout page loads in a hidden frame and the browser returns to the app.
  await page.getByRole('link', { name: 'Sign out' }).click();
  await page.waitForURL(at(frontend, '/logout'));
  result.logout = { confirm: await page.locator('main').innerText() };
  await shot('logout-confirm');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(at(rp, '/logged-out'), { timeout: 15_000 });
  result.logout.logged_out = await page.locator('main').innerText();
  await shot('logged-out');
  // The single sign-on session is gone: signing in shows the login form again.
  await page.getByRole('link', { name: 'Sign in' }).click();
  await page.locator('form[action="login"] input[name="password"]').waitFor();
  result.logout.login_form_again = await isLoginForm();
  await shot('login-after-logout');

  // 8. A new browser, signing in with a work address: the idp-router login hook sends it to the
  //    partner's identity provider (when the example plugins are loaded).
  page = await newTab();
  await page.goto(rp.href);
  await page.getByLabel('Work email address').fill('alice@partner.example');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(at(frontend, '/login'));
  const continueLink = page.getByRole('link', { name: 'Continue' });
  result.hook = {
    text: await page.locator('main').innerText(),
    redirect: (await continueLink.count()) ? await continueLink.getAttribute('href') : null,
  };
  await shot('idp-router');
  if (result.hook.redirect) {
    await continueLink.click();
    await page.locator('h1').waitFor();
    result.hook.landed = { url: page.url(), text: await page.locator('body').innerText() };
    await shot('partner-idp');
  }
} catch (e) {
  if (page) {
    await shot('failure').catch(() => {});
    const body = await page.locator('body').innerText().catch(() => '(no page)');
    console.error(`browser test failed at ${page.url()}:\n${body}\n`);
  }
  console.error(e);
  await browser.close();
  process.exit(1);
}
await browser.close();
console.log(JSON.stringify(result));
