#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
#
# QEMU as the VMM client: live-migrate a running VM that owns a vmig device
# into a second QEMU that owns another one, through QEMU's own VFIO
# migration code (pre-copy with switchover-ack) and vfio.ko's standard
# ioctls.  The nested QEMUs run under TCG inside the test VM.
#
# mtty: VMIG_MTTY1 into VMIG_MTTY1_B.  The source VM's firmware enumerates
# the device; the test plays the guest through the monitor's port I/O
# commands: it programs the UART, turns on loopback and sends bytes, which
# wait in the receive FIFO.  The destination VM must hold the same line
# settings and hand back the same bytes.
#
# ivshmem: VMIG_IVSHMEM_A into VMIG_IVSHMEM_B.  Both device memories get a
# signature of their own first (through vmig-ctl, before QEMU owns them);
# the destination VM's view of BAR2 after the migration must equal the
# source VM's before it, byte for byte, and carry the source's signature.
#
# In both, the core's counters must show the arcs QEMU walked on each side.
#
# ivshmem_file: a VM that never ran (started with -S, so no firmware ever
# turned the device's memory decoding on) is saved to a file and restored
# from it into a new QEMU that owns VMIG_IVSHMEM_B.  The driver must read
# the source's memory with decoding forced on, in few access windows, and
# the restored VM, once running, must see the source's memory.
# Arguments name the scenarios to run (mtty, mtty_fault, ivshmem,
# ivshmem_file), all without any; "-T NAME" leaves one out.  Prints TAP.

import json
import mmap
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                   '..', '..'))
CTL = os.path.join(TOP, 'build', 'tools', 'vmig-ctl')

