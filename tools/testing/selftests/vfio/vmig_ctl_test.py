#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
#
# vmig-ctl as a script sees it: --help, the exit codes, error messages that
# name the device and the errno, and the --json objects of info, state,
# arcs, save and load, checked against the device and against each other.
# Uses VMIG_MTTY1 and VMIG_MTTY1_B (scripts/vm-devices.sh).  Prints TAP.

import json
import os
import subprocess
import sys
import tempfile

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                   '..', '..'))
CTL = os.path.join(TOP, 'build', 'tools', 'vmig-ctl')
COMMANDS = ('info', 'state', 'set', 'arcs', 'precopy-info', 'precopy',
            'save', 'load', 'reset', 'fail', 'read', 'write')
STATES = ('ERROR', 'STOP', 'RUNNING', 'STOP_COPY', 'RESUMING',
          'RUNNING_P2P', 'PRE_COPY', 'PRE_COPY_P2P')


class Tap:
    def __init__(self, planned):
        self.n = 0
        self.failed = 0
        self.passed = 0
        self.skipped = 0
        print('TAP version 13')
        print(f'1..{planned}')

    def result(self, ok, name, why=''):
        self.n += 1
        if ok:
            self.passed += 1
            print(f'ok {self.n} {name}')
        else:
            self.failed += 1
            print(f'not ok {self.n} {name}' + (f' # {why}' if why else ''))

    def skip(self, name, why):
        self.n += 1
        self.skipped += 1
        print(f'ok {self.n} {name} # SKIP {why}')

    def totals(self):
        print(f'# Totals: pass:{self.passed} fail:{self.failed} xfail:0 '
              f'xpass:0 skip:{self.skipped} error:0')
        return 1 if self.failed else 0


def ctl(*args):
    r = subprocess.run([CTL, *args], capture_output=True, text=True,
                       timeout=120)
    return r.returncode, r.stdout, r.stderr


def ctl_json(*args):
    """Run with --json; the exit code and one parsed object per line."""
    rc, out, err = ctl('--json', *args)
    objs = [json.loads(line) for line in out.splitlines() if line.strip()]
    return rc, objs, err


def test_usage(tap):
    rc, out, _ = ctl('--help')
    missing = [c for c in COMMANDS if f'  {c}' not in out]
    codes = [f'  {n}  ' for n in range(5) if f'  {n}  ' not in out]
    tap.result(rc == 0 and not missing and not codes and '--json' in out,
               '--help exits 0 and lists every command, --json and exit codes 0-4',
               f'rc {rc}, missing {missing + codes}')

    rc, _, err = ctl()
    tap.result(rc == 2 and '--help' in err, 'no arguments: exit 2',
               f'rc {rc}')
    rc, _, err = ctl('--frobnicate', 'x', 'info')
    tap.result(rc == 2 and '--frobnicate' in err, 'unknown option: exit 2',
               f'rc {rc}: {err.strip()}')


def test_open(tap):
    rc, _, err = ctl('0000:7f:1f.7', 'info')
    tap.result(rc == 3 and '0000:7f:1f.7' in err and
               'No such file or directory (ENOENT)' in err,
               'missing device: exit 3, names the device and ENOENT in words',
               f'rc {rc}: {err.strip()}')
    rc, objs, _ = ctl_json('0000:7f:1f.7', 'state')
    e = objs[0].get('error', {}) if len(objs) == 1 else {}
    tap.result(rc == 3 and e.get('name') == 'ENOENT' and e.get('errno') == 2
               and objs[0].get('device') == '0000:7f:1f.7',
               'missing device with --json: an error object on stdout',
               f'rc {rc}, {objs}')


