#!/usr/bin/env node
// clients.mjs: SIP-over-WebSocket interop scenarios with two real client libraries in Node:
// alice runs JsSIP, bob runs SIP.js, both over the `ws` package. It prints one line per step,
// `ok <step>` or `FAIL <step>: <reason>`, and exits 0 only when every step passed.
//
//   node clients.mjs --url ws://127.0.0.1:8088/ --domain 127.0.0.1 [--scenario all] [--trace]
//
// Options (defaults in brackets):
//   --url URL            WebSocket server, ws:// or wss:// [ws://127.0.0.1:8080/]
//   --domain DOMAIN      SIP domain of the AoRs sip:alice@DOMAIN, sip:bob@DOMAIN [127.0.0.1]
//   --scenario LIST      all, or a comma list of: options,message,call,cancel (registering
//                        and unregistering always run) [all]
//   --step-timeout MS    bound on each step [5000]
//   --timeout MS         bound on the whole run [60000]
//   --alice USER, --bob USER   user parts [alice, bob]
//   --origin ORIGIN      Origin header on the WebSocket handshakes [none, like a native app]
//   --insecure           accept any TLS certificate for wss:// (self-signed local mode)
//   --trace              print every SIP message sent and received to stderr
//
// Neither library has media in Node: there is no WebRTC. JsSIP's RTCSession needs an
// RTCPeerConnection, so a small fake one (FakePeerConnection below) stands in: it returns a
// fixed SDP offer/answer, reports ICE gathering complete at once and has no tracks. SIP.js
// takes a sessionDescriptionHandlerFactory, so bob gets a stub handler with the same fixed
// SDP. Both sides assert that the SDP they receive is byte for byte the one the peer produced.

import { createRequire } from 'node:module';
import process from 'node:process';

const require = createRequire(import.meta.url);

// ------------------------------------------------------------------------------------------
// Arguments

function parseArgs(argv) {
	const o = {
		url: 'ws://127.0.0.1:8080/',
		domain: '127.0.0.1',
		scenario: 'all',
		stepTimeout: 5000,
		timeout: 60000,
		alice: 'alice',
		bob: 'bob',
		origin: undefined,
		insecure: false,
		trace: false,
	};
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		const next = () => {
			if (i + 1 >= argv.length) usage(`${a} needs a value`);
			return argv[++i];
		};
		switch (a) {
			case '--url': o.url = next(); break;
			case '--domain': o.domain = next(); break;
			case '--scenario': o.scenario = next(); break;
			case '--step-timeout': o.stepTimeout = Number(next()); break;
			case '--timeout': o.timeout = Number(next()); break;
			case '--alice': o.alice = next(); break;
			case '--bob': o.bob = next(); break;
			case '--origin': o.origin = next(); break;
			case '--insecure': o.insecure = true; break;
			case '--trace': o.trace = true; break;
			case '-h': case '--help': usage(); break;
			default: usage(`unknown argument ${a}`);
		}
	}
	if (!/^wss?:\/\//.test(o.url)) usage('--url must be ws:// or wss://');
	if (!(o.stepTimeout > 0) || !(o.timeout > 0)) usage('timeouts must be positive numbers');
	const known = ['options', 'message', 'call', 'cancel'];
	o.groups = o.scenario === 'all' ? new Set(known) : new Set(o.scenario.split(',').map(s => s.trim()).filter(Boolean));
	for (const g of o.groups) if (!known.includes(g)) usage(`unknown scenario ${g} (all, or ${known.join(',')})`);
	return o;
}

function usage(err) {
	const text = 'usage: node clients.mjs --url ws://HOST:PORT/ --domain DOMAIN [--scenario all|options,message,call,cancel]\n' +
		'       [--step-timeout MS] [--timeout MS] [--alice USER] [--bob USER] [--origin ORIGIN] [--insecure] [--trace]';
	if (err) {
		console.error(`clients.mjs: ${err}\n${text}`);
		process.exit(2);
	}
	console.log(text);
	process.exit(0);
}

const opt = parseArgs(process.argv.slice(2));

// Bound the whole run before anything else can hang.
const overall = setTimeout(() => {
	console.log(`FAIL overall: timeout after ${opt.timeout} ms`);
	process.exit(1);
}, opt.timeout);

// ------------------------------------------------------------------------------------------
// WebSocket for both libraries: the `ws` package with the options a browser cannot pass,
// plus an optional trace of every SIP message.

