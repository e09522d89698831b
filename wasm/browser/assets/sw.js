// Stardust's Service Worker: it runs the Go program (app.wasm) and answers
// every request under the app prefix (app/ next to this file) with the
// program's own net/http server, through the glue Stardust added to the
// program at build time. Nothing here is specific to one program; the
// build writes stardust.json with the program's name, port, args and env.
"use strict";

importScripts("stardust-fs.js", "wasm_exec.js");

const base = new URL("./", self.location).href;           // where the bundle lives
const prefix = new URL("app/", self.location).pathname;    // e.g. /app/ or /repo/app/
let booting = null;   // Promise of the program's request handler
let listeners = [];   // MessagePorts of pages that want boot progress
let lastProgress = null;

function progress(msg) {
	lastProgress = msg;
	for (const p of listeners) p.postMessage(msg);
	if (msg.phase === "ready" || msg.phase === "failed") listeners = [];
}

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));

// A page posts {type: "boot"} with a MessagePort; it gets progress messages
// and finally {phase: "ready"} or {phase: "failed"}.
self.addEventListener("message", (e) => {
	if (!e.data || e.data.type !== "boot" || !e.ports[0]) return;
	const port = e.ports[0];
	listeners.push(port);
	if (lastProgress && lastProgress.phase !== "ready") port.postMessage(lastProgress);
	e.waitUntil(boot().then(
		() => port.postMessage({ phase: "ready", bootMs: self.stardustBootMs }),
		(err) => port.postMessage({ phase: "failed", error: String(err) })));
});

self.addEventListener("fetch", (e) => {
	const url = new URL(e.request.url);
	if (url.origin !== self.location.origin) return;
	if (url.pathname + "/" === prefix) {
		e.respondWith(Response.redirect(url.href.replace(/(\?|#|$)/, "/$1"), 301));
		return;
	}
	if (!url.pathname.startsWith(prefix)) return; // the bundle's own files
	e.respondWith(serve(e.request, url));
});

function boot() {
	if (!booting) booting = start().catch((err) => { booting = null; progress({ phase: "failed", error: String(err) }); throw err; });
	return booting;
}

// readAll reads a response body, reporting progress as bytes arrive.
async function readAll(resp, phase, total) {
	if (!resp.ok) throw new Error(`${resp.url}: ${resp.status} ${resp.statusText}`);
	const reader = resp.body.getReader();
	const chunks = [];
	let got = 0;
	for (;;) {
		const { done, value } = await reader.read();
		if (done) break;
		chunks.push(value);
		got += value.length;
		progress({ phase, loaded: got, total });
	}
	const all = new Uint8Array(got);
	let off = 0;
	for (const c of chunks) { all.set(c, off); off += c.length; }
	return all;
}

async function start() {
	const t0 = performance.now();
	progress({ phase: "config" });
	const cfg = await (await fetch(base + "stardust.json", { cache: "no-cache" })).json();
	const wasm = await readAll(await fetch(base + cfg.wasm, { cache: "no-cache" }), "download", cfg.wasmSize);
	if (cfg.rootfs) {
		const index = await (await fetch(base + cfg.rootfs.index, { cache: "no-cache" })).json();
		const data = await readAll(await fetch(base + cfg.rootfs.data, { cache: "no-cache" }), "rootfs", cfg.rootfs.size);
		self.stardustFS.load(index, data);
	}
	progress({ phase: "compile" });
	const go = new Go();
	go.argv = [cfg.name, ...(cfg.args || [])];
	go.env = Object.assign({ HOME: "/", PATH: "/" }, cfg.env || {});
	const { instance } = await WebAssembly.instantiate(wasm, go.importObject);
	progress({ phase: "start" });

	// The glue calls ready(handler) once the program accepts connections.
	const handler = new Promise((resolve, reject) => {
		self.__stardust = { port: String(cfg.port), ready: resolve };
		go.run(instance).then(() => {
			// The program exited: the next request starts it again.
			booting = null;
			reject(new Error("the program exited before it listened on port " + cfg.port));
		});
	});
	const h = await handler;
	self.stardustBootMs = Math.round(performance.now() - t0);
	progress({ phase: "ready", bootMs: self.stardustBootMs });
	return h;
}

const nullBodyStatus = new Set([101, 103, 204, 205, 304]);

async function serve(req, url) {
	let handle;
	try {
		handle = await boot();
	} catch (err) {
		return new Response("Stardust: the program did not start: " + err + "\n", { status: 503, headers: { "Content-Type": "text/plain" } });
	}
	const headers = [];
	req.headers.forEach((v, k) => headers.push([k, v]));
	const body = req.method === "GET" || req.method === "HEAD" ? null : new Uint8Array(await req.arrayBuffer());
	const r = await handle({
		method: req.method,
		path: "/" + url.pathname.slice(prefix.length) + url.search,
		host: url.host,
		headers,
		body,
	});
	if (r.error) {
		return new Response("Stardust: " + r.error + "\n", { status: 502, headers: { "Content-Type": "text/plain" } });
	}
	const h = new Headers();
	for (const [k, v] of r.headers) {
		const key = k.toLowerCase();
		if (key === "set-cookie") continue; // kept by the program-side cookie jar
		// The program thinks it is at "/": keep its absolute redirects inside the prefix.
		if (key === "location" && v.startsWith("/") && !v.startsWith("//")) {
			h.append(k, prefix + v.slice(1));
			continue;
		}
		h.append(k, v);
	}
	const noBody = req.method === "HEAD" || nullBodyStatus.has(r.status);
	return new Response(noBody ? null : r.body, { status: r.status, statusText: r.statusText, headers: h });
}
