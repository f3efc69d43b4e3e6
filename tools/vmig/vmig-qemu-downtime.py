#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
#
# QEMU's own downtime for a VM owning an ivshmem function, with and without
# the device's pre-copy.  Run inside a benchmark VM (scripts/bench-guest.sh)
# with VMIG_IVSHMEM_A and VMIG_IVSHMEM_B bound to vmig-ivshmem-vfio-pci.
#
# usage: vmig-qemu-downtime.py [ROUNDS]
#
# The driver's "precopy" module parameter decides, at bind time, whether a
# device offers VFIO_MIGRATION_PRE_COPY.  For each setting both functions
# are bound again, then ROUNDS (3 by default) live migrations of a running
# VM from A into B go through QEMU (return-path and switchover-ack on, a
# downtime limit high enough for any switchover).  Without the flag QEMU
# moves the whole BAR while the VM is stopped; with it, only what changed
# since the last pre-copy pass.  query-migrate's "downtime" is what QEMU
# measured from stopping the source to the end of the switchover.
#
# Under TCG QEMU has no dirty log for a PCI device's pinned guest RAM and
# resends all of it at every pass: compare the two settings' figures, not
# their absolute values.  Prints one line per migration and a summary:
#   downtime: MIB precopy-ms stopcopy-ms ratio

import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PARAM = '/sys/module/vmig_ivshmem_vfio_pci/parameters/precopy'
CTL = os.path.join(TOP, 'build', 'tools', 'vmig-ctl')