const { WebSocket: WsWebSocket } = await import('ws');

function trace(who, dir, data) {
	if (!opt.trace) return;
	const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
	process.stderr.write(`----- ${who} ${dir} ${new Date().toISOString()}\n${text.replace(/\r\n/g, '\n')}\n`);
}

// taps see every SIP message a UA receives (raw text), for assertions the APIs do not expose.
const taps = { alice: new Set(), bob: new Set() };
function tapOnce(who, pred) {
	let fn;
	const p = new Promise(resolve => {
		fn = text => {
			if (pred(text)) {
				taps[who].delete(fn);
				resolve(text);
			}
		};
		taps[who].add(fn);
	});
	p.cancel = () => taps[who].delete(fn);
	return p;
}
function deliver(who, text) {
	trace(who, '<<<', text);
	for (const fn of [...taps[who]]) fn(text);
}

function makeWebSocketClass(who) {
	return class NodeWebSocket extends WsWebSocket {
		constructor(url, protocols, options = {}) {
			super(url, protocols, {
				handshakeTimeout: opt.stepTimeout,
				rejectUnauthorized: !opt.insecure,
				...(opt.origin ? { origin: opt.origin } : {}),
				...options,
			});
			this.on('message', (data, isBinary) => deliver(who, isBinary ? Buffer.from(data).toString('utf8') : data.toString()));
		}

		send(data, ...rest) {
			trace(who, '>>>', data);
			return super.send(data, ...rest);
		}
	};
}

// ------------------------------------------------------------------------------------------
// Fixed SDP. Both peers check that what they receive is exactly what the other produced.

const CRLF = '\r\n';
function sdp(who, port, payloads) {
	const sess = who === 'alice' ? 1001 : 2002;
	const lines = [
		'v=0',
		`o=${who} ${sess} 1 IN IP4 127.0.0.1`,
		's=sipws-interop',
		'c=IN IP4 127.0.0.1',
		't=0 0',
		`m=audio ${port} RTP/AVP ${payloads.join(' ')}`,
	];
	if (payloads.includes(0)) lines.push('a=rtpmap:0 PCMU/8000');
	if (payloads.includes(8)) lines.push('a=rtpmap:8 PCMA/8000');
	if (payloads.includes(101)) lines.push('a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15');
	lines.push('a=sendrecv');
	return lines.join(CRLF) + CRLF;
}
const SDP = {
	aliceOffer: sdp('alice', 40000, [0, 8, 101]),
	aliceAnswer: sdp('alice', 40000, [0, 101]),
	bobOffer: sdp('bob', 42000, [0, 8, 101]),
	bobAnswer: sdp('bob', 42000, [0, 101]),
};
// What each side last received as remote SDP.
const seenSdp = { alice: null, bob: null };

// JsSIP: a minimal RTCPeerConnection (Node has no WebRTC). JsSIP only needs the offer/answer
// methods, the state attributes, EventTarget and empty sender/receiver lists.
class FakeSessionDescription {
	constructor(init = {}) {
		this.type = init.type;
		this.sdp = init.sdp;
	}

	toJSON() {
		return { type: this.type, sdp: this.sdp };
	}
}

class FakePeerConnection extends EventTarget {
	constructor(config) {
		super();
		this.config = config;
		this.signalingState = 'stable';
		this.iceGatheringState = 'complete';
		this.iceConnectionState = 'new';
		this.connectionState = 'new';
		this.localDescription = null;
		this.remoteDescription = null;
	}

	async createOffer() {
		return new FakeSessionDescription({ type: 'offer', sdp: SDP.aliceOffer });
	}

	async createAnswer() {
		if (this.signalingState !== 'have-remote-offer') throw new Error(`createAnswer in state ${this.signalingState}`);
		return new FakeSessionDescription({ type: 'answer', sdp: SDP.aliceAnswer });
	}

	async setLocalDescription(desc) {
		this.localDescription = new FakeSessionDescription(desc);
		this.signalingState = desc.type === 'offer' ? 'have-local-offer' : 'stable';
	}

	async setRemoteDescription(desc) {
		if (typeof desc.sdp !== 'string' || !desc.sdp.startsWith('v=0')) throw new Error('not an SDP');
		this.remoteDescription = new FakeSessionDescription(desc);
		this.signalingState = desc.type === 'offer' ? 'have-remote-offer' : 'stable';
		seenSdp.alice = desc.sdp;
	}

