/**
 * The Byzantine-clients adversary: 1-3 clients with their own keys (in the keyring like the
 * honest ones) that send, at times drawn from the seed during the safety phase, bursts of:
 *
 * - `same-timestamp`: different requests with the SAME timestamp, each replica given one of them;
 * - `max-timestamp`: timestamps Number.MAX_SAFE_INTEGER and just below, in mixed orders (the
 *   client's timestamps are then used up: it is the client's last burst);
 * - `readonly-write`: a put or delete flagged read-only, to every replica (sometimes also the
 *   same (client, timestamp, op) without the flag, to the primary);
 * - `replay`: old requests again, honest clients' (captured on the network) or its own;
 * - `flood`: requests from many fresh self-certifying ids (`pk:<hex>`, keyringFor's
 *   openClients), to the primary or to everyone;
 * - `oversized`: an operation one to 64 bytes over maxOpBytes (must be rejected), and one of
 *   exactly maxOpBytes (valid: a huge put);
 * - `malformed`: structurally broken requests (missing or extra fields, negative, fractional or
 *   unsafe timestamps, empty or huge client ids, wrong types, bad or wrong signatures, a request
 *   that claims an honest client's id).
 * - `mac-split` (README, "Authentication"): a request with a BAD signature whose MAC
 *   authenticator is valid for some replicas (the primary most of the time) and invalid for the
 *   others, sent to every replica; later mac-split bursts send an earlier one again with another
 *   split. Its client did send it (its MACs prove that to the replicas they are valid for), so it
 *   may execute; what must not happen is agreement breaking, a replica preparing what it cannot
 *   authenticate without 2f vouchers, or views changing for ever. These bursts are drawn from
 *   their own sub-streams of the seed, so the other bursts of a seed are as before.
 *
 * They write only their own keys z0..z2, so the linearizability check of the honest clients'
 * keys stays meaningful. Every validly signed request they send is registered with the checker
 * (InvariantChecker.onByzantineRequest), so its validity invariant accepts what they signed and
 * flags anything else; agreement, state agreement and checkpoint agreement among correct
 * replicas are checked as always. Everything is bounded by BYZ_CLIENT_LIMITS.
 */
import { encodeKvOp, type KvOp } from '../app/kv.js';
import { canonicalBytes } from '../core/canonical.js';
import { makeRequest, requestMacDigest } from '../core/messages.js';
import type { ClientId, Hex, ReplicaId, SignedRequest } from '../core/types.js';
import { KeyedAuthenticator, selfCertifyingClientId, type Keyring, type SignatureScheme } from '../crypto/index.js';
import { SimClientSessions, type SimMacs } from './sessions.js';
import type { Rng } from './rng.js';
import type { Scenario } from './scenario.js';

export type ByzClientKind = 'same-timestamp' | 'max-timestamp' | 'readonly-write' | 'replay' | 'flood' | 'oversized' | 'malformed' | 'mac-split';

export const BYZ_CLIENT_KINDS: readonly ByzClientKind[] = ['same-timestamp', 'max-timestamp', 'readonly-write', 'replay', 'flood', 'oversized', 'malformed'];

/** Bounds on everything the Byzantine clients do in one run. */
export const BYZ_CLIENT_LIMITS = {
  clients: 3,
  burstsPerClient: 6,
  /** signed requests, all kinds together (malformed ones not counted) */
  signedRequests: 200,
  floodIdsPerBurst: 12,
  floodIdsPerRun: 36,
  replaysPerBurst: 4,
  oversizedPerRun: 2,
  malformedPerBurst: 4,
  /** honest requests remembered for replay */
  captured: 32,
  /** mac-split bursts per client */
  macSplitsPerClient: 4,
} as const;

const MAX_TS = Number.MAX_SAFE_INTEGER;

export interface ByzBurst {
  atMs: number;
  client: number;
  kind: ByzClientKind;
}

export interface ByzClientsPlan {
  clients: ClientId[];
  bursts: ByzBurst[];
}

