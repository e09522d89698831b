// Stardust's filesystem shim for Go's js/wasm port, loaded before
// wasm_exec.js (which only installs its ENOSYS stub when globalThis.fs is
// missing). Go's syscall package calls these Node-style functions; they
// serve the read-only root filesystem packed into the bundle with
// `stardust build -target browser -files HOSTDIR[:GUESTDIR]`, and send
// standard output and error to the console.
"use strict";

(() => {
	const err = (code) => { const e = new Error(code); e.code = code; return e; };
	const decoder = new TextDecoder("utf-8");
	// Linux values: Go passes O_* flags through these constants.
	const constants = { O_WRONLY: 1, O_RDWR: 2, O_CREAT: 64, O_EXCL: 128, O_TRUNC: 512, O_APPEND: 1024, O_DIRECTORY: 65536 };
	const writeFlags = constants.O_WRONLY | constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_APPEND;

	// The tree: path -> {dir, mode, size, mtimeMs, off, names}.
	const nodes = new Map([["/", { dir: true, mode: 0o40755, size: 0, mtimeMs: 0, names: [] }]]);
	let blob = new Uint8Array(0);
	const fds = new Map();
	let nextFD = 100;
	const out = { 1: "", 2: "" };

	const clean = (p) => {
		const parts = [];
		for (const seg of String(p).split("/")) {
			if (seg === "" || seg === ".") continue;
			if (seg === "..") parts.pop(); else parts.push(seg);
		}
		return "/" + parts.join("/");
	};
	const stat = (n, ino) => ({
		dev: 1, ino, mode: n.mode, nlink: 1, uid: 0, gid: 0, rdev: 0,
		size: n.size, blksize: 4096, blocks: Math.ceil(n.size / 512),
		atimeMs: n.mtimeMs, mtimeMs: n.mtimeMs, ctimeMs: n.mtimeMs,
		isDirectory() { return n.dir; },
	});
	const lookup = (p) => nodes.get(clean(p));
	const inoOf = (p) => { let h = 7; for (const c of clean(p)) h = (h * 31 + c.charCodeAt(0)) >>> 0; return h; };

	globalThis.stardustFS = {
		// load installs the packed tree: index is [{path, dir, mode, size,
		// mtimeMs, off}], data the concatenated file contents.
		load(index, data) {
			blob = data;
			for (const e of index) {
				const p = clean(e.path);
				nodes.set(p, { dir: e.dir, mode: e.mode, size: e.size, mtimeMs: e.mtimeMs, off: e.off, names: [] });
			}
			for (const p of nodes.keys()) {
				if (p === "/") continue;
				const parent = p.slice(0, p.lastIndexOf("/")) || "/";
				if (!nodes.has(parent)) nodes.set(parent, { dir: true, mode: 0o40755, size: 0, mtimeMs: 0, names: [] });
				nodes.get(parent).names.push(p.slice(p.lastIndexOf("/") + 1));
			}
		},
	};

	globalThis.fs = {
		constants,
		writeSync(fd, buf) {
			if (fd !== 1 && fd !== 2) throw err("EBADF");
			out[fd] += decoder.decode(buf);
			const nl = out[fd].lastIndexOf("\n");
			if (nl !== -1) {
				(fd === 1 ? console.log : console.warn)(out[fd].substring(0, nl));
				out[fd] = out[fd].substring(nl + 1);
			}
			return buf.length;
		},
		write(fd, buf, offset, length, position, cb) {
			if (fd !== 1 && fd !== 2) return cb(fds.has(fd) ? err("EBADF") : err("EBADF"));
			if (offset !== 0 || length !== buf.length || position !== null) return cb(err("EINVAL"));
			cb(null, this.writeSync(fd, buf));
		},
		open(path, flags, mode, cb) {
			if (flags & writeFlags) return cb(err(lookup(path) || flags & constants.O_CREAT ? "EROFS" : "ENOENT"));
			const n = lookup(path);
			if (!n) return cb(err("ENOENT"));
			if ((flags & constants.O_DIRECTORY) && !n.dir) return cb(err("ENOTDIR"));
			const fd = nextFD++;
			fds.set(fd, { path: clean(path), n });
			cb(null, fd);
		},
		close(fd, cb) { fds.delete(fd) ? cb(null) : cb(err("EBADF")); },
		fstat(fd, cb) { const f = fds.get(fd); f ? cb(null, stat(f.n, inoOf(f.path))) : cb(err("EBADF")); },
		stat(path, cb) { const n = lookup(path); n ? cb(null, stat(n, inoOf(path))) : cb(err("ENOENT")); },
		lstat(path, cb) { this.stat(path, cb); },
		read(fd, buffer, offset, length, position, cb) {
			const f = fds.get(fd);
			if (!f) return cb(err("EBADF"));
			if (f.n.dir) return cb(err("EISDIR"));
			const pos = position === null ? (f.pos || 0) : position;
			const n = Math.max(0, Math.min(length, f.n.size - pos));
			buffer.set(blob.subarray(f.n.off + pos, f.n.off + pos + n), offset);
			if (position === null) f.pos = pos + n;
			cb(null, n);
		},
		readdir(path, cb) { const n = lookup(path); n && n.dir ? cb(null, n.names.slice()) : cb(err(n ? "ENOTDIR" : "ENOENT")); },
		fsync(fd, cb) { cb(null); },
		readlink(path, cb) { cb(err(lookup(path) ? "EINVAL" : "ENOENT")); },
	};
	// Everything that would change the tree fails as on a read-only mount.
	for (const name of ["chmod", "chown", "fchmod", "fchown", "ftruncate", "lchown", "link", "mkdir", "rename", "rmdir", "symlink", "truncate", "unlink", "utimes"]) {
		globalThis.fs[name] = (...args) => args[args.length - 1](err("EROFS"));
	}

	// Relative paths resolve against "/" (wasm_exec.js's process stub has no
	// working directory at all).
	const enosys = () => { throw err("ENOSYS"); };
	globalThis.process = {
		getuid() { return 0; }, getgid() { return 0; }, geteuid() { return 0; }, getegid() { return 0; },
		getgroups() { return [0]; }, pid: 1, ppid: 0, umask() { return 0o22; },
		cwd() { return "/"; }, chdir: enosys,
	};
	globalThis.path = { resolve(...segs) { return clean(segs.join("/")); } };
})();
