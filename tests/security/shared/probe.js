// Shared probe code for the escape fixtures (copied beside each fixture that imports it at test time, see
// fixtures-dir.ts: plugins cannot import outside their folder).
const LEAKS = ["process", "require", "Buffer", "parentPort", "workerData", "postMessage", "fetch", "module"];

/** A description of the host authority `v` reveals, or undefined. */
export function reveals(v) {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" && typeof v !== "function") return undefined;
  for (const k of LEAKS) {
    try {
      if (v[k] !== undefined && v[k] !== null) return `reached ${k}`;
    } catch {}
  }
  try {
    if (typeof v.pid === "number" || typeof v.binding === "function" || typeof v.dlopen === "function")
      return "reached process";
  } catch {}
  return undefined;
}

/** For what must not exist at all: "blocked" when `fn` throws or finds nothing; any value is an escape. */
export function present(fn) {
  try {
    const v = fn();
    return v === undefined || v === null ? "blocked" : `ESCAPED: ${typeof v}`;
  } catch {
    return "blocked";
  }
}

export function attempt(fn) {
  try {
    const found = reveals(fn());
    return found ? `ESCAPED: ${found}` : "blocked";
  } catch {
    return "blocked";
  }
}

const SOURCES = [
  "return process",
  "return globalThis.process",
  "return this",
  "return typeof require === 'undefined' ? undefined : require",
];

/** Tries every constructor and prototype reachable from `value` as a code evaluator, and mutation. */
export function chainProbes(label, value) {
  const out = {};
  out[`${label}:itself`] = attempt(() => value);
  const ctors = [];
  const add = (path, get) => {
    try {
      const c = get();
      if (typeof c === "function") ctors.push([path, c]);
    } catch {}
  };
  add("constructor", () => value.constructor);
  add("constructor.constructor", () => value.constructor.constructor);
  add("proto.constructor", () => Object.getPrototypeOf(value).constructor);
  add(
    "proto.proto.constructor.constructor",
    () => Object.getPrototypeOf(Object.getPrototypeOf(value)).constructor.constructor,
  );
  // biome-ignore lint/suspicious/noProto: the legacy accessor is one of the paths an attacker tries
  add("__proto__.constructor", () => value.__proto__.constructor);
  for (const [path, C] of ctors) {
    for (const [i, src] of SOURCES.entries()) {
      out[`${label}:${path}(${i})`] = attempt(() => C(src)());
      out[`${label}:new ${path}(${i})`] = attempt(() => new C(src)());
    }
  }
  // Walk the prototype chain and every own property for anything host-like.
  let proto = value;
  for (let depth = 0; depth < 8 && proto; depth++) {
    out[`${label}:proto[${depth}]`] = attempt(() => proto);
    for (const key of Reflect.ownKeys(proto)) {
      out[`${label}:proto[${depth}].${String(key)}`] = attempt(() => {
        const d = Object.getOwnPropertyDescriptor(proto, key);
        return d && "value" in d ? d.value : undefined;
      });
    }
    try {
      proto = Object.getPrototypeOf(proto);
    } catch {
      break;
    }
  }
  if (typeof value === "function") {
    out[`${label}:caller`] = attempt(() => value.caller);
    out[`${label}:arguments`] = attempt(() => value.arguments);
  }
  // Mutating what ctx handed over must not work (hardened) nor reach shared prototypes.
  out[`${label}:mutate`] = (() => {
    try {
      value.hacked = 1;
    } catch {}
    try {
      Object.getPrototypeOf(value).polluted = 1;
    } catch {}
    try {
      Object.prototype.polluted = 1;
    } catch {}
    return value.hacked === undefined && {}.polluted === undefined ? "blocked" : "ESCAPED: mutated";
  })();
  return out;
}

/** A compact report (command replies are capped at 10,000 characters): how many probes ran, which escaped. */
export function summarize(results) {
  const escaped = {};
  for (const [k, v] of Object.entries(results)) if (v !== "blocked") escaped[k] = v;
  return JSON.stringify({ probes: Object.keys(results).length, escaped });
}