export function planByzClients(rng: Rng, sc: Scenario, faults: boolean): ByzClientsPlan {
  if (!faults) return { clients: [], bursts: [] };
  const k = rng.int(1, BYZ_CLIENT_LIMITS.clients);
  const clients = [...Array(k).keys()].map((i) => `byz${i}`);
  const bursts: ByzBurst[] = [];
  clients.forEach((_, client) => {
    const kinds = rng.sample(BYZ_CLIENT_KINDS, rng.int(2, 4));
    const m = rng.int(2, BYZ_CLIENT_LIMITS.burstsPerClient);
    const times = Array.from({ length: m }, () => Math.round(rng.range(0, sc.safetyMs * 0.9))).sort((a, b) => a - b);
    const others = kinds.filter((x) => x !== 'max-timestamp');
    times.forEach((atMs, i) => {
      const last = i === m - 1;
      // max-timestamp uses up the client's timestamps: only as its last burst
      let kind: ByzClientKind = last && kinds.includes('max-timestamp') ? 'max-timestamp' : rng.pick(others.length ? others : ['same-timestamp']);
      if (kind === 'max-timestamp' && !last) kind = 'same-timestamp';
      bursts.push({ atMs, client, kind });
    });
  });
  // mac-split bursts: from their own sub-stream (the bursts above are as they were before it)
  const ms = rng.fork('mac-split');
  if (ms.bool(0.6))
    clients.forEach((_, client) => {
      const m = ms.int(1, BYZ_CLIENT_LIMITS.macSplitsPerClient);
      for (let i = 0; i < m; i++) bursts.push({ atMs: Math.round(ms.range(0, sc.safetyMs * 0.9)), client, kind: 'mac-split' });
    });
  bursts.sort((a, b) => a.atMs - b.atMs || a.client - b.client || (a.kind === 'mac-split' ? 1 : 0) - (b.kind === 'mac-split' ? 1 : 0));
  return { clients, bursts };
}

export function describeByzClients(p: ByzClientsPlan): string {
  if (p.clients.length === 0) return 'none';
  return p.clients
    .map(
      (id, c) =>
        `${id}[${p.bursts
          .filter((b) => b.client === c)
          .map((b) => `${b.kind}@${b.atMs}ms`)
          .join(' ')}]`,
    )
    .join(' ');
}

/** A request (or something that is not one) to hand to replicas. */
export interface ByzSend {
  to: ReplicaId[];
  msg: unknown;
  /** the client id it claims, for the trace */
  who: string;
}

export interface ByzClientsOptions {
  n: number;
  scheme: SignatureScheme;
  maxOpBytes: number;
  rng: Rng;
  /** the secret key of a named Byzantine identity, derived from the seed */
  secret(who: string): Hex;
  /** honest client ids (a malformed request may claim one) */
  honest: readonly ClientId[];
  /** the run's session keys and MACs: the named Byzantine clients have sessions */
  macs: SimMacs;
}

export class ByzantineClients {
  readonly ids: readonly ClientId[];
  private readonly idSet: Set<ClientId>;
  readonly publicKeys: Record<ClientId, Hex> = {};
  readonly counters: Record<string, number> = {};
  private readonly secrets: Hex[];
  private auths: KeyedAuthenticator[] = [];
  private keyring: Keyring | null = null;
  private readonly nextTs: number[];
  private readonly captured: SignedRequest[] = [];
  private readonly own: SignedRequest[] = [];
  private readonly splits: SignedRequest[] = [];
  private readonly macRng: Rng;
  private floodIds = 0;
  private oversized = 0;
  private signed = 0;

  constructor(
    readonly plan: ByzClientsPlan,
    private readonly o: ByzClientsOptions,
  ) {
    this.ids = plan.clients;
    this.idSet = new Set(plan.clients);
    this.secrets = plan.clients.map((id) => o.secret(`byzantine-client-${id}`));
    plan.clients.forEach((id, i) => (this.publicKeys[id] = o.scheme.publicKey(this.secrets[i]!)));
    this.nextTs = plan.clients.map(() => 1);
    this.counters['byzantine-clients'] = plan.clients.length;
    this.macRng = o.rng.fork('mac-split');
  }

