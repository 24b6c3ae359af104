#!/usr/bin/env node
// check-registrar.mjs: proves kamailio-registrar.cfg does what sipws's router will rely on,
// before the router exists, by playing the router's part over UDP with hand-written SIP:
//
//   "edge"  a UDP socket that stands for the router: it forwards bob's REGISTER with
//           Path: <sip:TOKEN@127.0.0.1:EDGE;lr;ob>, answers what Kamailio routes to bob, and
//           Record-Routes bob's side of dialogs with the same token (RFC 5626 §5.3).
//   "alice" a plain UDP UA registered directly at Kamailio (no edge in between).
//
// Each step prints `ok <step>` or `FAIL <step>: <reason>`; exit 0 only if all passed.
//
//   node check-registrar.mjs --kamailio 127.0.0.1:5060 [--domain 127.0.0.1] [--step-timeout 3000]

import dgram from 'node:dgram';
import crypto from 'node:crypto';
import process from 'node:process';

const args = process.argv.slice(2);
const opt = { kamailio: '127.0.0.1:5060', domain: '127.0.0.1', stepTimeout: 3000, timeout: 30000, trace: false };
for (let i = 0; i < args.length; i++) {
	switch (args[i]) {
		case '--kamailio': opt.kamailio = args[++i]; break;
		case '--domain': opt.domain = args[++i]; break;
		case '--step-timeout': opt.stepTimeout = Number(args[++i]); break;
		case '--timeout': opt.timeout = Number(args[++i]); break;
		case '--trace': opt.trace = true; break;
		default:
			console.error(`usage: node check-registrar.mjs --kamailio HOST:PORT [--domain D] [--step-timeout MS] [--timeout MS] [--trace]`);
			process.exit(2);
	}
}
const [kHost, kPortStr] = opt.kamailio.split(':');
const kPort = Number(kPortStr);
const overall = setTimeout(() => {
	console.log(`FAIL overall: timeout after ${opt.timeout} ms`);
	process.exit(1);
}, opt.timeout);

// ------------------------------------------------------------------------------------------
// Minimal SIP over UDP

const CRLF = '\r\n';
const rnd = (n = 8) => crypto.randomBytes(n).toString('hex');
const branch = () => `z9hG4bK-${rnd(6)}`;

