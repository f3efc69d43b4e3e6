# SPDX-License-Identifier: GPL-2.0-only
#
# Thin wrapper around kbuild and the test scripts.  The kernel to build
# against is the distro's 6.12, chosen explicitly: the running kernel may be
# another one.
#
#   make [modules] [W=1 C=2]   build every module out of tree
#   make checkpatch            checkpatch.pl --strict over our sources
#   make kunit                 KUnit on UML, with KASAN, UBSAN and lockdep
#   make docs                  regenerate the FSM diagram from the table
#   make demo                  set up, build, boot a VM, run the demo
#   make bench                 the benchmarks, in a VM, with one table of
#                              ratios at the end (BENCH_SIZES="16M 256M 1G"
#                              for one run per ivshmem size)
#   make debug-kernel          the debug guest kernel (KASAN, lockdep, ...)
#   make install               install what make built into
#                              /lib/modules/<kver>/updates (INSTALL_MOD_PATH
#                              honoured), then depmod
#   make uninstall             remove what install put there, then depmod
#   make check                 set up and run the whole test suite
#   make check-fresh           both README commands in a fresh Debian 12 chroot

# KDIR is looked up when a recipe needs it, never when make starts: `make
# check` and `make demo` install the headers first, and a value computed
# before that (empty on a fresh machine) must not reach their sub-makes.  A
# KDIR given on the command line or in the environment is passed on as is.
KDIR ?= $(lastword $(sort $(wildcard /usr/src/linux-headers-6.12*-amd64)))
VMIG_CACHE ?= $(HOME)/.cache/vmig
export VMIG_CACHE

# Out of tree there is no .config for our options: enable them here.
VMIG_KCONFIG := CONFIG_VFIO_VMIG=m CONFIG_VMIG_IVSHMEM_VFIO_PCI=m \
		CONFIG_SAMPLE_VMIG_MTTY=m

.PHONY: all modules install uninstall clean checkpatch kunit docs demo check \
	check-fresh setup selftests bench debug-kernel

all: modules

modules:
	@test -n "$(KDIR)" || { echo "no 6.12 kernel headers: run scripts/setup.sh"; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(VMIG_KCONFIG) modules

# Installed like any external module, into updates/ where it takes
# precedence over a module of the same name in kernel/.  The modules are
# not signed: there is no key for them, and the kernel's build tree would
# only complain about the missing one.
KBUILD_INSTALL = -C $(KDIR) M=$(CURDIR) $(VMIG_KCONFIG) INSTALL_MOD_DIR=updates \
	CONFIG_MODULE_SIG_ALL=

# The headers package has no System.map, so kbuild skips depmod ("missing
# System.map"): run it here.
DEPMOD = krel=$$(cat $(KDIR)/include/config/kernel.release) && \
	echo "  DEPMOD  $$krel" && \
	depmod $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH)) $$krel

# Like modules_install, it installs what `make` built and builds nothing:
# `sudo make install` must not rebuild as root, or with other flags.
install:
	@test -n "$(KDIR)" || { echo "no 6.12 kernel headers: run scripts/setup.sh"; exit 1; }
	@test -f modules.order || { echo "nothing built: run make first"; exit 1; }
	$(MAKE) $(KBUILD_INSTALL) modules_install
	@$(DEPMOD)

# The installed files, under updates/ with whatever suffix the kernel's
# module compression gave them.
VMIG_MODULES := drivers/vfio/vmig/vmig \
	drivers/vfio/pci/vmig-ivshmem/vmig-ivshmem-vfio-pci \
	samples/vfio-vmig/vmig-mtty

uninstall:
	@test -n "$(KDIR)" || { echo "no 6.12 kernel headers: run scripts/setup.sh"; exit 1; }
	@krel=$$(cat $(KDIR)/include/config/kernel.release) && \
	dir=$(INSTALL_MOD_PATH)/lib/modules/$$krel/updates && \
	for m in $(VMIG_MODULES); do \
		echo "  RM      $$dir/$$m.ko*"; rm -f $$dir/$$m.ko $$dir/$$m.ko.*; \
	done; \
	find $$dir -depth -type d -empty -delete 2>/dev/null; \
	$(DEPMOD)

clean:
	@test -z "$(KDIR)" || $(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf build

setup:
	scripts/setup.sh

checkpatch:
	scripts/checkpatch.sh

kunit:
	scripts/kunit.sh

docs:
	scripts/docs.sh

selftests:
	scripts/selftests-build.sh

demo:
	scripts/demo.sh

bench:
	scripts/bench.sh $(BENCH_SIZES)

debug-kernel:
	scripts/setup.sh
	scripts/debug-kernel.sh

check:
	scripts/check.sh

check-fresh:
	scripts/check-fresh.sh
