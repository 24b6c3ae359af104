// demo.mjs: the demo softphone in a real browser. Debian's chromium, headless, driven by
// playwright-core (no browser download): two pages on https://127.0.0.1:PORT/demo/ register
// over wss, one sends a MESSAGE the other shows (and back), one calls the other, the call is
// answered, confirmed on both sides and hung up; both unregister. A screenshot of the caller's
// page during the call is saved.
//
//   node demo.mjs --url https://127.0.0.1:8443/demo/ --cert .local/tls/tls.crt --screenshot out.png
//
// Only the certificate given with --cert is trusted beyond the system's (its SPKI hash is
// passed to --ignore-certificate-errors-spki-list); no other certificate error is ignored.
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: o } = parseArgs({
	options: {
		url: { type: 'string' },
		cert: { type: 'string' },
		screenshot: { type: 'string' },
		chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
		'step-timeout': { type: 'string', default: '15000' },
	},
});
if (!o.url) {
	console.error('usage: node demo.mjs --url https://127.0.0.1:PORT/demo/ [--cert tls.crt] [--screenshot FILE]');
	process.exit(2);
}
const stepTimeout = Number(o['step-timeout']);
let passed = 0;
let failed = 0;
const t0 = Date.now();

async function step(name, fn) {
	const start = Date.now();
	try {
		await fn();
		passed++;
		console.log(`ok ${name} (${Date.now() - start} ms)`);
	} catch (e) {
		failed++;
		console.log(`FAIL ${name}: ${String(e && e.message ? e.message : e).split('\n')[0]}`);
		throw e;
	}
}

const args = [
	'--headless', '--no-sandbox', '--disable-background-networking',
	'--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
	'--disable-gpu', '--disable-dev-shm-usage',
	// Both pages live in one window; the one behind must not be throttled.
	'--disable-background-timer-throttling', '--disable-renderer-backgrounding',
	'--disable-backgrounding-occluded-windows',
];
if (o.cert) {
	const der = new X509Certificate(readFileSync(o.cert)).publicKey.export({ type: 'spki', format: 'der' });
	args.push('--ignore-certificate-errors-spki-list=' + createHash('sha256').update(der).digest('base64'));
}

const browser = await chromium.launch({ executablePath: o.chromium, headless: true, args, timeout: 60000 });
const nonce = Math.random().toString(36).slice(2, 8);
const pages = {};
const logs = [];
try {
	const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
	await ctx.grantPermissions(['microphone'], { origin: new URL(o.url).origin });
	for (const [user, peer] of [['alice', 'bob'], ['bob', 'alice']]) {
		const p = await ctx.newPage();
		p.setDefaultTimeout(stepTimeout);
		p.on('console', (m) => logs.push(`[${user} console.${m.type()}] ${m.text()}`));
		p.on('pageerror', (e) => logs.push(`[${user} pageerror] ${e.message}`));
		pages[user] = p;
		const u = new URL(o.url);
		u.search = new URLSearchParams({ user, peer, domain: '127.0.0.1' }).toString();
		await step(`load-${user}`, async () => {
			const resp = await p.goto(u.toString());
			if (!resp || resp.status() !== 200) throw new Error(`GET ${u}: ${resp && resp.status()}`);
			await p.waitForFunction(() => typeof window.JsSIP === 'object');
		});
	}
	const { alice, bob } = pages;
	// Playwright's actionability checks wait for animation frames, which only the page in front
	// gets: bring a page to the front before acting on it.
	const click = async (p, sel) => { await p.bringToFront(); await p.click(sel); };
	const fill = async (p, sel, v) => { await p.bringToFront(); await p.fill(sel, v); };
	// Polled on a timer, not on animation frames: the page behind the other one gets none.
	const state = (p, id, want) => p.waitForFunction(([id, want]) => document.getElementById(id).dataset.state === want,
		[id, want], { polling: 100 });
	const shown = (p, from, text) => p.waitForFunction(([from, text]) =>
		[...document.querySelectorAll(`#messages li[data-from="${from}"]`)].some((li) => li.textContent.includes(text)),
	[from, text], { polling: 100 });

	for (const [user, p] of Object.entries(pages)) {
		await step(`register-${user}`, async () => {
			await click(p, '#register');
			await state(p, 'state', 'registered');
			const flow = (await p.textContent('#flow')).trim();
			if (!/^[A-Za-z0-9_-]{16,}$/.test(flow)) throw new Error(`flow token shown: ${JSON.stringify(flow)}`);
		});
	}
	await step('message-alice-to-bob', async () => {
		await fill(alice, '#text', `Hello Bob, this went through sipws (${nonce})`);
		await click(alice, '#send');
		await shown(bob, 'alice', nonce);
	});
	await step('message-bob-to-alice', async () => {
		await fill(bob, '#text', `Hi Alice! (${nonce})`);
		await click(bob, '#send');
		await shown(alice, 'bob', nonce);
	});
	await step('call-alice-to-bob-ringing', async () => {
		await click(alice, '#call');
		await state(bob, 'callstate', 'incoming');
	});
	await step('call-answered-confirmed', async () => {
		await click(bob, '#answer');
		await state(alice, 'callstate', 'confirmed');
		await state(bob, 'callstate', 'confirmed');
	});
	if (o.screenshot) {
		await step('screenshot', async () => {
			await alice.bringToFront();
			// Open the 200 to the INVITE in the trace: its Record-Route carries both flow tokens.
			await alice.click('#trace details.in summary:has-text("200 OK")');
			await alice.screenshot({ path: o.screenshot });
		});
	}
	await step('hangup', async () => {
		await click(alice, '#hangup');
		await state(alice, 'callstate', 'ended');
		await state(bob, 'callstate', 'ended');
	});
	for (const [user, p] of Object.entries(pages)) {
		await step(`unregister-${user}`, async () => {
			await click(p, '#unregister');
			await state(p, 'state', 'unregistered');
		});
	}
} catch {
	// reported by step
} finally {
	await browser.close().catch(() => {});
}
if (failed) for (const l of logs.slice(-60)) console.error(l);
console.log(`# ${o.url}: ${Date.now() - t0} ms`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed || passed === 0 ? 1 : 0);