function parse(text) {
	const [head, ...rest] = text.split(CRLF + CRLF);
	const lines = head.split(CRLF);
	const start = lines.shift();
	const headers = [];
	for (const l of lines) {
		if (/^[ \t]/.test(l) && headers.length) headers[headers.length - 1][1] += ` ${l.trim()}`;
		else {
			const c = l.indexOf(':');
			headers.push([l.slice(0, c).trim(), l.slice(c + 1).trim()]);
		}
	}
	const m = /^SIP\/2\.0 (\d{3}) (.*)$/.exec(start);
	const r = /^([A-Z]+) (\S+) SIP\/2\.0$/.exec(start);
	const compact = { v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length', c: 'content-type' };
	const norm = n => compact[n.toLowerCase()] || n.toLowerCase();
	const msg = {
		text,
		start,
		status: m ? Number(m[1]) : 0,
		method: r ? r[1] : null,
		ruri: r ? r[2] : null,
		headers,
		body: rest.join(CRLF + CRLF),
		all(name) {
			const n = norm(name);
			// Split comma-joined values (Via, Route, Record-Route, Path) outside <> and quotes.
			return headers.filter(([h]) => norm(h) === n).flatMap(([, v]) => splitComma(v));
		},
		raw(name) {
			const n = norm(name);
			return headers.filter(([h]) => norm(h) === n).map(([, v]) => v);
		},
		get(name) {
			return this.raw(name)[0];
		},
	};
	msg.cseqMethod = (/\d+\s+(\w+)/.exec(msg.get('cseq') || '') || [])[1];
	return msg;
}

function splitComma(v) {
	const out = [];
	let cur = '';
	let depth = 0;
	let quoted = false;
	for (const ch of v) {
		if (ch === '"') quoted = !quoted;
		if (!quoted && ch === '<') depth++;
		if (!quoted && ch === '>') depth--;
		if (ch === ',' && !quoted && depth === 0) {
			out.push(cur.trim());
			cur = '';
		} else cur += ch;
	}
	if (cur.trim()) out.push(cur.trim());
	return out;
}

function build(start, headers, body = '') {
	const lines = [start];
	for (const [h, v] of headers) lines.push(`${h}: ${v}`);
	lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
	return lines.join(CRLF) + CRLF + CRLF + body;
}

// response builds a response to req, copying Via/From/To/Call-ID/CSeq (and Record-Route for
// dialog-forming requests when rr is given); the To tag is added when missing.
function response(req, status, reason, { toTag, extra = [], body = '', rr = null } = {}) {
	const h = [];
	for (const v of req.raw('via')) h.push(['Via', v]);
	h.push(['From', req.get('from')]);
	const to = req.get('to');
	h.push(['To', /;tag=/.test(to) || !toTag ? to : `${to};tag=${toTag}`]);
	h.push(['Call-ID', req.get('call-id')]);
	h.push(['CSeq', req.get('cseq')]);
	if (rr) for (const v of rr) h.push(['Record-Route', v]);
	h.push(...extra);
	return build(`SIP/2.0 ${status} ${reason}`, h, body);
}

class Endpoint {
	constructor(name) {
		this.name = name;
		this.sock = dgram.createSocket('udp4');
		this.waiters = [];
		this.inbox = [];
		this.sock.on('message', (buf, rinfo) => {
			const text = buf.toString('utf8');
			if (opt.trace) process.stderr.write(`----- ${name} <<< ${rinfo.address}:${rinfo.port}\n${text.replace(/\r\n/g, '\n')}\n`);
			const msg = parse(text);
			msg.from = rinfo;
			const w = this.waiters.find(x => x.pred(msg));
			if (w) {
				this.waiters.splice(this.waiters.indexOf(w), 1);
				w.resolve(msg);
			} else this.inbox.push(msg);
		});
	}

	async bind() {
		await new Promise((res, rej) => {
			this.sock.once('error', rej);
			this.sock.bind(0, '127.0.0.1', res);
		});
		this.port = this.sock.address().port;
		this.hostport = `127.0.0.1:${this.port}`;
	}

	send(text, to = { address: kHost, port: kPort }) {
		if (opt.trace) process.stderr.write(`----- ${this.name} >>> ${to.address}:${to.port}\n${text.replace(/\r\n/g, '\n')}\n`);
		this.sock.send(text, to.port, to.address);
	}

	// recv waits for a message matching pred (already received or arriving), naming it on timeout.
	recv(pred, what, ms = opt.stepTimeout) {
		const i = this.inbox.findIndex(pred);
		if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]);
		return new Promise((resolve, reject) => {
			const w = { pred, resolve };
			this.waiters.push(w);
			setTimeout(() => {
				const k = this.waiters.indexOf(w);
				if (k >= 0) {
					this.waiters.splice(k, 1);
					reject(new Error(`${this.name}: timeout waiting for ${what}`));
				}
			}, ms);
		});
	}

	// recvFinal waits for the final response to a request (skipping 1xx) by Call-ID and CSeq method.
	recvFinal(callId, method, what) {
		return this.recv(m => m.status >= 200 && m.get('call-id') === callId && m.cseqMethod === method, what);
	}

	close() {
		this.sock.close();
	}
}

// ------------------------------------------------------------------------------------------
// Steps

let failures = 0;
let count = 0;
async function step(name, fn) {
	count++;
	try {
		await fn();
		console.log(`ok ${name}`);
	} catch (err) {
		failures++;
		console.log(`FAIL ${name}: ${err.message}`);
	}
}
function assert(cond, msg) {
	if (!cond) throw new Error(msg);
}
const uriOf = nameAddr => (/<([^>]+)>/.exec(nameAddr) || [null, nameAddr.split(';')[0]])[1];

const edge = new Endpoint('edge');
const alice = new Endpoint('alice');
await edge.bind();
await alice.bind();

const D = opt.domain;
const token = `tok${rnd(6)}`; // stands for the router's flow token (base64url in sipws)
const pathUri = `<sip:${token}@${edge.hostport};lr;ob>`;
const bobContactUri = `sip:b${rnd(3)}@${rnd(4)}.invalid;transport=ws;ob`;
const bobInstance = `<urn:uuid:${crypto.randomUUID()}>`;
const aliceContact = `<sip:alice@${alice.hostport}>`;
const bobRegCallId = `reg-${rnd()}`;
let bobRegCSeq = 1;