	addTrack() {
		return {};
	}

	removeTrack() {}

	getSenders() {
		return [];
	}

	getReceivers() {
		return [];
	}

	getTransceivers() {
		return [];
	}

	getLocalStreams() {
		return [];
	}

	getRemoteStreams() {
		return [];
	}

	close() {
		this.signalingState = 'closed';
		this.iceConnectionState = 'closed';
		this.connectionState = 'closed';
	}
}

// JsSIP checks window.RTCPeerConnection; it also calls navigator.mediaDevices.getUserMedia
// unless mediaConstraints turn audio and video off (which this script always does).
globalThis.window ??= globalThis;
globalThis.RTCPeerConnection = FakePeerConnection;
globalThis.RTCSessionDescription = FakeSessionDescription;

// SIP.js: a stub SessionDescriptionHandler with bob's fixed SDP.
class StubSessionDescriptionHandler {
	constructor() {
		this.haveRemoteOffer = false;
		this.haveLocal = false;
	}

	close() {}

	// The first description of a session is an offer unless the peer's offer came first.
	async getDescription() {
		const body = this.haveRemoteOffer ? SDP.bobAnswer : SDP.bobOffer;
		this.haveRemoteOffer = false;
		this.haveLocal = true;
		return { body, contentType: 'application/sdp' };
	}

	hasDescription(contentType) {
		return contentType === 'application/sdp';
	}

	async setDescription(sdpText) {
		if (typeof sdpText !== 'string' || !sdpText.startsWith('v=0')) throw new Error('not an SDP');
		this.haveRemoteOffer = !this.haveLocal;
		seenSdp.bob = sdpText;
	}

	async rollbackDescription() {}

	sendDtmf() {
		return false;
	}
}

// ------------------------------------------------------------------------------------------
// Libraries

globalThis.WebSocket = makeWebSocketClass('bob'); // SIP.js's Web transport uses the global
const JsSIP = require('jssip');
const SIP = await import('sip.js');
if (opt.trace) JsSIP.debug.enable('JsSIP:ERROR*,JsSIP:WARN*');
else JsSIP.debug.disable();

// JsSIP.Socket over `ws` (the interface JsSIP documents: url, via_transport, sip_uri,
// connect/disconnect/send, onconnect/ondisconnect/ondata).
class NodeJsSIPSocket {
	constructor(url, who) {
		const u = new URL(url);
		this.url = url;
		this.via_transport = u.protocol === 'wss:' ? 'WSS' : 'WS';
		this.sip_uri = `sip:${u.hostname}${u.port ? `:${u.port}` : ''};transport=ws`;
		this._WS = makeWebSocketClass(who);
		this._ws = null;
		this.lastError = null;
	}

	connect() {
		if (this.isConnected() || this.isConnecting()) return;
		const ws = new this._WS(this.url, 'sip');
		this._ws = ws;
		ws.on('open', () => this.onconnect());
		ws.on('message', (data, isBinary) => this.ondata(isBinary ? Buffer.from(data).toString('utf8') : data.toString()));
		ws.on('error', err => {
			this.lastError = err;
		});
		ws.on('close', (code, reason) => {
			if (this._ws === ws) this._ws = null;
			this.ondisconnect(code !== 1000, code, reason.toString());
		});
	}

	disconnect() {
		const ws = this._ws;
		this._ws = null;
		if (ws) {
			ws.removeAllListeners('close');
			ws.close(1000);
		}
	}

	send(message) {
		if (!this.isConnected()) return false;
		this._ws.send(message);
		return true;
	}

	isConnected() {
		return !!this._ws && this._ws.readyState === WsWebSocket.OPEN;
	}

	isConnecting() {
		return !!this._ws && this._ws.readyState === WsWebSocket.CONNECTING;
	}
}

// ------------------------------------------------------------------------------------------
// Step runner

const status = new Map();
let failures = 0;

function describe(err) {
	if (err instanceof Error) return err.message;
	return String(err);
}

// deferred returns a promise with resolve/reject attached.
function deferred() {
	let resolve;
	let reject;
	const p = new Promise((res, rej) => {
		resolve = res;
		reject = rej;
	});
	p.catch(() => {});
	p.resolve = resolve;
	p.reject = reject;
	return p;
}