def load_qemu_test():
    """The QMP client and helpers of the QEMU selftest."""
    path = os.path.join(TOP, 'tools', 'testing', 'selftests', 'vfio',
                        'vmig_qemu_test.py')
    spec = importlib.util.spec_from_file_location('vmig_qemu_test', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


DRIVER = 'vmig_ivshmem_vfio_pci'


def rebind(dev):
    """Unbind @dev from its driver, if bound, and probe it again (its
    driver_override names ours): the driver reads its precopy parameter
    at probe time."""
    bdf = os.path.basename(dev.rstrip('/'))
    link = os.path.join(dev, 'driver')
    if os.path.exists(link):
        with open(os.path.join(link, 'unbind'), 'w') as f:
            f.write(bdf)
    with open('/sys/bus/pci/drivers_probe', 'w') as f:
        f.write(bdf)
    bound = os.path.basename(os.path.realpath(link)) \
        if os.path.exists(link) else None
    if bound != DRIVER:
        raise RuntimeError(f'{bdf}: bound to {bound}, not {DRIVER}')


def offers_precopy(dev):
    out = subprocess.run([CTL, dev, 'info'], check=True, text=True,
                         stdout=subprocess.PIPE).stdout
    flags = next((line for line in out.splitlines()
                  if line.startswith('flags:')), '')
    return 'PRE_COPY' in flags.split()


def dump_stuck(devs):
    """What a migration that does not end is waiting for: the kernel
    stack of every QEMU thread and of every task in D state, and the
    core's and the driver's debugfs files of @devs."""
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open(f'/proc/{pid}/comm') as f:
                comm = f.read().strip()
            tids = os.listdir(f'/proc/{pid}/task')
        except OSError:
            continue
        for tid in tids:
            base = f'/proc/{pid}/task/{tid}'
            try:
                with open(f'{base}/stat') as f:
                    state = f.read().rsplit(')', 1)[1].split()[0]
                with open(f'{base}/comm') as f:
                    tcomm = f.read().strip()
                with open(f'{base}/stack') as f:
                    stack = f.read()
            except OSError:
                continue
            if comm.startswith('qemu-system') or state == 'D':
                print(f'# {comm}/{tcomm} ({pid}/{tid}) state {state}:')
                for line in stack.splitlines():
                    print(f'#   {line}')
    for dev in devs:
        d = f'/sys/kernel/debug/vmig/{os.path.basename(dev.rstrip("/"))}'
        for name in ('status', 'ivshmem'):
            try:
                with open(os.path.join(d, name)) as f:
                    print(f'# {d}/{name}:')
                    for line in f:
                        print(f'#   {line.rstrip()}')
            except OSError:
                pass


def migrate_once(q, src_dev, dst_dev, workdir):
    """One live migration from a running VM; query-migrate at the end."""
    src = q.Qmp('source', workdir, f'host={os.path.basename(src_dev)}')
    dst = None
    try:
        # The firmware has mapped the BAR and turned decoding on.
        q.bar(src, 2, '64 bit prefetchable memory')
        print('# source running, BAR2 mapped', flush=True)
        uri = f'unix:{workdir}/dst.sock'
        dst = q.Qmp('destination', workdir,
                    f'host={os.path.basename(dst_dev)}', incoming=uri)
        q.start_migration(src, dst, uri)
        print('# migrating', flush=True)
        # Progress every 10 s, with the driver's counters.
        src.sock.settimeout(120)
        try:
            status = q.wait_migration(src, timeout=240, device=src_dev)
        except RuntimeError:
            dump_stuck((src_dev, dst_dev))
            raise
        if status != 'completed':
            dump_stuck((src_dev, dst_dev))
        info = src.cmd('query-migrate')
        if status != 'completed':
            raise RuntimeError(f'migration {status}: {src.tail()} | '
                               f'destination: {dst.tail()}')
        return info
    finally:
        src.close()
        if dst:
            dst.close()


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    src_dev = os.environ.get('VMIG_IVSHMEM_A')
    dst_dev = os.environ.get('VMIG_IVSHMEM_B')
    if not src_dev or not dst_dev:
        print('downtime: needs VMIG_IVSHMEM_A and VMIG_IVSHMEM_B')
        return 1
    q = load_qemu_test()
    size = os.path.getsize(os.path.join(src_dev, 'resource2'))
    with open(PARAM) as f:
        saved = f.read().strip()
    medians = {}
    try:
        for setting in ('Y', 'N'):
            with open(PARAM, 'w') as f:
                f.write(setting)
            for dev in (src_dev, dst_dev):
                rebind(dev)
                if offers_precopy(dev) != (setting == 'Y'):
                    raise RuntimeError(f'{dev}: PRE_COPY offered '
                                       f'{not setting == "Y"} with '
                                       f'precopy={setting}')
            name = 'precopy' if setting == 'Y' else 'stop-copy only'
            downs = []
            for r in range(rounds):
                workdir = tempfile.mkdtemp(prefix='vmig-downtime-')
                try:
                    info = migrate_once(q, src_dev, dst_dev, workdir)
                finally:
                    subprocess.run(['rm', '-rf', workdir])
                downs.append(info['downtime'])
                ram = info.get('ram', {})
                print(f'# downtime, {name}, round {r + 1}: '
                      f'{info["downtime"]} ms of {info["total-time"]} ms, '
                      f'{ram.get("transferred", 0) >> 20} MiB of RAM '
                      f'sent in {ram.get("dirty-sync-count", "?")} passes',
                      flush=True)
            medians[setting] = statistics.median(downs)
    finally:
        # Both functions as they were, whatever failed above.
        with open(PARAM, 'w') as f:
            f.write(saved)
        for dev in (src_dev, dst_dev):
            try:
                rebind(dev)
            except (OSError, RuntimeError) as e:
                print(f'# downtime: {dev}: {e}', flush=True)
    ratio = medians['Y'] / medians['N'] if medians['N'] else float('nan')
    print(f'# QEMU downtime, median of {rounds}: {medians["Y"]:.0f} ms with '
          f'the device\'s pre-copy, {medians["N"]:.0f} ms without '
          f'({ratio:.2f})')
    print(f'downtime: {size >> 20} {medians["Y"]:.0f} {medians["N"]:.0f} '
          f'{ratio:.2f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