// The edge relays bob's REGISTER: its own Via on top of the client's WS Via, Path with the token.
function bobRegister(expires) {
	const h = [
		['Via', `SIP/2.0/UDP ${edge.hostport};branch=${branch()};rport`],
		['Via', `SIP/2.0/WS ${rnd(4)}.invalid;branch=${branch()};received=127.0.0.1;rport=50000`],
		['Max-Forwards', '69'],
		['To', `<sip:bob@${D}>`],
		['From', `<sip:bob@${D}>;tag=${rnd(4)}`],
		['Call-ID', bobRegCallId],
		['CSeq', `${bobRegCSeq++} REGISTER`],
		['Path', pathUri],
		['Contact', `<${bobContactUri}>;reg-id=1;+sip.instance="${bobInstance}";expires=${expires}`],
		['Supported', 'path, outbound, gruu'],
		['Expires', String(expires)],
	];
	edge.send(build(`REGISTER sip:${D} SIP/2.0`, h));
}

await step('register-with-path', async () => {
	bobRegister(300);
	const r = await edge.recvFinal(bobRegCallId, 'REGISTER', '200 OK to REGISTER');
	assert(r.status === 200, `REGISTER answered ${r.start}`);
	const paths = r.all('path');
	assert(paths.length === 1 && paths[0] === pathUri, `200 OK echoes Path ${JSON.stringify(paths)}, want ${pathUri} (path_mode 1, Supported: path)`);
	const contacts = r.all('contact');
	assert(contacts.some(c => c.includes(bobContactUri)), `200 OK does not list bob's contact: ${contacts.join(' | ')}`);
	// The edge's Via must have been removed: the 200 must carry the client's Via below ours.
	assert(r.all('via').length === 2, `200 OK has ${r.all('via').length} Via headers, want 2`);
});

await step('options-200', async () => {
	const cid = `opt-${rnd()}`;
	alice.send(build(`OPTIONS sip:${D} SIP/2.0`, [
		['Via', `SIP/2.0/UDP ${alice.hostport};branch=${branch()};rport`],
		['Max-Forwards', '70'],
		['To', `<sip:${D}>`],
		['From', `<sip:alice@${D}>;tag=${rnd(4)}`],
		['Call-ID', cid],
		['CSeq', '1 OPTIONS'],
	]));
	const r = await alice.recvFinal(cid, 'OPTIONS', '200 OK to OPTIONS');
	assert(r.status === 200, `OPTIONS answered ${r.start}`);
});

// checkRoutedToEdge checks a request Kamailio sent towards bob: through the edge, R-URI bob's
// contact, top Route the Path URI (the edge pops it, as the router will).
function checkRoutedToEdge(req, what) {
	assert(req.ruri === bobContactUri, `${what}: R-URI ${req.ruri}, want bob's contact ${bobContactUri}`);
	const routes = req.all('route');
	assert(routes[0] === pathUri, `${what}: top Route ${routes[0]}, want the Path URI ${pathUri}`);
	assert(routes.length === 1, `${what}: ${routes.length} Route headers (${routes.join(', ')}), want 1`);
}

await step('message-follows-path', async () => {
	const cid = `msg-${rnd()}`;
	const body = `hello bob ${rnd(3)}`;
	alice.send(build(`MESSAGE sip:bob@${D} SIP/2.0`, [
		['Via', `SIP/2.0/UDP ${alice.hostport};branch=${branch()};rport`],
		['Max-Forwards', '70'],
		['To', `<sip:bob@${D}>`],
		['From', `<sip:alice@${D}>;tag=${rnd(4)}`],
		['Call-ID', cid],
		['CSeq', '1 MESSAGE'],
		['Content-Type', 'text/plain'],
	], body));
	const req = await edge.recv(m => m.method === 'MESSAGE' && m.get('call-id') === cid, 'MESSAGE at the edge (Path)');
	checkRoutedToEdge(req, 'MESSAGE');
	assert(req.body === body, `body ${JSON.stringify(req.body)}, want ${JSON.stringify(body)}`);
	edge.send(response(req, 200, 'OK', { toTag: rnd(4) }), req.from);
	const r = await alice.recvFinal(cid, 'MESSAGE', '200 OK to MESSAGE');
	assert(r.status === 200, `MESSAGE answered ${r.start}`);
});