async function step(name, needs, fn) {
	const missing = needs.filter(n => status.get(n) !== 'ok');
	if (missing.length) {
		status.set(name, 'skipped');
		failures++;
		console.log(`FAIL ${name}: not run, needs ${missing.join(', ')}`);
		return;
	}
	const deadline = Date.now() + opt.stepTimeout;
	const timers = new Set();
	const ctx = {
		// wait bounds one awaited event by what is left of the step's time, naming it on timeout.
		wait(promise, what) {
			return new Promise((resolve, reject) => {
				const t = setTimeout(() => reject(new Error(`timeout waiting for ${what}`)), Math.max(0, deadline - Date.now()));
				timers.add(t);
				Promise.resolve(promise).then(
					v => { clearTimeout(t); resolve(v); },
					e => { clearTimeout(t); reject(e); },
				);
			});
		},
	};
	const started = Date.now();
	try {
		await fn(ctx);
		status.set(name, 'ok');
		console.log(`ok ${name} (${Date.now() - started} ms)`);
	} catch (err) {
		status.set(name, 'failed');
		failures++;
		console.log(`FAIL ${name}: ${describe(err)}`);
	} finally {
		for (const t of timers) clearTimeout(t);
	}
}

function assert(cond, msg) {
	if (!cond) throw new Error(msg);
}

function assertSdp(who, got, want) {
	if (got !== want) {
		throw new Error(`${who} received a different SDP than was sent:\n--- sent\n${want}--- received\n${got}`);
	}
}

const callId = text => (/^(?:Call-ID|i)\s*:\s*(.+)$/im.exec(text) || [])[1]?.trim();
const cseqMethod = text => (/^CSeq\s*:\s*\d+\s+(\w+)/im.exec(text) || [])[1];
const statusCode = text => Number((/^SIP\/2\.0 (\d{3})/.exec(text) || [])[1] || 0);
const requestMethod = text => (/^([A-Z]+) \S+ SIP\/2\.0/.exec(text) || [])[1];

// ------------------------------------------------------------------------------------------
// The two user agents

const aliceUri = `sip:${opt.alice}@${opt.domain}`;
const bobUri = `sip:${opt.bob}@${opt.domain}`;

// alice: JsSIP
const aliceSocket = new NodeJsSIPSocket(opt.url, 'alice');
const alice = new JsSIP.UA({
	sockets: [aliceSocket],
	uri: aliceUri,
	display_name: 'Alice (JsSIP)',
	register: false,
	register_expires: 300,
	session_timers: false,
	connection_recovery_min_interval: 2,
	connection_recovery_max_interval: 4,
	no_answer_timeout: 30,
	user_agent: `JsSIP ${JsSIP.version} (sipws interop)`,
});
const aliceEvents = {
	message: null, // deferred for the next incoming MESSAGE
	session: null, // deferred for the next incoming RTCSession
};
alice.on('newMessage', e => {
	if (e.originator === 'remote' && aliceEvents.message) aliceEvents.message.resolve(e);
});
alice.on('newRTCSession', e => {
	if (e.originator === 'remote') {
		if (aliceEvents.session) aliceEvents.session.resolve(e.session);
		else e.session.terminate({ status_code: 486 });
	}
});

// bob: SIP.js
const bobEvents = { message: null, invitation: null };
const bob = new SIP.UserAgent({
	uri: SIP.UserAgent.makeURI(bobUri),
	displayName: 'Bob (SIP.js)',
	transportOptions: {
		server: opt.url,
		connectionTimeout: Math.ceil(opt.stepTimeout / 1000),
		keepAliveInterval: 0,
	},
	sessionDescriptionHandlerFactory: () => new StubSessionDescriptionHandler(),
	logBuiltinEnabled: opt.trace,
	logLevel: opt.trace ? 'warn' : 'error',
	userAgentString: `SIP.js ${SIP.version ?? ''} (sipws interop)`.replace('  ', ' '),
	noAnswerTimeout: 30,
	delegate: {
		onMessage(message) {
			message.accept();
			if (bobEvents.message) bobEvents.message.resolve(message);
		},
		onInvite(invitation) {
			if (bobEvents.invitation) bobEvents.invitation.resolve(invitation);
			else invitation.reject({ statusCode: 486 });
		},
	},
});
const bobRegisterer = new SIP.Registerer(bob, { expires: 300 });