  /** once the keyring (which holds their keys) exists */
  attach(keyring: Keyring): void {
    this.keyring = keyring;
    this.auths = this.secrets.map((s, i) => new KeyedAuthenticator(this.o.scheme, s, keyring, new SimClientSessions(this.o.macs, this.ids[i]!, this.o.n)));
  }

  /** one of theirs: a named Byzantine client or a self-certifying id (honest clients have neither) */
  isByzantine(id: ClientId): boolean {
    return this.idSet.has(id) || (typeof id === 'string' && id.startsWith('pk:'));
  }

  /** an honest client's request seen on the network (for replays) */
  observe(req: SignedRequest): void {
    if (this.captured.length >= BYZ_CLIENT_LIMITS.captured) this.captured.shift();
    this.captured.push(req);
  }

  private bump(key: string, by = 1): void {
    this.counters[key] = (this.counters[key] ?? 0) + by;
  }

  /**
   * Burst i: the messages to send. `issued(client, timestamp, op, valid)` is told of every
   * request signed by a Byzantine client: valid ones may execute, invalid ones never.
   */
  fire(i: number, primary: ReplicaId, issued: (client: ClientId, timestamp: number, op: string, valid: boolean) => void): ByzSend[] {
    const b = this.plan.bursts[i];
    if (!b || !this.keyring) return [];
    const c = b.client;
    const id = this.ids[c]!;
    const auth = this.auths[c]!;
    if (b.kind === 'mac-split') return this.macSplit(c, primary, issued);
    const rng = this.o.rng;
    const n = this.o.n;
    const all = [...Array(n).keys()];
    const out: ByzSend[] = [];
    const zkey = () => `z${rng.int(0, 2)}`;
    const ts = () => Math.min(MAX_TS, this.nextTs[c]!++);
    const sign = (who: ClientId, a: KeyedAuthenticator, t: number, op: string, readOnly: boolean, valid = true): SignedRequest | null => {
      if (this.signed >= BYZ_CLIENT_LIMITS.signedRequests) return null;
      this.signed++;
      issued(who, t, op, valid);
      const req = makeRequest(a, who, t, op, readOnly);
      if (valid && this.idSet.has(who)) {
        if (this.own.length >= BYZ_CLIENT_LIMITS.captured) this.own.shift();
        this.own.push(req);
      }
      return req;
    };
    const someReplicas = (): ReplicaId[] => (rng.bool(0.5) ? all : [rng.pick(all)]);
    this.bump('bursts');
    switch (b.kind) {
      case 'same-timestamp': {
        const t = ts();
        const m = rng.int(2, Math.min(4, n));
        const reqs: SignedRequest[] = [];
        for (let j = 0; j < m; j++) {
          const r = sign(id, auth, t, encodeKvOp({ op: 'put', key: zkey(), value: `${id}.t${t}.v${j}` }), false);
          if (r) reqs.push(r);
        }
        if (reqs.length === 0) break;
        const assign = all.map(() => rng.int(0, reqs.length - 1));
        if (reqs.length > 1 && new Set(assign).size < 2) assign[0] = (assign[1]! + 1) % reqs.length;
        all.forEach((r) => out.push({ to: [r], msg: reqs[assign[r]!]!, who: id }));
        this.bump('same-timestamp', reqs.length);
        break;
      }
      case 'max-timestamp': {
        const tss = rng.pick([
          [MAX_TS - 1, MAX_TS],
          [MAX_TS, MAX_TS - 1],
          [MAX_TS - 2, MAX_TS, MAX_TS - 1],
        ]);
        this.nextTs[c] = MAX_TS; // used up: anything later from this client is stale
        for (const t of tss) {
          const r = sign(id, auth, t, encodeKvOp({ op: 'put', key: zkey(), value: `${id}.max${MAX_TS - t}` }), false);
          if (!r) break;
          out.push({ to: rng.bool(0.6) ? all : [primary], msg: r, who: id });
          this.bump('max-timestamp');
        }
        break;
      }
      case 'readonly-write': {
        const t = ts();
        const op: KvOp = rng.bool(0.7) ? { op: 'put', key: zkey(), value: `${id}.ro${t}` } : { op: 'del', key: zkey() };
        const enc = encodeKvOp(op);
        const r = sign(id, auth, t, enc, true);
        if (!r) break;
        out.push({ to: all, msg: r, who: id });
        this.bump('readonly-write');
        if (rng.bool(0.4)) {
          const rw = sign(id, auth, t, enc, false);
          if (rw) {
            out.push({ to: [primary], msg: rw, who: id });
            this.bump('readonly-write');
          }
        }
        break;
      }
      case 'replay': {
        const pool = [...this.captured, ...this.own];
        if (pool.length === 0) break;
        const k = rng.int(1, BYZ_CLIENT_LIMITS.replaysPerBurst);
        for (let j = 0; j < k; j++) {
          const req = rng.pick(pool);
          out.push({ to: someReplicas(), msg: req, who: req.body.client });
          this.bump('replay');
        }
        break;
      }
      case 'flood': {
        const m = Math.min(rng.int(4, BYZ_CLIENT_LIMITS.floodIdsPerBurst), BYZ_CLIENT_LIMITS.floodIdsPerRun - this.floodIds);
        for (let j = 0; j < m; j++) {
          const secret = this.o.secret(`byzantine-flood-${this.floodIds++}`);
          const cid = selfCertifyingClientId(this.o.scheme.publicKey(secret));
          const a = new KeyedAuthenticator(this.o.scheme, secret, this.keyring);
          const get = rng.bool(0.3);
          const r = sign(
            cid,
            a,
            rng.int(1, 3),
            encodeKvOp(get ? { op: 'get', key: zkey() } : { op: 'put', key: zkey(), value: `flood${this.floodIds}` }),
            get && rng.bool(0.5),
          );
          if (!r) break;
          out.push({ to: rng.bool(0.5) ? all : [primary], msg: r, who: cid.slice(0, 10) });
          this.bump('flood');
        }
        break;
      }
      case 'oversized': {
        if (this.oversized >= BYZ_CLIENT_LIMITS.oversizedPerRun) break;
        this.oversized++;
        const max = this.o.maxOpBytes;
        // one to 64 bytes over the limit: every replica must reject it
        const over = sign(id, auth, ts(), 'x'.repeat(max + rng.int(1, 64)), false, false);
        if (over) {
          out.push({ to: someReplicas(), msg: over, who: id });
          this.bump('oversized');
        }
        if (rng.bool(0.5)) {
          // exactly at the limit: valid, a huge put
          const key = zkey();
          const base = encodeKvOp({ op: 'put', key, value: '' }).length;
          const exact = sign(id, auth, ts(), encodeKvOp({ op: 'put', key, value: 'v'.repeat(Math.max(0, max - base)) }), false);
          if (exact) {
            out.push({ to: rng.bool(0.5) ? all : [primary], msg: exact, who: id });
            this.bump('oversized');
          }
        }
        break;
      }
      case 'malformed': {
        const k = rng.int(1, BYZ_CLIENT_LIMITS.malformedPerBurst);
        for (let j = 0; j < k; j++) {
          out.push({ to: someReplicas(), msg: this.malformed(id, auth, ts()), who: id });
          this.bump('malformed');
        }
        break;
      }
    }
    return out;
  }

