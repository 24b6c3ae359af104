// sipws demo softphone: JsSIP over the WebSocket listener this page came from.
(() => {
	'use strict';
	const $ = (id) => document.getElementById(id);
	const params = new URLSearchParams(location.search);
	const wsURL = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/';
	const names = ['alice', 'bob', 'carol', 'dave'];
	$('wsurl').textContent = wsURL;
	$('jssipv').textContent = JsSIP.version || '';
	$('user').value = params.get('user') || names[Math.floor(Math.random() * names.length)];
	$('domain').value = params.get('domain') || location.hostname;
	$('peer').value = params.get('peer') || '';
	$('text').value = params.get('text') || '';

	let ua = null;
	let session = null;
	let traceCount = 0;

	// trace shows every SIP message that crossed the WebSocket, newest first.
	function trace(dir, data) {
		if (typeof data !== 'string') data = new TextDecoder().decode(data);
		const d = document.createElement('details');
		d.className = dir;
		const s = document.createElement('summary');
		s.textContent = new Date().toISOString().slice(11, 23) + '  ' + data.split('\r\n', 1)[0];
		const pre = document.createElement('pre');
		pre.textContent = data.trim();
		d.append(s, pre);
		const t = $('trace');
		t.prepend(d);
		if (++traceCount > 300) t.lastChild.remove();
	}

	// A JsSIP socket that traces what it sends and receives.
	class TracingSocket extends JsSIP.WebSocketInterface {
		constructor(url) {
			super(url);
			let handler = null;
			Object.defineProperty(this, 'ondata', {
				configurable: true,
				get: () => (handler ? (data) => { trace('in', data); handler(data); } : null),
				set: (fn) => { handler = fn; },
			});
		}
		send(message) {
			trace('out', message);
			return super.send(message);
		}
	}

	function setState(id, state, text) {
		$(id).dataset.state = state;
		$(id).textContent = text || state;
	}

	function target() {
		const peer = $('peer').value.trim();
		if (!peer) { alert('Who? Fill in "To".'); return null; }
		return peer.includes('@') ? 'sip:' + peer.replace(/^sip:/, '') : 'sip:' + peer + '@' + $('domain').value.trim();
	}

	function addMessage(dir, who, body) {
		const li = document.createElement('li');
		li.className = dir;
		li.dataset.from = who;
		const b = document.createElement('b');
		b.textContent = (dir === 'in' ? who : 'me \u2192 ' + who) + ': ';
		li.append(b, document.createTextNode(body));
		$('messages').prepend(li);
	}

	const media = { mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } };

	function bindSession(s) {
		session = s;
		const incoming = s.direction === 'incoming';
		setState('callstate', incoming ? 'incoming' : 'calling',
			incoming ? 'incoming call from ' + s.remote_identity.uri.user : 'calling ' + s.remote_identity.uri.user);
		$('answer').disabled = !incoming;
		$('hangup').disabled = false;
		$('call').disabled = true;
		s.on('progress', () => { if (!incoming) setState('callstate', 'ringing'); });
		s.on('accepted', () => setState('callstate', 'connecting', 'answered'));
		s.on('confirmed', () => {
			setState('callstate', 'confirmed', 'in call with ' + s.remote_identity.uri.user);
			$('answer').disabled = true;
		});
		const done = (why) => (e) => {
			setState('callstate', 'ended', why + (e && e.cause ? ' (' + e.cause + ')' : ''));
			session = null;
			$('answer').disabled = true;
			$('hangup').disabled = true;
			$('call').disabled = !(ua && ua.isRegistered());
		};
		s.on('ended', done('ended'));
		s.on('failed', done('failed'));
		s.on('peerconnection', (e) => {
			e.peerconnection.addEventListener('track', (ev) => { $('remote').srcObject = ev.streams[0]; });
		});
		if (s.connection) {
			s.connection.addEventListener('track', (ev) => { $('remote').srcObject = ev.streams[0]; });
		}
	}

	$('register').onclick = () => {
		if (ua) ua.stop();
		const user = $('user').value.trim();
		const domain = $('domain').value.trim();
		const socket = new TracingSocket(wsURL);
		ua = new JsSIP.UA({
			sockets: [socket], uri: 'sip:' + user + '@' + domain, display_name: user,
			register: true, register_expires: 300, session_timers: false, user_agent: 'sipws-demo JsSIP',
		});
		setState('state', 'connecting');
		ua.on('connected', () => setState('state', 'connected'));
		ua.on('disconnected', () => setState('state', 'disconnected'));
		ua.on('registered', (e) => {
			setState('state', 'registered', 'registered as ' + user + '@' + domain);
			// The router is the edge proxy of this registrar: the Path it added carries the
			// flow token of this WebSocket connection (sip:TOKEN@router;lr;ob).
			const path = e.response.getHeader('Path') || '';
			const m = /sip:([^@>;]+)@/.exec(path);
			$('flow').textContent = m ? m[1] : '(no Path in the 200)';
			$('contact').textContent = (e.response.getHeaders('Contact') || []).join(', ');
			$('unregister').disabled = false;
			$('send').disabled = false;
			$('call').disabled = !!session;
		});
		ua.on('unregistered', () => {
			setState('state', 'unregistered');
			$('unregister').disabled = true;
			$('send').disabled = true;
			$('call').disabled = true;
		});
		ua.on('registrationFailed', (e) => setState('state', 'failed', 'registration failed: ' + e.cause));
		ua.on('newMessage', (e) => {
			if (e.originator === 'remote') addMessage('in', e.request.from.uri.user, e.request.body);
		});
		ua.on('newRTCSession', (e) => bindSession(e.session));
		ua.start();
	};
	$('unregister').onclick = () => ua && ua.unregister();
	$('send').onclick = () => {
		const to = target();
		if (!to) return;
		const text = $('text').value || 'Hello from sipws';
		ua.sendMessage(to, text, {
			eventHandlers: {
				succeeded: () => addMessage('out', to.replace(/^sip:/, ''), text),
				failed: (e) => addMessage('out', to.replace(/^sip:/, ''), '(failed: ' + e.cause + ') ' + text),
			},
		});
	};
	$('call').onclick = () => {
		const to = target();
		if (to) ua.call(to, media);
	};
	$('answer').onclick = () => session && session.answer(media);
	$('hangup').onclick = () => session && session.terminate();
	if (params.get('autoregister') === '1') $('register').click();
})();
