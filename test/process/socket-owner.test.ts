// Which part of an app's socket owner/group the ops-agent may apply (chown(2) rules): root
// anything; the unprivileged `hearth` user of the systemd unit only a group it belongs to.
import test from 'ava';
import { applicableOwner } from '../../ops-agent/run-dir.js';

const hearth = { uid: 990, gid: 990, groups: [990, 2001] };

test('root applies owner and group as configured', (t) => {
  t.deepEqual(applicableOwner({ uid: 1000, gid: 2002 }, { uid: 0, gid: 0, groups: [0] }), { uid: 1000, gid: 2002 });
});

test('an unprivileged agent applies a group it is a member of (owner unchanged)', (t) => {
  t.deepEqual(applicableOwner({ uid: -1, gid: 2001 }, hearth), { uid: -1, gid: 2001 });
  t.deepEqual(applicableOwner({ uid: -1, gid: 990 }, hearth), { uid: -1, gid: 990 });
  t.deepEqual(applicableOwner({ uid: 990, gid: 2001 }, hearth), { uid: -1, gid: 2001 }, 'its own uid is no change');
});

test('an unprivileged agent cannot give a socket to another user or to a group it is not in', (t) => {
  t.is(applicableOwner({ uid: 1000, gid: -1 }, hearth), undefined);
  t.is(applicableOwner({ uid: -1, gid: 2002 }, hearth), undefined);
  t.is(applicableOwner({ uid: 1000, gid: 2001 }, hearth), undefined);
});