QEMU = 'qemu-system-x86_64'
# A QMP command with no answer after this many seconds fails the scenario
# instead of hanging the test.
QMP_TIMEOUT = 300
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

    def __init__(self, name, workdir, device_opt, incoming=None,
                 paused=False):
        self.name = name
        self.sock_path = os.path.join(workdir, f'{name}.qmp')
        self.log_path = os.path.join(workdir, f'{name}.log')
        # A small translation cache: TCG takes 1 GiB by default, and two
        # QEMUs run at once inside a test VM of a few GiB.
        args = [QEMU, '-machine', 'q35', '-accel', 'tcg,tb-size=32',
                '-m', '64M',
                '-nodefaults', '-no-user-config', '-display', 'none',
                '-serial', 'none', '-monitor', 'none',
                '-qmp', f'unix:{self.sock_path},server=on,wait=off',
                '-device', f'vfio-pci,{device_opt},enable-migration=on,id=dut']
        if incoming:
            args += ['-incoming', incoming]
        if paused:
            args += ['-S']
        self.closed = False
        self.stuck = None
        self.log = open(self.log_path, 'w')
        self.proc = subprocess.Popen(args, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        try:
            self._connect()
        except BaseException:
            # Nobody closes what was never returned: end it here.
            self.closed = True
            self._kill()
            raise

    def _connect(self):
        deadline = time.time() + 60
        while not os.path.exists(self.sock_path):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f'{self.name}: QEMU did not start: '
                                   f'{self.tail()}')
            time.sleep(0.2)
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(QMP_TIMEOUT)
        self.sock.connect(self.sock_path)
        self.f = self.sock.makefile('rw')
        json.loads(self._timed('greeting', self.f.readline))
        self.cmd('qmp_capabilities')

    def tail(self):
        self.log.flush()
        with open(self.log_path) as f:
            return ' | '.join(f.read().strip().splitlines()[-5:])

    def _timed(self, what, fn, *args):
        """fn(*args), a QMP socket timeout made the scenario's error."""
        try:
            return fn(*args)
        except TimeoutError:
            raise RuntimeError(f'{self.name}: {what}: no answer in '
                               f'{self.sock.gettimeout():.0f} s: '
                               f'{self.tail()}') from None

    def cmd(self, command, **args):
        return self._timed(command, self._cmd, command, args)

    def _cmd(self, command, args):
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

    def wait_running(self, timeout=60):
        """Wait for the VM to run; returns the last status seen."""
        deadline = time.time() + timeout
        while True:
            state = self.cmd('query-status')['status']
            if state == 'running' or time.time() > deadline:
                return state
            time.sleep(0.5)

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

    def _kill(self):
        """SIGKILL, and a bounded wait: only a task stuck in the kernel
        outlives it, and then every close() raises."""
        self.proc.kill()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.stuck = f'{self.name}: QEMU outlived SIGKILL: {self.tail()}'
        self.log.close()
        if self.stuck:
            raise RuntimeError(self.stuck)

    def close(self):
        if self.stuck:
            raise RuntimeError(self.stuck)
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.settimeout(10)
            self.cmd('quit')
        except (RuntimeError, OSError, ValueError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._kill()
            return
        self.log.close()

def bar(vm, index, kind, timeout=120):
    """Where the firmware put BAR @index of the device under test."""
    deadline = time.time() + timeout
    pat = re.compile(rf'BAR{index}: {kind} at (0x[0-9a-f]+) \[(0x[0-9a-f]+)\]')
    while time.time() < deadline:
        info = vm.hmp('info pci')
        for block in info.split('Bus ')[1:]:
            if 'id "dut"' not in block:
                continue
            m = pat.search(block)
            if m and int(m.group(1), 16) not in (0, 0xffff, 0xfffc):
                return int(m.group(1), 16), \
                    int(m.group(2), 16) - int(m.group(1), 16) + 1
        time.sleep(1)
    raise RuntimeError(f'the firmware did not map BAR{index}')


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


WANT_SRC = [('RUNNING', 'PRE_COPY'), ('PRE_COPY', 'PRE_COPY_P2P'),
            ('PRE_COPY_P2P', 'STOP_COPY'), ('STOP_COPY', 'STOP')]
WANT_DST = [('STOP', 'RESUMING'), ('RESUMING', 'STOP'),
            ('STOP', 'RUNNING_P2P'), ('RUNNING_P2P', 'RUNNING')]


def start_migration(src, dst, uri):
    """Live-migrate @src into @dst, listening on @uri, as QEMU's VFIO
    migration wants it: return-path and switchover-ack on both sides."""
    for vm in (src, dst):
        vm.cmd('migrate-set-capabilities', capabilities=[
            {'capability': 'return-path', 'state': True},
            {'capability': 'switchover-ack', 'state': True}])
    # Without a DMA dirty log QEMU counts all guest RAM dirty in every
    # round: let the switchover take what it needs.
    src.cmd('migrate-set-parameters', **{'downtime-limit': 60000,
                                          'max-bandwidth': 1 << 34})
    src.cmd('migrate', uri=uri)


class Scenario:
    """One migration from a source QEMU to a destination QEMU."""

    checks = []
    want_src = WANT_SRC
    want_dst = WANT_DST

    def __init__(self, tap, src_dev, dst_dev):
        self.tap = tap
        self.src_dev = src_dev
        self.dst_dev = dst_dev
        self.results = dict.fromkeys(self.checks)

    def set(self, check, ok, why):
        self.results[check] = (bool(ok), why)

    def migrate_phase(self, src, workdir, tag='destination'):
        """Start a destination QEMU and migrate the source into it."""
        mig_uri = f'unix:{workdir}/{tag}.sock'
        dst = Qmp(tag, workdir, self.device_opt(self.dst_dev),
                  incoming=mig_uri)
        # Closed at the end whatever becomes of it, if not before.
        self.vms.append(dst)
        try:
            self.migrate(src, dst, mig_uri)
        except (RuntimeError, OSError):
            dst.close()
            raise
        return dst

    def migrate(self, src, dst, mig_uri):
        start_migration(src, dst, mig_uri)
        deadline = time.time() + 300
        status = None
        while time.time() < deadline:
            status = src.cmd('query-migrate').get('status')
            if status in ('completed', 'failed', 'cancelled'):
                break
            time.sleep(0.5)
        self.set('migration_completed', status == 'completed',
                 f'migration {status}: {src.tail()}')
        if status != 'completed':
            return
        state = dst.wait_running()
        self.set('destination_running', state == 'running',
                 f'destination {state}: {dst.tail()}')

    def run(self):
        """The scenario's steps; every QEMU they started ends; the checks."""
        workdir = tempfile.mkdtemp(prefix='vmig-qemu-')
        before_src = arc_counts(self.src_dev)
        before_dst = arc_counts(self.dst_dev)
        self.vms = []
        try:
            self.prepare(workdir)
            self.steps(workdir)
        except (RuntimeError, OSError, subprocess.SubprocessError,
                KeyError) as e:
            print(f'# {e}')
        finally:
            # Closing a QEMU twice is harmless.
            stuck = []
            for vm in self.vms:
                try:
                    vm.close()
                except RuntimeError as e:
                    stuck.append(str(e))
            shutil.rmtree(workdir, ignore_errors=True)
        self.report(before_src, before_dst)
        # Beyond the plan, and only then: the run must not pass.
        for why in stuck:
            self.tap.result(False, f'{self.name}.qemu_exited', why)

    def steps(self, workdir):
        src = Qmp('source', workdir, self.device_opt(self.src_dev))
        self.vms.append(src)
        state = src.cmd('query-status')['status']
        self.set('source_running', state == 'running', f'source {state}')
        self.before(src)
        dst = self.migrate_phase(src, workdir)
        self.after(src, dst)

    def report(self, before_src, before_dst):
        """The arcs each side walked, and every check as TAP."""
        # What QEMU asked of the two devices, from the core's counters.
        def walked(before, after):
            return {k: after[k] - before.get(k, 0) for k in after
                    if after[k] - before.get(k, 0)}
        src_arcs = walked(before_src, arc_counts(self.src_dev))
        dst_arcs = walked(before_dst, arc_counts(self.dst_dev))
        print(f'# source arcs: {src_arcs}')
        print(f'# destination arcs: {dst_arcs}')
        done = self.results.get('migration_completed',
                                self.results.get('restored'))
        if done and done[0]:
            self.set('source_arcs', all(a in src_arcs for a in self.want_src),
                     f'source walked {src_arcs}')
            self.set('destination_arcs',
                     all(a in dst_arcs for a in self.want_dst),
                     f'destination walked {dst_arcs}')

        for check in self.checks:
            r = self.results[check]
            name = f'{self.name}.{check}'
            if r is None:
                self.tap.result(False, name, 'not reached')
            else:
                self.tap.result(r[0], name, '' if r[0] else r[1])

    def skip(self, why):
        for check in self.checks:
            self.tap.skip(f'{self.name}.{check}', why)

    def prepare(self, workdir):
        pass


class MttyScenario(Scenario):
    name = 'mtty'
    checks = ['source_running', 'source_programmed', 'migration_completed',
              'destination_running', 'line_settings_survive',
              'loopback_bytes_survive', 'source_arcs', 'destination_arcs']

    def device_opt(self, dev):
        return f'sysfsdev={dev}'

    def before(self, src):
        port, _ = bar(src, 0, 'I/O')
        print(f'# mtty: source BAR0 at I/O {port:#x}')
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
        self.set('source_programmed', ok, 'source UART did not take the setup')

    def after(self, src, dst):
        port, _ = bar(dst, 0, 'I/O')
        scr = dst.inb(port + UART_SCR)
        lcr = dst.inb(port + UART_LCR)
        dst.outb(port + UART_LCR, LCR_DLAB | LCR_8N1)
        div = dst.inb(port + UART_RBR) | dst.inb(port + UART_IER) << 8
        dst.outb(port + UART_LCR, LCR_8N1)
        self.set('line_settings_survive',
                 scr == SCRATCH and lcr == LCR_8N1 and div == DIVISOR,
                 f'SCR {scr:#x} LCR {lcr:#x} divisor {div:#x}')
        got = bytearray()
        while len(got) <= len(MSG) and dst.inb(port + UART_LSR) & LSR_DR:
            got.append(dst.inb(port + UART_RBR))
        print(f'# mtty: sent {MSG!r}, the destination gave back {bytes(got)!r}')
        self.set('loopback_bytes_survive', bytes(got) == MSG,
                 f'got {bytes(got)!r}')


class MttyFaultScenario(MttyScenario):
    """
    The switchover arc fails on the source (the core's fault injection
    makes PRE_COPY_P2P -> STOP_COPY fail with EIO, as a driver would that
    leaves its device unchanged).  QEMU must see the migration fail; it
    then resets the device (its recover state for the switchover is ERROR)
    and the source VM goes on running, with the device back in RUNNING.
    The guest programs the UART again, and a second migration succeeds.
    """
    name = 'mtty_fault'
    checks = ['source_running', 'source_programmed', 'migration_fails',
              'source_resumes', 'device_reset_to_running',
              'failure_recorded', 'migration_completed',
              'destination_running', 'line_settings_survive',
              'loopback_bytes_survive', 'source_arcs', 'destination_arcs']

    def debugfs(self, dev, name):
        return os.path.join('/sys/kernel/debug/vmig',
                            os.path.basename(dev.rstrip('/')), name)

    def status(self, dev):
        with open(self.debugfs(dev, 'status')) as f:
            text = f.read()
        m = re.search(r'^resets: (\d+)$', text, re.M)
        return text, int(m.group(1)) if m else -1

    def migrate_phase(self, src, workdir):
        _, resets = self.status(self.src_dev)
        with open(self.debugfs(self.src_dev, 'fail_arc'), 'w') as f:
            f.write('PRE_COPY_P2P STOP_COPY 5')
        try:
            super().migrate_phase(src, workdir, 'doomed').close()
        except (RuntimeError, OSError) as e:
            print(f'# mtty_fault: {e}')
        done = self.results['migration_completed']
        self.set('migration_fails', done and not done[0],
                 f'first migration: {done}')
        self.results['migration_completed'] = None

        state = src.wait_running()
        self.set('source_resumes', state == 'running', f'source {state}')
        text, now = self.status(self.src_dev)
        self.set('device_reset_to_running',
                 'state: RUNNING\n' in text and now > resets,
                 f'{text.splitlines()[0]}, resets {resets} -> {now}')
        last = [ln for ln in text.splitlines() if 'last failure' in ln]
        print(f'# mtty_fault: {last}')
        self.set('failure_recorded',
                 last and 'arc PRE_COPY_P2P -> STOP_COPY, err -5' in last[0]
                 and 'injected' in last[0], f'{last}')

        # The guest finds its UART reset and programs it again.
        self.before(src)
        return super().migrate_phase(src, workdir)


class IvshmemScenario(Scenario):
    name = 'ivshmem'
    checks = ['source_running', 'source_signed', 'migration_completed',
              'destination_running', 'memory_survives', 'source_arcs',
              'destination_arcs']
    # Offsets of the signature, spread over the smallest BAR2 we test.
    offsets = [0, 4096 * 3 + 17, 1 << 20, (7 << 20) + 4095, (16 << 20) - 8]

    def device_opt(self, dev):
        return f'host={os.path.basename(dev.rstrip("/"))}'

    def sign(self, dev, tag):
        """Write a signature of @tag's bytes at each offset of BAR2."""
        args = [CTL, dev]
        for off in self.offsets:
            for i, b in enumerate(tag):
                args += ['write', '2', str(off + i), str(b)]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)

    def prepare(self, workdir):
        self.workdir = workdir
        self.sign(self.src_dev, b'vmig-src')
        self.sign(self.dst_dev, b'vmig-dst')

    def dump(self, vm, path):
        base, size = bar(vm, 2, '64 bit prefetchable memory')
        vm.hmp(f'pmemsave {base:#x} {size:#x} "{path}"')
        with open(path, 'rb') as f:
            return f.read()

    def wait_for(self, vm, want, timeout=120):
        """Wait until the VM sees @want at the start of BAR2: the firmware
        maps the BAR before it turns memory decoding on."""
        base, _ = bar(vm, 2, '64 bit prefetchable memory')
        deadline = time.time() + timeout
        while True:
            out = vm.hmp(f'xp /{len(want)}xb {base:#x}')
            got = bytes(int(x, 16) for x in re.findall(r'0x([0-9a-f]{2})\b',
                                                        out.split(':', 1)[-1]))
            if got == want or time.time() > deadline:
                return got
            time.sleep(1)

    def before(self, src):
        self.wait_for(src, b'vmig-src')
        self.src_mem = self.dump(src, os.path.join(self.workdir, 'src.bin'))
        ok = all(self.src_mem[o:o + 8] == b'vmig-src' for o in self.offsets)
        print(f'# ivshmem: source BAR2 {len(self.src_mem)} bytes')
        self.set('source_signed', ok, 'the source VM does not see the signature')

    def after(self, src, dst):
        mem = self.dump(dst, os.path.join(self.workdir, 'dst.bin'))
        diff = next((i for i in range(min(len(mem), len(self.src_mem)))
                     if mem[i] != self.src_mem[i]), None) \
            if mem != self.src_mem else None
        self.set('memory_survives', mem == self.src_mem,
                 f'{len(mem)} bytes, first difference at {diff}')


