// JSON-RPC 2.0 over one WebSocket, authenticated with a token or API key, reconnecting with a
// capped exponential backoff. States, reported through onState(state, detail):
//   connecting → authenticating → connected;  disconnected (retrying, detail.retryIn ms);
//   auth_failed (wrong/expired credential: no retry, detail.reason);  closed (logout).

const BACKOFF_INITIAL_MS = 500;
const BACKOFF_MAX_MS = 10000;
const CALL_TIMEOUT_MS = 30000;

export class RpcError extends Error {
  constructor(error) {
    super(error.message || "RPC error");
    this.code = error.code;
    this.data = error.data || {};
    this.reason = this.data.reason || "error";
  }
}

export class RpcConnection {
  constructor(url, credential, { onState, onNotification, onAuthenticated }) {
    this.url = url;
    this.credential = credential;
    this.onState = onState;
    this.onNotification = onNotification;
    this.onAuthenticated = onAuthenticated;
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
      if (err instanceof RpcError && err.code === -32001) {
        this.stopped = true; // a refused credential does not get better by retrying
        ws.close(1000, "authentication failed");
        this.onState("auth_failed", { reason: err.reason, message: err.message });
      } else if (err instanceof RpcError && err.code === -32040) {
        this.onState("auth_failed", { reason: err.reason, message: "too many failed logins; try again shortly" });
        this.stopped = true;
        ws.close(1000, "rate limited");
      }
      return; // a dropped socket is handled by the close listener
    }
    this.attempt = 0;
    this.onState("connected", { role: result.role, user: result.user_id, expiresAt: result.expires_at });
    this.onAuthenticated(result);
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
