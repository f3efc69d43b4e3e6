#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
#
# vm-monitor.py SOCKET COMMAND...: run human-monitor commands on the
# monitor socket scripts/vm.sh gives every test VM's QEMU, and print each
# command with its answer.  Used on a guest that stands still, to see what
# its vCPUs and their local APICs were doing before the VM is stopped.

import re
import socket
import sys
import time

PROMPT = b'(qemu) '


def read_prompt(sock, deadline):
    data = b''
    while not data.endswith(PROMPT):
        sock.settimeout(max(0.1, deadline - time.time()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data[:-len(PROMPT)] if data.endswith(PROMPT) else data


def main():
    if len(sys.argv) < 3:
        print(f'usage: {sys.argv[0]} SOCKET COMMAND...', file=sys.stderr)
        return 2
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.settimeout(10)
        sock.connect(sys.argv[1])
        read_prompt(sock, time.time() + 10)	# the banner
        for cmd in sys.argv[2:]:
            sock.sendall(cmd.encode() + b'\n')
            out = read_prompt(sock, time.time() + 30)
            text = out.decode(errors='replace').replace('\r', '')
            # The monitor echoes the command line first, as a terminal's
            # line editor would redraw it.
            text = re.sub(r'\x1b\[[0-9;]*[A-Za-z]', '', text)
            lines = text.split('\n')
            if lines and lines[0].strip().endswith(cmd):
                lines = lines[1:]
            print(f'(qemu) {cmd}')
            print('\n'.join(lines).rstrip())
    except OSError as e:
        print(f'vm-monitor: {sys.argv[1]}: {e}', file=sys.stderr)
        return 1
    finally:
        sock.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