def ivsh_stats(device):
    """The ivshmem driver's debugfs counters of a device, by name."""
    name = os.path.basename(device.rstrip('/'))
    stats = {}
    with open(f'/sys/kernel/debug/vmig/{name}/ivshmem') as f:
        for line in f:
            key, _, val = line.partition(':')
            if val.strip().isdigit():
                stats[key] = int(val)
    return stats


class IvshmemFileScenario(IvshmemScenario):
    """
    QEMU saves a VM that never ran to a file, and a new QEMU restores it.
    QEMU's reset at start-up leaves the device's memory decoding off and no
    firmware turns it on, so every read of BAR2 needs an access window that
    forces decoding on: the count of those windows must stay far below one
    per 64 blocks of every pass.
    """
    name = 'ivshmem_file'
    checks = ['source_paused', 'saved', 'decoding_was_off', 'few_windows',
              'restored', 'destination_running', 'memory_survives',
              'source_arcs', 'destination_arcs']

    def image(self, dev):
        """BAR2 of a device no VMM owns, as read through sysfs."""
        path = os.path.join(os.path.realpath(dev), 'resource2')
        with open(path, 'rb') as f:
            size = os.fstat(f.fileno()).st_size
            m = mmap.mmap(f.fileno(), size, mmap.MAP_SHARED, mmap.PROT_READ)
            try:
                return bytes(m)
            finally:
                m.close()

    def steps(self, workdir):
        self.src_mem = self.image(self.src_dev)
        signed = all(self.src_mem[o:o + 8] == b'vmig-src'
                     for o in self.offsets)
        stats0 = ivsh_stats(self.src_dev)
        src = Qmp('source', workdir, self.device_opt(self.src_dev),
                  paused=True)
        self.vms.append(src)
        state = src.cmd('query-status')['status']
        self.set('source_paused', state == 'prelaunch' and signed,
                 f'source {state}, signature read back: {signed}')
        path = os.path.join(workdir, 'vm.state')
        # As live: without a DMA dirty log QEMU resends all RAM in
        # every round.  A file has no return path for switchover-ack.
        src.cmd('migrate-set-parameters', **{'downtime-limit': 60000,
                                              'max-bandwidth': 1 << 34})
        src.cmd('migrate', uri=f'file:{path}')
        status = wait_migration(src, device=self.src_dev)
        self.set('saved', status == 'completed',
                 f'save {status}: {src.tail()}')
        src.close()
        stats = ivsh_stats(self.src_dev)
        forced = stats['decoding forced'] - stats0['decoding forced']
        windows = stats['access windows'] - stats0['access windows']
        scans = stats['scans'] - stats0['scans']
        blocks = len(self.src_mem) // 4096
        print(f'# ivshmem_file: {windows} access windows, {forced} with '
              f'decoding forced on, over {scans} scans of {blocks} '
              f'blocks and the initial and final passes')
        self.set('decoding_was_off', forced > 0,
                 f'{forced} windows forced decoding on')
        # One window per 64 blocks of each pass would be the floor of
        # a window per probe or record; allow a quarter of it.  With one
        # CPU online a window also closes whenever another task waits
        # for it (QEMU's own threads do), so there only the floor holds.
        per_64 = (scans + 2) * blocks // 64
        cpus = len(os.sched_getaffinity(0))
        bound = per_64 // 4 if cpus > 1 else per_64
        self.set('few_windows', forced <= bound,
                 f'{forced} windows forced decoding on, a window per '
                 f'64 blocks of every pass would be {per_64}, '
                 f'{cpus} CPUs online')

        dst = Qmp('restored', workdir, self.device_opt(self.dst_dev),
                  incoming=f'file:{path}')
        self.vms.append(dst)
        status = wait_migration(dst, incoming=True)
        self.set('restored', status == 'completed',
                 f'restore {status}: {dst.tail()}')
        if status == 'completed':
            dst.cmd('cont')
            state = dst.wait_running()
            self.set('destination_running', state == 'running',
                     f'destination {state}: {dst.tail()}')
            self.wait_for(dst, b'vmig-src')
            self.after(None, dst)


