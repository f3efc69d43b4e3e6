#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
#
# QEMU as the VMM client: live-migrate a running VM that owns a vmig_mtty
# device (VMIG_MTTY1) into a second QEMU that owns another (VMIG_MTTY1_B),
# through QEMU's own VFIO migration code and vfio.ko's standard ioctls.
#
# The source VM's firmware enumerates the device; the test then plays the
# guest through the monitor's port I/O commands: it programs the UART,
# turns on loopback and sends bytes, which wait in the receive FIFO.  After
# the migration the destination VM must hold the same line settings and
# hand back the same bytes, and the core's counters must show the arcs
# QEMU walked on both sides.  Prints TAP.

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

QEMU = 'qemu-system-x86_64'
MSG = b'live!'
DIVISOR = 0x0c
SCRATCH = 0x5a

UART_RBR, UART_IER, UART_FCR, UART_LCR, UART_MCR, UART_LSR, UART_SCR = \
    0, 1, 2, 3, 4, 5, 7
LCR_DLAB, LCR_8N1, MCR_LOOP, LSR_DR = 0x80, 0x03, 0x10, 0x01


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


class Qmp:
    """A QEMU with a QMP socket, driven synchronously."""

    def __init__(self, name, workdir, device, incoming=None):
        self.name = name
        self.sock_path = os.path.join(workdir, f'{name}.qmp')
        self.log_path = os.path.join(workdir, f'{name}.log')
        args = [QEMU, '-machine', 'q35', '-accel', 'tcg', '-m', '64M',
                '-nodefaults', '-no-user-config', '-display', 'none',
                '-serial', 'none', '-monitor', 'none',
                '-qmp', f'unix:{self.sock_path},server=on,wait=off',
                '-device',
                f'vfio-pci,sysfsdev={device},enable-migration=on,id=uart']
        if incoming:
            args += ['-incoming', incoming]
        self.log = open(self.log_path, 'w')
        self.proc = subprocess.Popen(args, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while not os.path.exists(self.sock_path):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f'{name}: QEMU did not start: '
                                   f'{self.tail()}')
            time.sleep(0.2)
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.sock_path)
        self.f = self.sock.makefile('rw')
        json.loads(self.f.readline())
        self.cmd('qmp_capabilities')

    def tail(self):
        self.log.flush()
        with open(self.log_path) as f:
            return ' | '.join(f.read().strip().splitlines()[-5:])

    def cmd(self, command, **args):
        self.f.write(json.dumps({'execute': command, 'arguments': args}) +
                     '\n')
        self.f.flush()
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError(f'{self.name}: QMP closed: {self.tail()}')
            r = json.loads(line)
            if 'error' in r:
                raise RuntimeError(f'{self.name}: {command}: '
                                   f'{r["error"]["desc"]}')
            if 'return' in r:
                return r['return']

    def hmp(self, line):
        return self.cmd('human-monitor-command', **{'command-line': line})

    def outb(self, port, val):
        self.hmp(f'o /b {port:#x} {val:#x}')

    def inb(self, port):
        out = self.hmp(f'i /b {port:#x}')
        m = re.search(r'=\s*(0x[0-9a-f]+)', out)
        if not m:
            raise RuntimeError(f'{self.name}: cannot parse "{out.strip()}"')
        return int(m.group(1), 16)

    def close(self):
        try:
            self.cmd('quit')
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def bar0_port(vm, timeout=120):
    """The I/O address the firmware gave BAR0 of the device 'uart'."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = vm.hmp('info pci')
        for block in info.split('Bus ')[1:]:
            if 'id "uart"' not in block:
                continue
            m = re.search(r'BAR0: I/O at (0x[0-9a-f]+)', block)
            if m and int(m.group(1), 16) not in (0, 0xffff, 0xfffc):
                return int(m.group(1), 16)
        time.sleep(1)
    raise RuntimeError('the firmware did not map BAR0')


def arc_counts(device):
    """The core's per-arc success counts of a device, from debugfs."""
    name = os.path.basename(device.rstrip('/'))
    counts = {}
    with open(f'/sys/kernel/debug/vmig/{name}/status') as f:
        for line in f:
            m = re.match(r'\s+(\w+) -> (\w+): (\d+)/(\d+)', line)
            if m:
                counts[(m.group(1), m.group(2))] = int(m.group(3))
    return counts


