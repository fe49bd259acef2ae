// Headless-browser test of the staff console (GET /), end to end against the real binary.
//
//   node tests/browser/console.test.mjs
//
// Needs: a built binary (PARCOURS_BIN, default target/release/parcours), Debian's chromium at /usr/bin/chromium
// (CHROMIUM_PATH to override) and `npm ci` in tests/browser (playwright-core only, no browser download).
// PARCOURS_CONSOLE_HTML=src/staff/console.html serves that file as the page instead of the binary's copy, to work on
// the page without rebuilding; everything else still goes to the real server.
// Prints `N passed, M failed` last and exits non-zero on any failure.

import { chromium } from 'playwright-core';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const bin = process.env.PARCOURS_BIN ? path.resolve(process.env.PARCOURS_BIN) : path.join(root, 'target', 'release', 'parcours');
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const consoleOverride = process.env.PARCOURS_CONSOLE_HTML ? path.resolve(root, process.env.PARCOURS_CONSOLE_HTML) : null;
const artifacts = path.join(here, 'artifacts');
const TOKEN = 'test-token';
const XSS = '<script>alert(1)</script>';

let passed = 0;
let failed = 0;
const log = (...a) => console.log(...a);

/** One named check: counts it, prints it, never throws. Returns whether it passed. */
async function check(name, fn) {
  try {
    await fn();
    passed++;
    log(`ok   - ${name}`);
    return true;
  } catch (e) {
    failed++;
    log(`FAIL - ${name}\n       ${String(e && e.stack ? e.message : e).split('\n').join('\n       ')}`);
    return false;
  }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }

function run(args, input) {
  const r = spawnSync(bin, args, { cwd: root, input, encoding: 'utf8', env: { ...process.env, RUST_LOG: 'warn' }, timeout: 60_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`parcours ${args.join(' ')} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitHealthy(base, server, output) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`server exited with ${server.exitCode}\n${output.join('')}`);
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) return;
    } catch { /* not listening yet */ }
    await sleep(150);
  }
  throw new Error(`no answer from ${base}/healthz in 30 s\n${output.join('')}`);
}

async function stopServer(server) {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  const t = setTimeout(() => server.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(t);
}

async function main() {
  let tmp = null;
  let server = null;
  let browser = null;
  const serverOutput = [];
  try {
    // 1. Data: customers, then two conversations through the terminal channel.
    const ready = await check('set up: binary, temp store, customers, seeded conversations', async () => {
      assert(fs.existsSync(bin), `no binary at ${bin} (build it, or set PARCOURS_BIN)`);
      assert(fs.existsSync(chromiumPath), `no chromium at ${chromiumPath} (apt-get install -y chromium)`);
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'parcours-console-'));
      run(['customers', 'import', 'tests/data/customers.json', '--data-dir', tmp]);
      const alice = run(['chat', '--user', 'alice', '--data-dir', tmp, '--intents', 'intents'],
        ['hi', 'where is my order?', '4567', XSS, 'bye', 'yes', 'nine', ''].join('\n'));
      assert(/Order 4567/.test(alice), `alice's chat did not answer the order status:\n${alice}`);
      assert(/conversation ended/.test(alice), `alice's chat did not end:\n${alice}`);
      const bruno = run(['chat', '--user', 'bruno', '--locale', 'fr-FR', '--data-dir', tmp, '--intents', 'intents'],
        ["combien de points de fidélité j'ai", 'merci au revoir', 'non', 'trois', 'plus rapide svp', ''].join('\n'));
      assert(/80 points/.test(bruno), `bruno's chat did not answer the loyalty points:\n${bruno}`);
      assert(/conversation ended/.test(bruno), `bruno's chat did not end:\n${bruno}`);
    });
    if (!ready) return;

    // 2. The server, with the staff token.
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const started = await check('server starts and answers /healthz', async () => {
      server = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', tmp, '--intents', 'intents'], {
        cwd: root,
        env: { ...process.env, PARCOURS_STAFF_TOKEN: TOKEN, PARCOURS_STAFF_NAME: 'Camille', RUST_LOG: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      server.stdout.on('data', (d) => serverOutput.push(d.toString()));
      server.stderr.on('data', (d) => serverOutput.push(d.toString()));
      await waitHealthy(base, server, serverOutput);
    });
    if (!started) return;

    if (!consoleOverride) {
      const fresh = await check('GET / serves src/staff/console.html (else rebuild the binary)', async () => {
        const served = await (await fetch(`${base}/`)).text();
        const source = fs.readFileSync(path.join(root, 'src', 'staff', 'console.html'), 'utf8');
        assert(served === source, 'the binary serves another console.html than the source: rebuild it, or run with PARCOURS_CONSOLE_HTML=src/staff/console.html');
      });
      if (!fresh) return;
    }

    // 3. The browser.
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const dialogs = [];
    const pageErrors = [];
    page.on('dialog', (d) => { dialogs.push(`${d.type()}: ${d.message()}`); d.dismiss().catch(() => {}); });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    if (consoleOverride) {
      const html = fs.readFileSync(consoleOverride, 'utf8');
      await page.route(`${base}/`, (r) => r.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }));
    }
    fs.mkdirSync(artifacts, { recursive: true });

    await check('the console asks for the staff token', async () => {
      await page.goto(`${base}/`);
      await page.locator('#token').waitFor({ state: 'visible' });
      await page.locator('#signin').waitFor({ state: 'visible' });
    });

    await check('a wrong token shows "invalid token" and stays on sign-in', async () => {
      await page.fill('#token', 'not-the-token');
      await page.click('#signin');
      const err = page.locator('#signin-error');
      await err.waitFor({ state: 'visible' });
      const text = await err.textContent();
      assert(/invalid token/i.test(text), `error reads ${JSON.stringify(text)}`);
      await page.screenshot({ path: path.join(artifacts, 'signin.png') });
      assert(await page.locator('#token').isVisible(), 'the token field is gone');
      const stored = await page.evaluate(() => Object.keys(sessionStorage).length);
      assert(stored === 0, 'a rejected token was kept in sessionStorage');
    });

    const rows = page.locator('#conversations [data-testid="conversation-row"]');
    await check('the right token signs in and lists the 2 conversations', async () => {
      await page.fill('#token', TOKEN);
      await page.click('#signin');
      await page.locator('#conversations').waitFor({ state: 'visible' });
      await page.waitForFunction(() => document.querySelectorAll('#conversations [data-testid="conversation-row"]').length === 2);
      const text = await page.locator('#conversations').textContent();
      assert(text.includes('cus_alice') && text.includes('cus_bruno'), `table reads ${JSON.stringify(text)}`);
    });

    await check('filtering on channel=chat sends channel=chat and still lists both', async () => {
      await page.selectOption('#f-channel', 'chat');
      const [req] = await Promise.all([
        page.waitForRequest((r) => r.url().includes('/api/conversations?') && r.url().includes('channel=chat')),
        page.click('#apply'),
      ]);
      assert(req.headers()['authorization'] === `Bearer ${TOKEN}`, 'the API call has no bearer token');
      await page.waitForFunction(() => document.querySelectorAll('#conversations [data-testid="conversation-row"]').length === 2);
      const channels = await rows.evaluateAll((trs) => trs.map((tr) => tr.cells[1].textContent.trim()));
      assert(channels.every((c) => /chat/i.test(c)), `channels ${JSON.stringify(channels)}`);
      await page.screenshot({ path: path.join(artifacts, 'conversations.png'), fullPage: true });
    });

    await check("alice's transcript shows the customer's <script> as text", async () => {
      await rows.filter({ hasText: 'cus_alice' }).first().click();
      const transcript = page.locator('#transcript');
      await transcript.waitFor({ state: 'visible' });
      await page.waitForFunction(() => (document.getElementById('transcript').textContent || '').includes('where is my order?'));
      const text = await transcript.textContent();
      assert(text.includes(XSS), `the transcript lacks the literal ${XSS}`);
      assert(await page.locator('#transcript .bubble', { hasText: XSS }).count() === 1, 'no bubble holds exactly the <script> text');
      assert(await page.locator('#transcript script').count() === 0, 'a <script> element was injected into the transcript');
      assert(/\d+%/.test(text), 'no confidence percentage shown');
      assert(text.includes('order_status'), 'intents are not shown');
      const survey = await page.locator('#t-survey').textContent();
      assert(/yes/i.test(survey) && survey.includes('9'), `survey reads ${JSON.stringify(survey)}`);
      await page.screenshot({ path: path.join(artifacts, 'transcript.png'), fullPage: true });
    });

    await check('no dialog opened and no script error', async () => {
      await sleep(300);
      assert(dialogs.length === 0, `dialogs opened: ${JSON.stringify(dialogs)}`);
      assert(pageErrors.length === 0, `page errors: ${JSON.stringify(pageErrors)}`);
    });

    await check("the customer link opens alice's profile and journey", async () => {
      await page.click('#customer-link');
      await page.waitForFunction(() => (document.getElementById('c-name').textContent || '') === 'Alice Martin');
      await page.locator('[data-testid="touchpoint"]').first().waitFor();
      const ids = await page.locator('#c-identities').textContent();
      assert(ids.includes('alice'), `identities read ${JSON.stringify(ids)}`);
      const orders = await page.locator('#c-orders').textContent();
      assert(orders.includes('4567'), `orders read ${JSON.stringify(orders)}`);
      await page.screenshot({ path: path.join(artifacts, 'customer.png'), fullPage: true });
    });

    await check('the dashboard shows NPS 0 (1 promoter, 1 detractor) and the NPS chart', async () => {
      await page.click('#nav-dashboard');
      const kpi = page.locator('#kpi-nps');
      await kpi.waitFor({ state: 'visible' });
      await page.waitForFunction(() => (document.getElementById('kpi-nps').textContent || '').trim() !== '—');
      const nps = (await kpi.textContent()).trim();
      assert(nps === '0', `NPS KPI reads ${JSON.stringify(nps)}`);
      const chart = page.locator('svg#nps-chart');
      assert(await chart.count() === 1, 'no <svg id="nps-chart">');
      await page.locator('#nps-chart circle').first().waitFor({ state: 'attached' });
      await page.screenshot({ path: path.join(artifacts, 'console.png'), fullPage: true });
      assert(fs.statSync(path.join(artifacts, 'console.png')).size > 0, 'empty screenshot');
    });

    // 4. The people side: a caller asks for a person while the queue is on screen.
    const voice = async (transcript) => {
      const res = await fetch(`${base}/webhook/voice`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ session_id: 'call-1', user_id: '+33611111111', transcript }) });
      assert(res.ok, `voice webhook answered ${res.status}`);
      return res.json();
    };
    await check('the queue updates live when a caller asks for a person', async () => {
      await page.click('#nav-queue');
      await page.locator('#view-queue').waitFor({ state: 'visible' });
      await page.waitForFunction(() => (document.getElementById('live').textContent || '') === 'live');
      assert(await page.locator('[data-testid="queue-row"]').count() === 0, 'the queue is not empty at first');
      const r = await voice('I want to talk to a human');
      assert(r.handoff && r.handoff.state === 'waiting' && r.handoff.position === 1, `voice reply ${JSON.stringify(r)}`);
      await voice(XSS);
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="queue-row"]').length === 1);
      await page.waitForFunction(() => (document.getElementById('queue-count').textContent || '') === '1');
      const row = await page.locator('[data-testid="queue-row"]').textContent();
      assert(/voice/i.test(row) && /waiting/.test(row), `queue row reads ${JSON.stringify(row)}`);
      assert(await page.locator('#queue-list script').count() === 0, 'markup from the caller was injected');
      await page.screenshot({ path: path.join(artifacts, 'queue.png'), fullPage: true });
    });

    await check('taking it, replying and handing back from the console reach the caller', async () => {
      await page.click('[data-testid="queue-claim"]');
      await page.locator('#desk').waitFor({ state: 'visible' });
      await page.waitForFunction(() => (document.getElementById('desk-owner').textContent || '') === 'Camille');
      const reply = "I'm on it <b>now</b>";
      await page.fill('#reply-text', reply);
      await page.click('#reply-send');
      await page.waitForFunction((t) => [...document.querySelectorAll('#transcript .turn.staff .bubble')].some((b) => b.textContent === t), reply);
      assert(await page.locator('#transcript b').count() === 0, 'the reply was rendered as markup');
      const heard = await voice('hello?');
      assert(heard.text.includes(`Camille: ${reply}`), `the caller heard ${JSON.stringify(heard.text)}`);
      assert(heard.ssml.includes('&lt;b&gt;'), `unescaped SSML ${heard.ssml}`);
      await page.screenshot({ path: path.join(artifacts, 'handoff.png'), fullPage: true });
      await page.fill('#release-note', 'told them it ships today');
      await page.click('#release');
      await page.locator('#to-person').waitFor({ state: 'visible' });
      assert(await page.locator('#desk').isHidden(), 'the person card stays after the hand back');
      const text = await page.locator('#transcript').textContent();
      assert(text.includes('gave the conversation back to the bot: told them it ships today'), `transcript ${JSON.stringify(text)}`);
      const back = await voice('where are your stores');
      assert(back.text.includes('Camille has left'), `after the hand back: ${JSON.stringify(back.text)}`);
      assert(!back.handoff, 'still with people after the hand back');
    });

    await check('sign-out returns to sign-in and forgets the token', async () => {
      await page.click('#signout');
      await page.locator('#token').waitFor({ state: 'visible' });
      const stored = await page.evaluate(() => Object.keys(sessionStorage).length);
      assert(stored === 0, 'the token is still in sessionStorage');
      assert(dialogs.length === 0 && pageErrors.length === 0, `dialogs ${JSON.stringify(dialogs)}, errors ${JSON.stringify(pageErrors)}`);
    });
  } catch (e) {
    failed++;
    log(`FAIL - unexpected error\n       ${e && e.stack ? e.stack : e}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stopServer(server).catch(() => {});
    if (failed && serverOutput.length) log(`server output:\n${serverOutput.join('').slice(-4000)}`);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