def wait_migration(vm, incoming=False, timeout=300, device=None):
    """The final status of a migration (or, on @incoming, of a restore).
    Every 10 s, prints how far it got, and @device's driver counters."""
    start = time.time()
    deadline = start + timeout
    shown = start
    status = None
    while time.time() < deadline:
        info = vm.cmd('query-migrate')
        status = info.get('status')
        if status in ('completed', 'failed', 'cancelled'):
            break
        if time.time() - shown >= 10:
            shown = time.time()
            stats = ivsh_stats(device) if device else {}
            print(f'# {vm.name}: {status} after {shown - start:.0f} s, '
                  f'{info.get("ram", {}).get("transferred")} bytes of RAM, '
                  f'{ {k: stats[k] for k in ("scans", "access windows", "decoding forced") if k in stats} }')
        if incoming and vm.cmd('query-status')['status'] != 'inmigrate':
            # A restored VM that never ran stays paused.
            status = 'completed' if status in (None, 'completed') \
                else status
            break
        time.sleep(0.5)
    return status


def main():
    mtty = (os.environ.get('VMIG_MTTY1'), os.environ.get('VMIG_MTTY1_B'))
    ivshmem = (os.environ.get('VMIG_IVSHMEM_A'),
               os.environ.get('VMIG_IVSHMEM_B'))
    scenarios = ((MttyScenario, mtty), (MttyFaultScenario, mtty),
                 (IvshmemScenario, ivshmem), (IvshmemFileScenario, ivshmem))
    # Scenarios named on the command line, or all; "-T NAME" leaves one
    # out, as for the kselftest harness.
    args = sys.argv[1:]
    left_out = [args[i + 1] for i, a in enumerate(args[:-1]) if a == '-T']
    named = [a for i, a in enumerate(args)
             if a != '-T' and (i == 0 or args[i - 1] != '-T')]
    scenarios = [(cls, devs) for cls, devs in scenarios
                 if (not named or cls.name in named) and
                 cls.name not in left_out]
    tap = Tap(sum(len(cls.checks) for cls, _ in scenarios))
    for cls, devs in scenarios:
        sc = cls(tap, *devs)
        if not all(devs):
            sc.skip('the devices are not in this run')
        elif not shutil.which(QEMU):
            sc.skip(f'no {QEMU}')
        else:
            sc.run()
    return tap.totals()


if __name__ == '__main__':
    sys.exit(main())
