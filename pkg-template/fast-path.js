// The hot path of getAccessToken() in plain JS. The manager keeps a slot
// `{ token, from, until }` current (see TokenManager.__fastPath in the Rust
// source): while `from <= Date.now() < until` the held token is what the wasm
// would answer, so the answer needs no call into the wasm at all. Outside
// that window, and whenever an operation holds the manager, the call goes to
// the wasm as before.
//
// The slots live in a WeakMap, not on the instance, so the token never shows
// in util.inspect(tm) and goes away with the manager.

export function installFastPath(TokenManager) {
  const slots = new WeakMap();
  const viaWasm = TokenManager.prototype.getAccessToken;
  TokenManager.prototype.getAccessToken = function getAccessToken() {
    let slot = slots.get(this);
    if (slot === undefined) {
      slot = this.__fastPath();
      slots.set(this, slot);
    }
    const now = Date.now();
    if (now >= slot.from && now < slot.until) return Promise.resolve(slot.token);
    return viaWasm.call(this);
  };
}