// ------------------------------------------------------------------------------------------
// Scenario

const t0 = Date.now();
const nonce = `${process.pid}-${t0}`;

await step('register-alice', [], async ctx => {
	const connected = deferred();
	const registered = deferred();
	alice.once('connected', () => connected.resolve());
	alice.once('registered', e => registered.resolve(e));
	alice.once('registrationFailed', e => registered.reject(new Error(`REGISTER failed: ${e.response ? `${e.response.status_code} ${e.response.reason_phrase}` : e.cause}`)));
	alice.start();
	await ctx.wait(connected, `JsSIP WebSocket connection to ${opt.url}${aliceSocket.lastError ? ` (${aliceSocket.lastError.message})` : ''}`)
		.catch(err => {
			throw aliceSocket.lastError ? new Error(`connect ${opt.url}: ${aliceSocket.lastError.message}`) : err;
		});
	alice.register();
	const e = await ctx.wait(registered, 'REGISTER 200 for alice');
	assert(e.response.status_code === 200, `REGISTER answered ${e.response.status_code}`);
	const contacts = e.response.getHeaders('contact');
	assert(contacts.length > 0, '200 OK to REGISTER lists no Contact');
});

await step('register-bob', [], async ctx => {
	await ctx.wait(bob.start(), `SIP.js WebSocket connection to ${opt.url}`);
	const accepted = deferred();
	await bobRegisterer.register({
		requestDelegate: {
			onAccept: resp => accepted.resolve(resp.message),
			onReject: resp => accepted.reject(new Error(`REGISTER failed: ${resp.message.statusCode} ${resp.message.reasonPhrase}`)),
		},
	});
	const msg = await ctx.wait(accepted, 'REGISTER 200 for bob');
	assert(msg.statusCode === 200, `REGISTER answered ${msg.statusCode}`);
	const registered = bobRegisterer.state === SIP.RegistererState.Registered
		? Promise.resolve()
		: new Promise(resolve => bobRegisterer.stateChange.addListener(s => s === SIP.RegistererState.Registered && resolve()));
	await ctx.wait(registered, 'SIP.js Registerer state Registered');
});

if (opt.groups.has('options')) {
	await step('options-alice', ['register-alice'], async ctx => {
		const done = deferred();
		// A URI object: JsSIP would turn the string "sip:127.0.0.1" into sip:127001@127.0.0.1
		// (it strips telephone visual separators from an all-digit "user").
		alice.sendOptions(JsSIP.URI.parse(`sip:${opt.domain}`), null, {
			eventHandlers: {
				succeeded: e => done.resolve(e.response),
				failed: e => done.reject(new Error(`OPTIONS failed: ${e.response ? `${e.response.status_code} ${e.response.reason_phrase}` : e.cause}`)),
			},
		});
		const resp = await ctx.wait(done, 'answer to OPTIONS');
		assert(resp.status_code === 200, `OPTIONS answered ${resp.status_code}`);
	});
}

if (opt.groups.has('message')) {
	await step('message-alice-to-bob', ['register-alice', 'register-bob'], async ctx => {
		const body = `hello bob from alice (JsSIP) ${nonce} ✓`;
		bobEvents.message = deferred();
		const sent = deferred();
		alice.sendMessage(bobUri, body, {
			contentType: 'text/plain;charset=utf-8',
			eventHandlers: {
				succeeded: e => sent.resolve(e.response),
				failed: e => sent.reject(new Error(`MESSAGE failed: ${e.response ? `${e.response.status_code} ${e.response.reason_phrase}` : e.cause}`)),
			},
		});
		const m = await ctx.wait(bobEvents.message, 'bob to receive the MESSAGE');
		assert(m.request.body === body, `bob received body ${JSON.stringify(m.request.body)}, want ${JSON.stringify(body)}`);
		assert(m.request.from.uri.user === opt.alice, `From user is ${m.request.from.uri.user}`);
		const resp = await ctx.wait(sent, '200 OK to the MESSAGE at alice');
		assert(resp.status_code === 200, `MESSAGE answered ${resp.status_code}`);
		bobEvents.message = null;
	});

	await step('message-bob-to-alice', ['register-alice', 'register-bob'], async ctx => {
		const body = `hello alice from bob (SIP.js) ${nonce} ✓`;
		aliceEvents.message = deferred();
		const sent = deferred();
		const messager = new SIP.Messager(bob, SIP.UserAgent.makeURI(aliceUri), body, 'text/plain;charset=utf-8');
		await messager.message({
			requestDelegate: {
				onAccept: resp => sent.resolve(resp.message),
				onReject: resp => sent.reject(new Error(`MESSAGE failed: ${resp.message.statusCode} ${resp.message.reasonPhrase}`)),
			},
		});
		const e = await ctx.wait(aliceEvents.message, 'alice to receive the MESSAGE');
		assert(e.request.body === body, `alice received body ${JSON.stringify(e.request.body)}, want ${JSON.stringify(body)}`);
		assert(e.request.from.uri.user === opt.bob, `From user is ${e.request.from.uri.user}`);
		const resp = await ctx.wait(sent, '200 OK to the MESSAGE at bob');
		assert(resp.statusCode === 200, `MESSAGE answered ${resp.statusCode}`);
		aliceEvents.message = null;
	});
}

