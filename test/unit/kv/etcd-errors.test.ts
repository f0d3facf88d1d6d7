import { ClientClosedError, EtcdAuthenticationFailedError, EtcdLeaseInvalidError, EtcdPermissionDeniedError, GRPCDeadlineExceededError, GRPCInvalidArgumentError, GRPCOutOfRangeError, GRPCUnavailableError } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../../src/common/errors.js';
import { fromEtcdError } from '../../../src/kv/etcd/etcd-errors.js';

describe('etcd-errors', () => {
  it('etcd-errors - connection problems become a retriable BACKEND_UNAVAILABLE, keeping cause and context', () => {
    const cause = new GRPCUnavailableError('14 UNAVAILABLE: No connection established');
    const mapped = fromEtcdError(cause, 'put key a', { key: 'a' });
    expect(mapped).toBeInstanceOf(TidalError);
    expect(mapped.code).toBe(ErrorCode.BackendUnavailable);
    expect(mapped.retriable).toBe(true);
    expect(mapped.message).toMatch(/^put key a: /);
    expect(mapped.context).toEqual({ key: 'a' });
    expect(mapped.cause).toBe(cause);
    expect(fromEtcdError(new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED'), 'get').code).toBe(ErrorCode.BackendUnavailable);
    expect(fromEtcdError(new Error('socket hang up'), 'get').retriable).toBe(true);
  });

  it('etcd-errors - etcd refusals map to their own codes', () => {
    expect(fromEtcdError(new EtcdLeaseInvalidError('694d77aa9e38260f'), 'put').code).toBe(ErrorCode.LeaseLost);
    expect(fromEtcdError(new GRPCOutOfRangeError('etcdserver: mvcc: required revision has been compacted'), 'range').code).toBe(ErrorCode.Compacted);
    expect(fromEtcdError(new GRPCOutOfRangeError('etcdserver: mvcc: required revision is a future revision'), 'range').code).toBe(ErrorCode.InvalidArgument);
    expect(fromEtcdError(new GRPCInvalidArgumentError('etcdserver: duplicate key given in txn request'), 'txn').code).toBe(ErrorCode.InvalidArgument);
    expect(fromEtcdError(new ClientClosedError('KV'), 'get').code).toBe(ErrorCode.Closed);
    const denied = fromEtcdError(new EtcdPermissionDeniedError('etcdserver: permission denied'), 'put');
    expect(denied.code).toBe(ErrorCode.BackendUnavailable);
    expect(denied.retriable).toBe(false);
    // A wrong etcd.password does not get better by retrying.
    const badPassword = fromEtcdError(new EtcdAuthenticationFailedError('etcdserver: authentication failed, invalid user ID or password'), 'put');
    expect(badPassword.code).toBe(ErrorCode.BackendUnavailable);
    expect(badPassword.retriable).toBe(false);
  });

  it('etcd-errors - a TidalError passes through unchanged', () => {
    const err = new TidalError(ErrorCode.Closed, 'meta kv is closed');
    expect(fromEtcdError(err, 'get')).toBe(err);
  });
});