  /**
   * A request with a bad signature and a MAC authenticator valid for a random part of the
   * replicas (the primary in 70% of cases), to every replica; or an earlier one again with
   * another split. `issued` as valid: the client did send it.
   */
  private macSplit(c: number, primary: ReplicaId, issued: (client: ClientId, timestamp: number, op: string, valid: boolean) => void): ByzSend[] {
    const rng = this.macRng;
    const id = this.ids[c]!;
    const auth = this.auths[c]!;
    const n = this.o.n;
    let req: SignedRequest;
    const mine = this.splits.filter((r) => r.body.client === id);
    if (mine.length > 0 && rng.bool(0.4)) {
      req = rng.pick(mine);
      this.bump('mac-split-again');
    } else {
      if (this.signed >= BYZ_CLIENT_LIMITS.signedRequests) return [];
      this.signed++;
      const t = Math.min(MAX_TS, this.nextTs[c]!++);
      const op = encodeKvOp({ op: 'put', key: `z${rng.int(0, 2)}`, value: `${id}.split${t}` });
      issued(id, t, op, true);
      req = makeRequest(auth, id, t, op, false);
      if (this.splits.length >= BYZ_CLIENT_LIMITS.captured) this.splits.shift();
      this.splits.push(req);
      this.bump('mac-split');
    }
    const good = new Set<ReplicaId>();
    if (rng.bool(0.7)) good.add(primary);
    const k = rng.int(0, n - 1);
    for (let j = 0; j < k; j++) good.add(rng.int(0, n - 1));
    if (good.size === n) good.delete(rng.int(0, n - 1));
    // (its MACs cover the bad signature: a Byzantine client MACs whatever it sends)
    const sig = (req.sig[0] === 'f' ? '0' : 'f') + req.sig.slice(1);
    const vec = auth.macs!.requestMacs(requestMacDigest(auth, { body: req.body, sig }));
    const mac = vec.map((m, i) => (good.has(i) ? m : rng.bool(0.5) ? null : 'e'.repeat(32)));
    return [{ to: [...Array(n).keys()], msg: { body: req.body, sig, mac }, who: id }];
  }

