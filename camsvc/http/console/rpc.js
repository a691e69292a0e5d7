// JSON-RPC 2.0 over one WebSocket, authenticated with a token or API key, reconnecting with a
// capped exponential backoff. States, reported through onState(state, detail):
//   connecting → authenticating → connected;  disconnected (retrying, detail.retryIn ms);
//   auth_failed (wrong/expired credential: no retry, detail.reason);  closed (logout).

const BACKOFF_INITIAL_MS = 500;
const BACKOFF_MAX_MS = 10000;
const CALL_TIMEOUT_MS = 30000;
// a JWT session is renewed (refresh_token) at half its remaining life: early enough to retry
const REFRESH_AT = 0.5;

export class RpcError extends Error {
  constructor(error) {
    super(error.message || "RPC error");
    this.code = error.code;
    this.data = error.data || {};
    this.reason = this.data.reason || "error";
  }
}

export class RpcConnection {
  constructor(url, credential, { onState, onNotification, onAuthenticated, onCredential }) {
    this.url = url;
    this.credential = credential;
    this.onState = onState;
    this.onNotification = onNotification;
    this.onAuthenticated = onAuthenticated;
    this.onCredential = onCredential;
    this.refreshTimer = null;
    this.nextId = 1;
    this.pending = new Map();
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.refreshTimer);
    if (this.ws) this.ws.close(1000, "logout");
    this.onState("closed", {});
  }

  open() {
    this.onState("connecting", { attempt: this.attempt });
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("open", () => this.authenticate(ws));
    ws.addEventListener("message", (event) => this.receive(event.data));
    ws.addEventListener("close", (event) => this.closed(ws, event));
  }

  async authenticate(ws) {
    this.onState("authenticating", {});
    let result;
    try {
      result = await this.call("authenticate", { auth_token: this.credential });
    } catch (err) {
      if (err.code === -32001 || err.code === -32040) {
        // a refused (or throttled) credential does not get better by retrying: back to the login form
        this.stopped = true;
        ws.close(1000, "authentication failed");
        const message = err.code === -32040 ? "too many failed logins; try again shortly" : err.message;
        this.onState("auth_failed", { reason: err.reason, message });
      } else if (ws.readyState === WebSocket.OPEN) {
        ws.close(4000, "authenticate did not answer"); // the close listener retries with backoff
      }
      return;
    }
    this.attempt = 0;
    this.onState("connected", { role: result.role, user: result.user_id, expiresAt: result.expires_at });
    this.scheduleRefresh(result.expires_at);
    this.onAuthenticated(result);
  }

  // A JWT is swapped for a fresh one before it expires, so a console left open stays logged in.
  // API keys (csk_…) are not JWTs; theirs is a fixed expiry set by an admin.
  scheduleRefresh(expiresAt) {
    clearTimeout(this.refreshTimer);
    if (!expiresAt || this.credential.startsWith("csk_")) return;
    const left = Date.parse(expiresAt) - Date.now();
    if (!(left > 1000)) return;
    this.refreshTimer = setTimeout(async () => {
      try {
        const fresh = await this.call("refresh_token", {});
        this.credential = fresh.auth_token;
        this.onCredential(fresh.auth_token);
        this.scheduleRefresh(fresh.expires_at);
      } catch (err) {
        console.warn("token refresh failed; retrying", err);
        if (this.ws) this.scheduleRefresh(expiresAt); // half the (now shorter) remaining life
      }
    }, Math.min(left * REFRESH_AT, 2 ** 31 - 1));
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message && message.method && message.id === undefined) {
      this.onNotification(message.method, message.params || {});
      return;
    }
    const waiter = this.pending.get(message.id);
    if (!waiter) return;
    this.pending.delete(message.id);
    clearTimeout(waiter.timer);
    if (message.error) waiter.reject(new RpcError(message.error));
    else waiter.resolve(message.result);
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    clearTimeout(this.refreshTimer);
    for (const waiter of this.pending.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new RpcError({ message: "connection lost", data: { reason: "disconnected" } }));
    }
    this.pending.clear();
    if (this.stopped) return;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** this.attempt);
    const retryIn = Math.round(delay * (0.8 + Math.random() * 0.4)); // jitter: clients do not reconnect in step
    this.attempt += 1;
    this.onState("disconnected", { retryIn, code: event.code });
    this.timer = setTimeout(() => this.open(), retryIn);
  }

  call(method, params = {}) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new RpcError({ message: "not connected", data: { reason: "disconnected" } }));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RpcError({ message: `${method} timed out`, data: { reason: "timeout" } }));
      }, CALL_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }
}
