// Idle-connection load: open N connections, send one request on each (so the agent has accepted
// and served every one), report, then hold them open without traffic until released or timed out.
import { inBatches, type BenchClient } from '../clients/bench-client.js';
import type { HoldConnectionsJob, HoldResult } from './load-protocol.js';

const MAX_ERROR_SAMPLES = 5;

export async function openAndTouch(client: BenchClient, job: HoldConnectionsJob): Promise<HoldResult> {
  const errorSamples: string[] = [];
  let errors = 0;
  let opened = 0;
  const touch = (i: number): Promise<void> => new Promise((resolve) => {
    const timer = setTimeout(() => {
      errors++;
      resolve();
    }, job.openTimeoutMs);
    client.send(i, (error) => {
      clearTimeout(timer);
      if (error === null) opened++;
      else {
        errors++;
        if (errorSamples.length < MAX_ERROR_SAMPLES) errorSamples.push(error.message);
      }
      resolve();
    });
  });
  await inBatches(client.connections, 50, touch);
  return { opened, errors, errorSamples };
}

/** Resolves on `released` or after `holdTimeoutMs`, whichever is first. */
export async function holdUntil(released: Promise<void>, holdTimeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([released, new Promise<void>((resolve) => {
    timer = setTimeout(resolve, holdTimeoutMs);
  })]);
  clearTimeout(timer);
}
