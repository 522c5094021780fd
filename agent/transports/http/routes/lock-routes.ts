// Dapr's (alpha) distributed lock API, plus a Hearth-only lease keep-alive.
import type { FastifyInstance } from 'fastify';
import type { UnlockStatus } from '../../../components/lock-store.js';
import type { TransportDeps } from '../../transport-deps.js';
import { callContext, jsonBody } from '../http-context.js';
import { storeParams } from '../http-validation.js';

/** Dapr's numeric UnlockResponse.Status. */
export const UNLOCK_STATUS: Readonly<Record<UnlockStatus, number>> = {
  SUCCESS: 0,
  LOCK_DOES_NOT_EXIST: 1,
  LOCK_BELONGS_TO_OTHERS: 2,
};

const lockFields = {
  resourceId: { type: 'string' },
  lockOwner: { type: 'string' },
  expiryInSeconds: { type: 'integer', minimum: -2147483648, maximum: 2147483647 },
} as const;

const leaseBody = { type: 'object', required: ['resourceId', 'lockOwner', 'expiryInSeconds'], properties: lockFields } as const;
const unlockBody = { type: 'object', required: ['resourceId', 'lockOwner'], properties: lockFields } as const;

interface LeaseBody {
  resourceId: string;
  lockOwner: string;
  expiryInSeconds: number;
}

export function registerLockRoutes(server: FastifyInstance, deps: TransportDeps): void {
  const { api } = deps;
  const preValidation = jsonBody(server);

  server.post<{ Params: { store: string }; Body: LeaseBody }>(
    '/v1.0-alpha1/lock/:store',
    { config: { hearthApi: 'lock.tryLock' }, preValidation, schema: { params: storeParams, body: leaseBody } },
    async (request) => {
      const { resourceId, lockOwner, expiryInSeconds } = request.body;
      const success = await api.lock.tryLock(callContext(deps, request), request.params.store, resourceId, lockOwner, expiryInSeconds);
      return { success };
    },
  );

  server.post<{ Params: { store: string }; Body: Omit<LeaseBody, 'expiryInSeconds'> }>(
    '/v1.0-alpha1/unlock/:store',
    { config: { hearthApi: 'lock.unlock' }, preValidation, schema: { params: storeParams, body: unlockBody } },
    async (request) => {
      const { resourceId, lockOwner } = request.body;
      const status = await api.lock.unlock(callContext(deps, request), request.params.store, resourceId, lockOwner);
      return { status: UNLOCK_STATUS[status] };
    },
  );

  server.post<{ Params: { store: string }; Body: LeaseBody }>(
    '/v1.0-hearth/lock/:store/keepalive',
    { config: { hearthApi: 'lock.keepAlive' }, preValidation, schema: { params: storeParams, body: leaseBody } },
    async (request) => {
      const { resourceId, lockOwner, expiryInSeconds } = request.body;
      const success = await api.lock.keepAlive(callContext(deps, request), request.params.store, resourceId, lockOwner, expiryInSeconds);
      return { success };
    },
  );
}