// JsSIP session event -> promise helpers.
function jssipSessionEvents(session) {
	const ev = {};
	for (const name of ['progress', 'accepted', 'confirmed', 'ended', 'failed']) {
		ev[name] = deferred();
		session.on(name, e => ev[name].resolve(e));
	}
	// A failure rejects whatever is still awaited.
	session.on('failed', e => {
		const why = new Error(`JsSIP session failed: ${e.cause}${e.message && e.message.status_code ? ` (${e.message.status_code} ${e.message.reason_phrase})` : ''}`);
		for (const name of ['progress', 'accepted', 'confirmed', 'ended']) ev[name].reject(why);
	});
	return ev;
}

// SIP.js session state -> promise for a given state.
function sipjsState(session, want) {
	if (session.state === want) return Promise.resolve();
	return new Promise((resolve, reject) => {
		session.stateChange.addListener(s => {
			if (s === want) resolve();
			else if (s === SIP.SessionState.Terminated) reject(new Error(`SIP.js session terminated while waiting for ${want}`));
		});
	});
}

const mediaOff = { audio: false, video: false };

// Hang up whatever a failed call step left behind, so the next steps start clean.
function cleanupCall(jsSession, sipSession) {
	try {
		if (jsSession && !jsSession.isEnded()) jsSession.terminate();
	} catch { /* already gone */ }
	try {
		if (sipSession) {
			if (sipSession.state === SIP.SessionState.Established) sipSession.bye().catch(() => {});
			else if (sipSession instanceof SIP.Inviter && sipSession.state === SIP.SessionState.Establishing) sipSession.cancel().catch(() => {});
			else if (sipSession instanceof SIP.Invitation && sipSession.state === SIP.SessionState.Initial) sipSession.reject().catch(() => {});
		}
	} catch { /* already gone */ }
}