const SDP = ['v=0', 'o=alice 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join(CRLF);
const SDP_B = SDP.replace('o=alice', 'o=bob').replace('40000', '42000');

// A call from alice to bob through Kamailio and the edge; returns the dialog state.
async function setUpCall() {
	const call = { cid: `inv-${rnd()}`, ftag: rnd(4), ttag: rnd(4), cseq: 1, branch: branch() };
	alice.send(build(`INVITE sip:bob@${D} SIP/2.0`, [
		['Via', `SIP/2.0/UDP ${alice.hostport};branch=${call.branch};rport`],
		['Max-Forwards', '70'],
		['To', `<sip:bob@${D}>`],
		['From', `<sip:alice@${D}>;tag=${call.ftag}`],
		['Call-ID', call.cid],
		['CSeq', '1 INVITE'],
		['Contact', aliceContact],
		['Content-Type', 'application/sdp'],
	], SDP));
	const inv = await edge.recv(m => m.method === 'INVITE' && m.get('call-id') === call.cid, 'INVITE at the edge (Path)');
	checkRoutedToEdge(inv, 'INVITE');
	assert(inv.body === SDP, 'INVITE SDP changed on the way');
	const kRR = inv.all('record-route');
	assert(kRR.length >= 1, 'INVITE from Kamailio has no Record-Route');
	call.inv = inv;
	// The router Record-Routes bob's leg with the flow token; bob's 200 echoes the whole set.
	call.edgeRR = `<sip:${token}@${edge.hostport};lr;ob>`;
	call.rr = [call.edgeRR, ...kRR];
	edge.send(response(inv, 180, 'Ringing', { toTag: call.ttag, rr: call.rr }), inv.from);
	return call;
}

async function answerCall(call) {
	edge.send(response(call.inv, 200, 'OK', {
		toTag: call.ttag,
		rr: call.rr,
		extra: [['Contact', `<${bobContactUri}>`], ['Content-Type', 'application/sdp']],
		body: SDP_B,
	}), call.inv.from);
	const ok = await alice.recvFinal(call.cid, 'INVITE', '200 OK to INVITE at alice');
	assert(ok.status === 200, `INVITE answered ${ok.start}`);
	assert(ok.body === SDP_B, '200 OK SDP changed on the way');
	call.toHdr = ok.get('to');
	// The UAC's route set is the Record-Route list reversed (RFC 3261 §12.1.2).
	call.routeSet = ok.all('record-route').reverse();
	assert(call.routeSet.length === call.rr.length, `200 OK carries ${call.routeSet.length} Record-Route entries, want ${call.rr.length}`);
	call.remoteTarget = uriOf(ok.get('contact'));
}

// alice sends an in-dialog request along the route set; the edge must receive it with only
// its own Route left (Kamailio popped its entry) and the R-URI bob's contact.
async function aliceInDialog(call, method) {
	const c = method === 'ACK' ? 1 : ++call.cseq;
	const br = branch();
	alice.send(build(`${method} ${call.remoteTarget} SIP/2.0`, [
		['Via', `SIP/2.0/UDP ${alice.hostport};branch=${br};rport`],
		['Max-Forwards', '70'],
		['Route', call.routeSet.join(', ')],
		['To', call.toHdr],
		['From', `<sip:alice@${D}>;tag=${call.ftag}`],
		['Call-ID', call.cid],
		['CSeq', `${c} ${method}`],
	]));
	const req = await edge.recv(m => m.method === method && m.get('call-id') === call.cid, `${method} at the edge (Record-Route)`);
	assert(req.ruri === bobContactUri, `${method}: R-URI ${req.ruri}, want ${bobContactUri}`);
	const routes = req.all('route');
	assert(routes.length === 1 && routes[0] === call.edgeRR, `${method}: Route ${routes.join(', ')}, want only ${call.edgeRR}`);
	return req;
}

let call1;
await step('invite-follows-path', async () => {
	call1 = await setUpCall();
	const ringing = await alice.recv(m => m.status === 180 && m.get('call-id') === call1.cid, '180 at alice');
	assert(ringing.all('record-route').length === call1.rr.length, '180 lost Record-Route entries');
	await answerCall(call1);
});

await step('ack-follows-record-route', async () => {
	assert(call1 && call1.routeSet, 'no call');
	await aliceInDialog(call1, 'ACK');
});

await step('bye-caller-follows-record-route', async () => {
	assert(call1 && call1.routeSet, 'no call');
	const bye = await aliceInDialog(call1, 'BYE');
	edge.send(response(bye, 200, 'OK'), bye.from);
	const r = await alice.recvFinal(call1.cid, 'BYE', '200 OK to BYE at alice');
	assert(r.status === 200, `BYE answered ${r.start}`);
});

await step('bye-callee-follows-record-route', async () => {
	const call = await setUpCall();
	await answerCall(call);
	await aliceInDialog(call, 'ACK');
	// bob's route set is the Record-Route list as is; the router pops its own entry and sends
	// the rest to Kamailio, which must route to alice's Contact.
	const routes = call.rr.slice(1);
	const cid = call.cid;
	edge.send(build(`BYE ${uriOf(aliceContact)} SIP/2.0`, [
		['Via', `SIP/2.0/UDP ${edge.hostport};branch=${branch()};rport`],
		['Via', `SIP/2.0/WS ${rnd(4)}.invalid;branch=${branch()};received=127.0.0.1;rport=50000`],
		['Max-Forwards', '69'],
		['Route', routes.join(', ')],
		['From', `<sip:bob@${D}>;tag=${call.ttag}`],
		['To', `<sip:alice@${D}>;tag=${call.ftag}`],
		['Call-ID', cid],
		['CSeq', '1 BYE'],
	]));
	const bye = await alice.recv(m => m.method === 'BYE' && m.get('call-id') === cid, 'BYE at alice');
	assert(bye.all('route').length === 0, `BYE reached alice with Route ${bye.all('route').join(', ')}`);
	alice.send(response(bye, 200, 'OK'), bye.from);
	const r = await edge.recvFinal(cid, 'BYE', '200 OK to BYE at the edge');
	assert(r.status === 200, `BYE answered ${r.start}`);
	assert(r.all('via').length === 2, `200 OK to BYE has ${r.all('via').length} Via headers, want 2`);
});

await step('cancel-follows-invite', async () => {
	const call = await setUpCall();
	await alice.recv(m => m.status === 180 && m.get('call-id') === call.cid, '180 at alice');
	alice.send(build(`CANCEL sip:bob@${D} SIP/2.0`, [
		['Via', `SIP/2.0/UDP ${alice.hostport};branch=${call.branch};rport`],
		['Max-Forwards', '70'],
		['To', `<sip:bob@${D}>`],
		['From', `<sip:alice@${D}>;tag=${call.ftag}`],
		['Call-ID', call.cid],
		['CSeq', '1 CANCEL'],
	]));
	const cancel = await edge.recv(m => m.method === 'CANCEL' && m.get('call-id') === call.cid, 'CANCEL at the edge');
	const invVia = call.inv.raw('via')[0];
	assert(cancel.raw('via')[0] === invVia, `CANCEL top Via ${cancel.raw('via')[0]} differs from the INVITE's ${invVia}`);
	assert(cancel.ruri === call.inv.ruri, `CANCEL R-URI ${cancel.ruri}, want ${call.inv.ruri}`);
	edge.send(response(cancel, 200, 'OK', { toTag: call.ttag }), cancel.from);
	edge.send(response(call.inv, 487, 'Request Terminated', { toTag: call.ttag }), call.inv.from);
	const r = await alice.recvFinal(call.cid, 'INVITE', '487 at alice');
	assert(r.status === 487, `INVITE answered ${r.start}`);
	// ACK for the 487 (hop by hop, same branch).
	alice.send(build(`ACK sip:bob@${D} SIP/2.0`, [
		['Via', `SIP/2.0/UDP ${alice.hostport};branch=${call.branch};rport`],
		['Max-Forwards', '70'],
		['To', r.get('to')],
		['From', `<sip:alice@${D}>;tag=${call.ftag}`],
		['Call-ID', call.cid],
		['CSeq', '1 ACK'],
	]));
	await edge.recv(m => m.method === 'ACK' && m.get('call-id') === call.cid, 'ACK for 487 at the edge');
});

await step('unregister-removes-binding', async () => {
	bobRegister(0);
	const r = await edge.recvFinal(bobRegCallId, 'REGISTER', '200 OK to un-REGISTER');
	assert(r.status === 200, `un-REGISTER answered ${r.start}`);
	assert(!r.all('contact').some(c => c.includes(bobContactUri)), 'bob still listed after Expires 0');
	const cid = `msg-${rnd()}`;
	alice.send(build(`MESSAGE sip:bob@${D} SIP/2.0`, [
		['Via', `SIP/2.0/UDP ${alice.hostport};branch=${branch()};rport`],
		['Max-Forwards', '70'],
		['To', `<sip:bob@${D}>`],
		['From', `<sip:alice@${D}>;tag=${rnd(4)}`],
		['Call-ID', cid],
		['CSeq', '1 MESSAGE'],
	], 'anyone?'));
	const m = await alice.recvFinal(cid, 'MESSAGE', 'answer to MESSAGE for an unregistered user');
	assert(m.status === 404, `MESSAGE to unregistered bob answered ${m.start}, want 404`);
});

edge.close();
alice.close();
clearTimeout(overall);
console.log(`${count - failures} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