  /** something that is not a valid request of this client (never to execute) */
  private malformed(id: ClientId, auth: KeyedAuthenticator, t: number): unknown {
    const rng = this.o.rng;
    const body: Record<string, unknown> = {
      type: 'request',
      client: id,
      timestamp: t,
      op: encodeKvOp({ op: 'put', key: 'z0', value: `${id}.bad${t}` }),
      readOnly: false,
    };
    const signed = (b: unknown) => ({ body: b, sig: auth.sign(canonicalBytes(b)) });
    const variant = rng.int(0, 15);
    switch (variant) {
      case 0: {
        const { readOnly: _r, ...rest } = body;
        return signed(rest);
      }
      case 1:
        return signed({ ...body, extra: 1 });
      case 2:
        return signed({ ...body, timestamp: -1 });
      case 3:
        return signed({ ...body, timestamp: t + 0.5 });
      case 4:
        return signed({ ...body, timestamp: MAX_TS + 1 }); // 2^53: not a safe integer
      case 5:
        return signed({ ...body, client: '' });
      case 6:
        return signed({ ...body, client: id + 'x'.repeat(300) });
      case 7:
        return signed({ ...body, readOnly: 'yes' });
      case 8:
        return signed({ ...body, op: 42 });
      case 9:
        return { body, sig: 'zz' };
      case 10:
        return { body, sig: auth.sign(canonicalBytes({ ...body, op: 'something else' })) };
      case 11:
        // claims an honest client's id, signed with its own key
        return signed({ ...body, client: this.o.honest.length ? rng.pick(this.o.honest) : 'c0' });
      case 12:
        // a self-certifying id whose key it does not hold
        return signed({ ...body, client: `pk:${'ab'.repeat(32)}` });
      case 13:
        return signed({ ...body, type: 'reply' });
      case 14:
        return { sig: auth.sign(canonicalBytes(body)) };
      default:
        return rng.pick<unknown>([null, 42, 'request', [signed(body)], { body: null, sig: '00' }]);
    }
  }
}
