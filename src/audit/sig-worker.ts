/**
 * A worker thread of `pbft verify`: it checks replica signatures for the main thread
 * (Verifier.prefetch in verify.ts) with the cluster's signature scheme and replica keys, exactly
 * as the main thread's KeyedAuthenticator would (the cluster's domain before each message).
 * Each message: { scheme, replicas, domain, items: [{ replica, bytes, sig }] }; the answer: a
 * Uint8Array with 1 for each valid signature, 0 for each other.
 */
import { parentPort } from 'node:worker_threads';
import { KeyedAuthenticator, type Keyring, makeScheme, type SchemeName } from '../crypto/index.js';

export interface SigJob {
  scheme: SchemeName;
  replicas: string[];
  domain: Uint8Array;
  items: { replica: number; bytes: Uint8Array; sig: string }[];
}

parentPort?.on('message', (job: SigJob) => {
  const keyring: Keyring = { replicas: job.replicas, clusterId: '', domain: job.domain, clientKey: () => undefined };
  const auth = new KeyedAuthenticator(makeScheme(job.scheme), null, keyring);
  const out = new Uint8Array(job.items.length);
  job.items.forEach((it, i) => {
    try {
      out[i] = auth.verifyReplica(it.replica, it.bytes, it.sig) ? 1 : 0;
    } catch {
      out[i] = 0;
    }
  });
  parentPort!.postMessage(out, [out.buffer]);
});
