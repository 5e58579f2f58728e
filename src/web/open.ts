/** Open a URL in the desktop's browser (pbft web --open); a failure is reported, never fatal. */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { PbftError, describeError } from '../errors.js';
import { parseSimTrace, type SimTraceFile } from './model.js';

export function openInBrowser(url: string): Promise<string | null> {
  const [cmd, args] =
    process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]];
  return new Promise((resolve) => {
    try {
      const child = spawn(cmd as string, args as string[], { stdio: 'ignore', detached: true });
      child.once('error', (e) => resolve(`could not open a browser (${cmd}: ${describeError(e)}); open the URL yourself`));
      child.once('spawn', () => {
        child.unref();
        resolve(null);
      });
    } catch (e) {
      resolve(`could not open a browser (${describeError(e)}); open the URL yourself`);
    }
  });
}

/** Read and check a simulator trace file (pbft sim --seed N --trace-file FILE). */
export async function readSimTrace(path: string): Promise<SimTraceFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new PbftError('BAD_ARGUMENT', `cannot read the trace file ${path}: ${describeError(e)}`, {
      hint: 'write one with: pbft sim --seed N --trace-file FILE',
    });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new PbftError('BAD_ARGUMENT', `${path} is not JSON`, { hint: 'write a trace with: pbft sim --seed N --trace-file FILE' });
  }
  try {
    return parseSimTrace(v);
  } catch (e) {
    throw new PbftError('BAD_ARGUMENT', `${path}: ${(e as Error).message}`);
  }
}