def test_mtty(tap, a, b):
    rc, _, err = ctl(a, 'frobnicate')
    tap.result(rc == 2 and 'frobnicate' in err, 'unknown command: exit 2',
               f'rc {rc}')

    rc, objs, err = ctl_json(a, 'info')
    info = objs[0] if len(objs) == 1 else {}
    arcs = info.get('arcs', [])
    ok = (rc == 0 and info.get('command') == 'info' and
          info.get('state') == 'RUNNING' and
          'STOP_COPY' in info.get('flags', []) and
          info.get('stop_copy_bytes', 0) > 0 and
          isinstance(info.get('reset'), bool) and
          'last_failure' in info and
          all(x['from'] in STATES and x['to'] in STATES for x in arcs))
    tap.result(ok, 'info --json: state, flags, size, reset, arcs, last failure',
               f'rc {rc}, {info}, {err.strip()}')
    starts = {(x['from'], x['to']) for x in arcs if x['data_fd']}
    tap.result(('STOP', 'STOP_COPY') in starts and
               ('STOP', 'RESUMING') in starts and
               ('STOP_COPY', 'STOP') not in starts,
               'info --json: the arcs that start a session have data_fd',
               f'{sorted(starts)}')

    rc, objs, _ = ctl_json(a, 'arcs', 'state')
    ok = (rc == 0 and len(objs) == 2 and objs[0].get('arcs') == arcs and
          objs[1] == {'command': 'state', 'device': a, 'state': 'RUNNING'})
    tap.result(ok, 'arcs and state --json, chained: one object each, arcs as in info',
               f'rc {rc}, {objs}')

    with tempfile.TemporaryDirectory() as tmp:
        stream = os.path.join(tmp, 'stream')
        rc, objs, err = ctl_json(a, 'save', stream, 'state')
        save = objs[0] if objs else {}
        size = os.path.getsize(stream) if os.path.exists(stream) else -1
        tap.result(rc == 0 and len(objs) == 2 and save.get('bytes') == size
                   and size > 0 and save.get('file') == stream and
                   save.get('state') == 'STOP' and
                   objs[1].get('state') == 'STOP',
                   'save --json: bytes equal the file size, the device in STOP',
                   f'rc {rc}, {objs}, size {size}, {err.strip()}')

        rc, objs, err = ctl_json(b, 'load', stream, 'state')
        load = objs[0] if objs else {}
        tap.result(rc == 0 and len(objs) == 2 and load.get('bytes') == size
                   and load.get('state') == 'RUNNING' and
                   objs[1].get('state') == 'RUNNING',
                   'load --json: the whole file written, the device RUNNING',
                   f'rc {rc}, {objs}, {err.strip()}')

        missing = os.path.join(tmp, 'missing')
        rc, _, err = ctl(b, 'load', missing)
        tap.result(rc == 4 and missing in err and 'ENOENT' in err,
                   'load of a missing file: exit 4, names the file',
                   f'rc {rc}: {err.strip()}')
        rc, _, err = ctl(a, 'save', os.path.join(tmp, 'no', 'such', 'dir'))
        tap.result(rc == 4 and 'ENOENT' in err,
                   'save into a missing directory: exit 4',
                   f'rc {rc}: {err.strip()}')

        # A stream that is not one: the device refuses it.
        junk = os.path.join(tmp, 'junk')
        with open(junk, 'wb') as f:
            f.write(b'\xa5' * 4096)
        rc, objs, err = ctl_json(b, 'load', junk)
        e = objs[-1].get('error', {}) if objs else {}
        tap.result(rc == 1 and os.path.basename(b) in err and
                   'Invalid argument (EINVAL)' in err
                   and e.get('name') == 'EINVAL' and
                   objs[-1].get('command') == 'load',
                   'load of a bad stream: exit 1, names the device and EINVAL',
                   f'rc {rc}, {objs}, {err.strip()}')

    rc, objs, _ = ctl_json(b, 'state')
    tap.result(rc == 0 and objs and objs[0].get('state') == 'RUNNING',
               'after the failed load the device is RUNNING again',
               f'rc {rc}, {objs}')


def main():
    tap = Tap(15)
    if not os.access(CTL, os.X_OK):
        for _ in range(15):
            tap.skip('vmig-ctl', f'{CTL} not built')
        return tap.totals()
    test_usage(tap)
    test_open(tap)
    a = os.environ.get('VMIG_MTTY1')
    b = os.environ.get('VMIG_MTTY1_B')
    if not a or not b:
        while tap.n < 15:
            tap.skip('vmig-ctl on a device', 'VMIG_MTTY1 and VMIG_MTTY1_B needed')
        return tap.totals()
    test_mtty(tap, a, b)
    return tap.totals()


if __name__ == '__main__':
    sys.exit(main())