def main():
    src_dev = os.environ.get('VMIG_MTTY1')
    dst_dev = os.environ.get('VMIG_MTTY1_B')
    names = ['source_running', 'source_programmed',
             'migration_completed', 'destination_running',
             'line_settings_survive', 'loopback_bytes_survive',
             'source_arcs', 'destination_arcs']
    tap = Tap(len(names))
    if not src_dev or not dst_dev or not shutil.which(QEMU):
        for n in names:
            tap.skip(n, 'no vmig_mtty pair or no QEMU in this run')
        return tap.totals()

    workdir = tempfile.mkdtemp(prefix='vmig-qemu-')
    mig_uri = f'unix:{workdir}/migrate.sock'
    src = dst = None
    results = dict.fromkeys(names)
    before_src = arc_counts(src_dev)
    before_dst = arc_counts(dst_dev)
    try:
        src = Qmp('source', workdir, src_dev)
        state = src.cmd('query-status')['status']
        results[names[0]] = (state == 'running', f'source {state}')

        port = bar0_port(src)
        print(f'# source BAR0 at I/O {port:#x}')
        src.outb(port + UART_LCR, LCR_DLAB)
        src.outb(port + UART_RBR, DIVISOR)
        src.outb(port + UART_IER, 0)
        src.outb(port + UART_LCR, LCR_8N1)
        src.outb(port + UART_FCR, 0x07)
        src.outb(port + UART_MCR, MCR_LOOP)
        src.outb(port + UART_SCR, SCRATCH)
        for b in MSG:
            src.outb(port + UART_RBR, b)
        ok = src.inb(port + UART_SCR) == SCRATCH and \
            src.inb(port + UART_LSR) & LSR_DR
        results[names[1]] = (bool(ok), 'source UART did not take the setup')

        dst = Qmp('destination', workdir, dst_dev, incoming=mig_uri)
        # Pre-copy with the destination's acknowledgement, as QEMU does
        # for devices with PRE_COPY.
        for vm in (src, dst):
            vm.cmd('migrate-set-capabilities', capabilities=[
                {'capability': 'return-path', 'state': True},
                {'capability': 'switchover-ack', 'state': True}])
        src.cmd('migrate', uri=mig_uri)
        deadline = time.time() + 300
        status = None
        while time.time() < deadline:
            status = src.cmd('query-migrate').get('status')
            if status in ('completed', 'failed', 'cancelled'):
                break
            time.sleep(0.5)
        results[names[2]] = (status == 'completed',
                             f'migration {status}: {src.tail()}')

        state = None
        deadline = time.time() + 60
        while time.time() < deadline:
            state = dst.cmd('query-status')['status']
            if state == 'running':
                break
            time.sleep(0.5)
        results[names[3]] = (state == 'running',
                             f'destination {state}: {dst.tail()}')

        dport = bar0_port(dst)
        scr = dst.inb(dport + UART_SCR)
        lcr = dst.inb(dport + UART_LCR)
        dst.outb(dport + UART_LCR, LCR_DLAB | LCR_8N1)
        div = dst.inb(dport + UART_RBR) | dst.inb(dport + UART_IER) << 8
        dst.outb(dport + UART_LCR, LCR_8N1)
        results[names[4]] = (scr == SCRATCH and lcr == LCR_8N1 and
                             div == DIVISOR,
                             f'SCR {scr:#x} LCR {lcr:#x} divisor {div:#x}')

        got = bytearray()
        while len(got) <= len(MSG) and dst.inb(dport + UART_LSR) & LSR_DR:
            got.append(dst.inb(dport + UART_RBR))
        print(f'# sent {MSG!r}, the destination gave back {bytes(got)!r}')
        results[names[5]] = (bytes(got) == MSG, f'got {bytes(got)!r}')
    except (RuntimeError, OSError) as e:
        print(f'# {e}')
    finally:
        for vm in (src, dst):
            if vm:
                vm.close()

    # What QEMU asked of the two devices, from the core's own counters.
    def walked(before, after):
        return {k: after[k] - before.get(k, 0) for k in after
                if after[k] - before.get(k, 0)}
    src_arcs = walked(before_src, arc_counts(src_dev))
    dst_arcs = walked(before_dst, arc_counts(dst_dev))
    print(f'# source arcs: {src_arcs}')
    print(f'# destination arcs: {dst_arcs}')
    want_src = [('RUNNING', 'PRE_COPY'), ('PRE_COPY', 'PRE_COPY_P2P'),
                ('PRE_COPY_P2P', 'STOP_COPY'), ('STOP_COPY', 'STOP')]
    want_dst = [('STOP', 'RESUMING'), ('RESUMING', 'STOP'),
                ('STOP', 'RUNNING_P2P'), ('RUNNING_P2P', 'RUNNING')]
    if results[names[2]] and results[names[2]][0]:
        results[names[6]] = (all(a in src_arcs for a in want_src),
                             f'source walked {src_arcs}')
        results[names[7]] = (all(a in dst_arcs for a in want_dst),
                             f'destination walked {dst_arcs}')

    for n in names:
        r = results[n]
        if r is None:
            tap.result(False, n, 'not reached')
        else:
            tap.result(r[0], n, '' if r[0] else r[1])
    shutil.rmtree(workdir, ignore_errors=True)
    return tap.totals()


if __name__ == '__main__':
    sys.exit(main())