if (opt.groups.has('call')) {
	// alice (JsSIP) calls bob (SIP.js); alice hangs up.
	const call1 = {};
	await step('call-alice-to-bob-invite', ['register-alice', 'register-bob'], async ctx => {
		bobEvents.invitation = deferred();
		call1.session = alice.call(bobUri, { mediaConstraints: mediaOff, pcConfig: { iceServers: [] } });
		call1.ev = jssipSessionEvents(call1.session);
		const inv = await ctx.wait(bobEvents.invitation, 'bob to receive the INVITE');
		bobEvents.invitation = null;
		call1.inv = inv;
		call1.ack = deferred();
		inv.delegate = { onAck: ack => call1.ack.resolve(ack) };
		assert(inv.remoteIdentity.uri.user === opt.alice, `INVITE From user is ${inv.remoteIdentity.uri.user}`);
		await ctx.wait(inv.accept(), 'bob to send 200 OK');
		assertSdp('bob', inv.request.body, SDP.aliceOffer);
		await ctx.wait(call1.ev.accepted, 'alice to receive 200 OK');
		assertSdp('alice', seenSdp.alice, SDP.bobAnswer);
	});
	if (status.get('call-alice-to-bob-invite') !== 'ok') cleanupCall(call1.session, call1.inv);

	await step('call-alice-to-bob-ack', ['call-alice-to-bob-invite'], async ctx => {
		await ctx.wait(call1.ev.confirmed, 'alice to send ACK (JsSIP confirmed)');
		await ctx.wait(call1.ack, 'bob to receive the ACK');
		await ctx.wait(sipjsState(call1.inv, SIP.SessionState.Established), 'bob session Established');
	});
	if (status.get('call-alice-to-bob-ack') !== 'ok') cleanupCall(call1.session, call1.inv);

	await step('call-alice-to-bob-bye', ['call-alice-to-bob-ack'], async ctx => {
		const bobEnded = sipjsState(call1.inv, SIP.SessionState.Terminated);
		const byeOk = tapOnce('alice', t => statusCode(t) === 200 && cseqMethod(t) === 'BYE' && callId(t) === call1.session._request.call_id);
		call1.session.terminate();
		const e = await ctx.wait(call1.ev.ended, 'alice session ended');
		assert(e.originator === 'local', `alice's call ended by ${e.originator}`);
		await ctx.wait(bobEnded, 'bob to receive the BYE (session Terminated)');
		await ctx.wait(byeOk, '200 OK to the BYE at alice');
	});
	if (status.get('call-alice-to-bob-bye') !== 'ok') cleanupCall(call1.session, call1.inv);

	// bob (SIP.js) calls alice (JsSIP); bob hangs up.
	const call2 = {};
	await step('call-bob-to-alice-invite', ['register-alice', 'register-bob'], async ctx => {
		aliceEvents.session = deferred();
		const inviter = new SIP.Inviter(bob, SIP.UserAgent.makeURI(aliceUri));
		call2.inviter = inviter;
		const accepted = deferred();
		await inviter.invite({
			requestDelegate: {
				onAccept: resp => accepted.resolve(resp.message),
				onReject: resp => accepted.reject(new Error(`INVITE rejected: ${resp.message.statusCode} ${resp.message.reasonPhrase}`)),
			},
		});
		const session = await ctx.wait(aliceEvents.session, 'alice to receive the INVITE');
		aliceEvents.session = null;
		call2.session = session;
		call2.ev = jssipSessionEvents(session);
		assert(session.remote_identity.uri.user === opt.bob, `INVITE From user is ${session.remote_identity.uri.user}`);
		session.answer({ mediaConstraints: mediaOff, pcConfig: { iceServers: [] } });
		await ctx.wait(call2.ev.accepted, 'alice to send 200 OK');
		assertSdp('alice', seenSdp.alice, SDP.bobOffer);
		const ok = await ctx.wait(accepted, 'bob to receive 200 OK');
		assert(ok.statusCode === 200, `INVITE answered ${ok.statusCode}`);
		assertSdp('bob', ok.body, SDP.aliceAnswer);
	});
	if (status.get('call-bob-to-alice-invite') !== 'ok') cleanupCall(call2.session, call2.inviter);

	await step('call-bob-to-alice-ack', ['call-bob-to-alice-invite'], async ctx => {
		await ctx.wait(sipjsState(call2.inviter, SIP.SessionState.Established), 'bob session Established (ACK sent)');
		await ctx.wait(call2.ev.confirmed, 'alice to receive the ACK (JsSIP confirmed)');
	});
	if (status.get('call-bob-to-alice-ack') !== 'ok') cleanupCall(call2.session, call2.inviter);

	await step('call-bob-to-alice-bye', ['call-bob-to-alice-ack'], async ctx => {
		const byeOk = deferred();
		const bobEnded = sipjsState(call2.inviter, SIP.SessionState.Terminated);
		await call2.inviter.bye({
			requestDelegate: {
				onAccept: resp => byeOk.resolve(resp.message),
				onReject: resp => byeOk.reject(new Error(`BYE answered ${resp.message.statusCode} ${resp.message.reasonPhrase}`)),
			},
		});
		const e = await ctx.wait(call2.ev.ended, 'alice to receive the BYE (session ended)');
		assert(e.originator === 'remote', `alice's call ended by ${e.originator}`);
		await ctx.wait(bobEnded, 'bob session Terminated');
		await ctx.wait(byeOk, '200 OK to the BYE at bob');
	});
	if (status.get('call-bob-to-alice-bye') !== 'ok') cleanupCall(call2.session, call2.inviter);
}

if (opt.groups.has('cancel')) {
	// alice calls bob, bob rings (180), alice cancels: bob sees the CANCEL, alice gets 487.
	const call3 = {};
	await step('cancel-alice-to-bob', ['register-alice', 'register-bob'], async ctx => {
		bobEvents.invitation = deferred();
		call3.session = alice.call(bobUri, { mediaConstraints: mediaOff, pcConfig: { iceServers: [] } });
		call3.ev = jssipSessionEvents(call3.session);
		call3.ev.failed.catch(() => {});
		const inv = await ctx.wait(bobEvents.invitation, 'bob to receive the INVITE');
		bobEvents.invitation = null;
		call3.inv = inv;
		const cancelled = deferred();
		inv.delegate = { onCancel: c => cancelled.resolve(c) };
		const bobEnded = sipjsState(inv, SIP.SessionState.Terminated).catch(() => {});
		await ctx.wait(inv.progress(), 'bob to send 180 Ringing');
		await ctx.wait(call3.ev.progress, 'alice to receive 180 Ringing');
		const id = call3.session._request.call_id;
		const got487 = tapOnce('alice', t => statusCode(t) === 487 && cseqMethod(t) === 'INVITE' && callId(t) === id);
		const cancelOk = tapOnce('alice', t => statusCode(t) === 200 && cseqMethod(t) === 'CANCEL' && callId(t) === id);
		call3.session.terminate();
		await ctx.wait(cancelled, 'bob to receive the CANCEL');
		await ctx.wait(bobEnded, 'bob session Terminated');
		await ctx.wait(cancelOk, '200 OK to the CANCEL at alice');
		await ctx.wait(got487, '487 Request Terminated at alice');
		const f = await ctx.wait(call3.ev.failed, 'alice session failed (Canceled)');
		assert(f.cause === JsSIP.C.causes.CANCELED, `alice's call failed with ${f.cause}`);
	});
	if (status.get('cancel-alice-to-bob') !== 'ok') cleanupCall(call3.session, call3.inv);
}

await step('unregister-alice', ['register-alice'], async ctx => {
	const done = deferred();
	alice.once('unregistered', e => done.resolve(e));
	alice.once('registrationFailed', e => done.reject(new Error(`un-REGISTER failed: ${e.response ? `${e.response.status_code} ${e.response.reason_phrase}` : e.cause}`)));
	alice.unregister();
	const e = await ctx.wait(done, 'un-REGISTER 200 for alice');
	assert(e.response && e.response.status_code === 200, `un-REGISTER answered ${e.response ? e.response.status_code : e.cause}`);
	const mine = e.response.getHeaders('contact').filter(c => c.includes(alice.contact.uri.host));
	assert(mine.every(c => /expires=0\b/i.test(c)), `registrar still lists alice's contact: ${mine.join(', ')}`);
});

await step('unregister-bob', ['register-bob'], async ctx => {
	const accepted = deferred();
	await bobRegisterer.unregister({
		requestDelegate: {
			onAccept: resp => accepted.resolve(resp.message),
			onReject: resp => accepted.reject(new Error(`un-REGISTER failed: ${resp.message.statusCode} ${resp.message.reasonPhrase}`)),
		},
	});
	const msg = await ctx.wait(accepted, 'un-REGISTER 200 for bob');
	assert(msg.statusCode === 200, `un-REGISTER answered ${msg.statusCode}`);
	const host = bob.contact.uri.host;
	const mine = msg.getHeaders('contact').filter(c => c.includes(host));
	assert(mine.every(c => /expires=0\b/i.test(c)), `registrar still lists bob's contact: ${mine.join(', ')}`);
	const unreg = bobRegisterer.state === SIP.RegistererState.Unregistered
		? Promise.resolve()
		: new Promise(resolve => bobRegisterer.stateChange.addListener(s => s === SIP.RegistererState.Unregistered && resolve()));
	await ctx.wait(unreg, 'SIP.js Registerer state Unregistered');
});

// ------------------------------------------------------------------------------------------
// Tear down and report

try {
	alice.stop();
} catch { /* ignore */ }
try {
	await Promise.race([bob.stop(), new Promise(r => setTimeout(r, 1000))]);
} catch { /* ignore */ }

const total = status.size;
console.log(`# ${opt.url} domain ${opt.domain}: ${Date.now() - t0} ms`);
console.log(`${total - failures} passed, ${failures} failed`);
clearTimeout(overall);
// Give the close frames a moment, then exit whatever handles remain (JsSIP's timers).
setTimeout(() => process.exit(failures === 0 ? 0 : 1), 200);
