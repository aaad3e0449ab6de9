# microvm — one non-recursive Makefile.
#   make            build/microvm
#   make deps       install the Debian packages everything needs
#   make guest      the test guest (kernel, initrd, rootfs) in build/guest
#   make demo       deps + build + guest, then boot it and show the boot time
#   make test       deps + guest + unit tests + integration tests
#   make check      the layering check (scripts/check-layers.sh), then the
#                   unit tests (cmocka);  make SAN=1 check: under
#                   ASan+UBSan;  make CLANG=1 check: built with clang;
#                   make ARCH=arm64 check: the arm64 ones cross-built, under
#                   qemu-aarch64-static (see the arm64 block below)
#   make integration  boots real guests on this machine's /dev/kvm
#                   (INTEGRATION_TESTS=test_boot.py: one file)
#   make integration-l1  the same tests inside L1, a Linux under QEMU TCG
#                   whose kvm_amd behaves like KVM on real hardware
#                   (L1_TESTS=test_boot.py: one file)
#   make test-arm64  the arm64 integration test in the arm64 KVM machine
#                   (L1_GIC=2: with a GICv2 rather than a GICv3)
#                   (tests/l1-arm64; .ci/run runs it after make test)
#   make fuzz       libFuzzer targets, FUZZ_RUNS executions each
#                   (FUZZ_TARGETS="dev_block mmds": only those)
#   make bench      benchmarks side by side with QEMU -M microvm
#   make format / format-check (format-check also checks the includes' layers)
CC ?= gcc
SAN ?= 0
BUILD := build
# CLANG=1: the same build with clang, in build/clang.
ifeq ($(CLANG),1)
CC := clang
BUILD := build/clang
endif
ifeq ($(SAN),1)
BUILD := build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
# TEST_HOOKS=1: a test-only binary (build/hooks/microvm) that can make a
# forbidden system call on demand (seccomp tests); never shipped.
ifeq ($(TEST_HOOKS),1)
BUILD := build/hooks
EXTRA_CFLAGS += -DMICROVM_TEST_HOOKS
endif

CFLAGS := -std=gnu11 -O2 -g -I. -D_GNU_SOURCE -fstack-protector-strong \
	-Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wvla -Wundef \
	-Wno-unused-parameter $(SANFLAGS) $(EXTRA_CFLAGS)
# The KVM ioctl structs (kvm_msrs, kvm_cpuid2, ...) end in a flexible array
# that the caller follows with its entries, as the kernel's documentation
# and every VMM do; clang calls that a GNU extension (QEMU turns the
# warning off too).
ifneq ($(findstring clang,$(shell $(CC) --version 2>/dev/null | head -1)),)
CFLAGS += -Wno-gnu-variable-sized-type-not-at-end
endif
LDFLAGS := $(SANFLAGS)
LDLIBS := -lcjson -luring -lseccomp -lpthread -lm
# STATIC=1 (make static): statically linked binaries in build/static, for
# jails that hold only the exec file (Firecracker's jailer copies nothing
# else). Debian ships no libcjson.a: cJSON.c from Debian's source package
# is compiled in (scripts/cjson-source.sh says why and how).
ifeq ($(STATIC),1)
BUILD := build/static
LDFLAGS += -static
LDLIBS := $(filter-out -lcjson,$(LDLIBS))
$(BUILD)/microvm: $(BUILD)/obj/cjson/cJSON.o
endif

# The layers, bottom up (README "Layout"); microvm/main.c is the program.
LIB_SRCS := $(wildcard base/*.c) $(wildcard config/*.c) $(wildcard mmds/*.c) \
	$(wildcard vmm/*.c) \
	$(wildcard virtio/*.c) $(wildcard snapshot/*.c) $(wildcard api/*.c) \
	$(filter-out microvm/main.c,$(wildcard microvm/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
PROGRAMS := $(BUILD)/microvm $(BUILD)/microvm-jailer $(BUILD)/microvm-uffd

# The test guest's programs (tests/guest/build-rootfs.sh), both architectures.
GUEST_USERLAND_SRCS := tests/guest/init.c tests/guest/blkbench.c \
	tests/guest/vsock-echo.c tests/guest/vsock-cat.c tests/guest/http-time.c \
	tests/guest/microvm-agent.c
# ---- arm64 (issue 18) ------------------------------------------------------
# vmm/arch.h splits the machine by architecture. ARCH_X86_SRCS build only
# for x86_64, ARCH_ARM64_SRCS only for aarch64; the plain-data part of
# vmm/arm64 (Image loader, device tree) builds everywhere, and natively its
# tests are part of `make check`. `make ARCH=arm64` cross-builds microvm
# and the arm64 unit tests into build/arm64 with Debian's
# aarch64-linux-gnu-gcc, the arm64 -dev packages (multiarch) and libfdt
# from a private sysroot (scripts/deps-arm64.sh installs all three);
# linked against the host's multiarch arm64 libraries, which the arm64
# machine (tests/l1-arm64) shares. `make ARCH=arm64 check` runs the tests under
# qemu-aarch64-static. Snapshots: snapshot/'s format, memory and uffd code
# and microvm/persist.c serve both; the KVM state is kvm_state.c's (x86)
# or kvm_state_arm64.c's, with format_arm64.c checking arm64's sections.
# microvm-uffd and microvm-jailer build for both as they are.
# (This block's rules come before `all`, hence .DEFAULT_GOAL.)
.DEFAULT_GOAL := all
ARCH_X86_SRCS := vmm/x86.c vmm/cpuid.c vmm/cpu_template.c vmm/loader.c \
	vmm/bootparams.c vmm/mptable.c vmm/i8042.c vmm/cmos.c \
	microvm/boot_x86.c snapshot/kvm_state.c
ARCH_ARM64_SRCS := vmm/arm64/machine.c microvm/boot_arm64.c \
	snapshot/kvm_state_arm64.c snapshot/format_arm64.c
ARM64_SRCS := $(filter-out $(ARCH_ARM64_SRCS),$(wildcard vmm/arm64/*.c))
ARM64_SYSROOT := build/arm64-sysroot
ARM64_LIBFDT := $(ARM64_SYSROOT)/usr/lib/aarch64-linux-gnu/libfdt.a
ifeq ($(ARCH),arm64)
CC := aarch64-linux-gnu-gcc
AR := aarch64-linux-gnu-ar
BUILD := build/arm64
CFLAGS += -isystem $(ARM64_SYSROOT)/usr/include
LDLIBS := $(ARM64_LIBFDT) $(LDLIBS)
LIB_SRCS := $(filter-out $(ARCH_X86_SRCS),$(LIB_SRCS)) $(ARM64_SRCS) \
	$(ARCH_ARM64_SRCS)
UNIT_SRCS := $(wildcard tests/unit/test_arm64_*.c)
TEST_RUNNER := qemu-aarch64-static
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
PROGRAMS := $(BUILD)/microvm $(BUILD)/microvm-uffd $(BUILD)/microvm-jailer \
	$(BUILD)/libmicrovm.a $(UNIT_BINS)
$(LIB_OBJS) $(UNIT_BINS): | $(ARM64_LIBFDT)
$(ARM64_LIBFDT):
	scripts/deps-arm64.sh $(ARM64_SYSROOT)
deps: deps-arm64
# /dev/kvm in the arm64 machine runs a guest, and the arm64 guest kernel
# boots with vmm/arm64's device tree (tests/l1-arm64/kvm-smoke.c).
ARM64_GUEST := build/guest-arm64
.PHONY: kvm-smoke
kvm-smoke: $(BUILD)/kvm-smoke $(ARM64_GUEST)/Image $(BUILD)/smoke-initrd.cpio
	tests/l1-arm64/run.sh sh -c '$(BUILD)/kvm-smoke && \
		$(BUILD)/kvm-smoke $(ARM64_GUEST)/Image $(BUILD)/smoke-initrd.cpio'
$(BUILD)/kvm-smoke: tests/l1-arm64/kvm-smoke.c $(BUILD)/libmicrovm.a
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -static -o $@ $^ $(ARM64_LIBFDT)
$(BUILD)/snap-edit: tests/l1-arm64/snap-edit.c $(BUILD)/libmicrovm.a
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/api-client: tests/l1-arm64/api.c
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $<
$(BUILD)/smoke-init: tests/l1-arm64/guest-init.c
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -static -o $@ $<
$(BUILD)/smoke-initrd.cpio: $(BUILD)/smoke-init
	rm -rf $@.root && mkdir -p $@.root/dev && cp $< $@.root/init
	(cd $@.root && find . | cpio -o -H newc --quiet) > $@ && rm -rf $@.root
$(ARM64_GUEST)/Image: tests/guest/build-kernel.sh tests/guest/kernel-arm64.fragment
	KERNEL_ARCH=arm64 tests/guest/build-kernel.sh $(ARM64_GUEST)
	@touch $@
# The device and snapshot tests' guest (tests/l1-arm64/test-boot.sh): the
# test guest's userland built for arm64, with tests/l1-arm64/guest-*.sh as
# a second cpio archive after it (the kernel unpacks them one after the
# other).
$(ARM64_GUEST)/initrd.cpio: tests/guest/build-rootfs.sh $(GUEST_USERLAND_SRCS)
	ROOTFS_ARCH=arm64 tests/guest/build-rootfs.sh $(ARM64_GUEST)
ARM64_GUEST_SCRIPTS := tests/l1-arm64/guest-devices.sh \
	tests/l1-arm64/guest-snapshot.sh
$(BUILD)/devices-initrd.cpio: $(ARM64_GUEST)/initrd.cpio $(ARM64_GUEST_SCRIPTS)
	rm -rf $@.root && mkdir -p $@.root
	cp $(ARM64_GUEST_SCRIPTS) $@.root/
	(cd $@.root && ls | \
		cpio -o -H newc --owner=0:0 --quiet) > $@.tail
	cat $< $@.tail > $@ && rm -rf $@.root $@.tail
$(BUILD)/vsock-host: tests/l1-arm64/vsock-host.c
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $<
$(BUILD)/boot_arm64_timer: bench/boot_arm64_timer.c
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -static -o $@ $<
else
LIB_SRCS := $(filter-out $(ARCH_ARM64_SRCS),$(LIB_SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(ARM64_SRCS:%.c=$(BUILD)/obj/%.o)
# arm64's state file sections exist only in an aarch64 build
UNIT_SRCS := $(filter-out tests/unit/test_arm64_snapshot.c,$(UNIT_SRCS))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
$(BUILD)/tests/test_arm64_%: LDLIBS += -lfdt
endif
# The arm64 integration test (tests/l1-arm64/test-boot.sh) in one boot of
# the arm64 machine; .ci/run runs it after `make test`. (The x86 kernel is the
# one the test expects to be refused.) L1_GIC=2 makes that machine with a
# GICv2, so its KVM gives VMs a GICv2 (by hand: docs/kvm-here.md says why
# .ci/run does not).
L1_GIC ?= 3
.PHONY: deps-arm64 clean-arm64 test-arm64
test-arm64: build/guest/vmlinux
	$(MAKE) ARCH=arm64 build/arm64/microvm build/arm64/microvm-uffd \
		build/arm64/microvm-jailer build/arm64/api-client \
		build/arm64/snap-edit \
		build/arm64/vsock-host build/arm64/smoke-initrd.cpio \
		build/arm64/devices-initrd.cpio build/guest-arm64/Image
	L1_GIC=$(L1_GIC) tests/l1-arm64/run.sh sh \
		$(CURDIR)/tests/l1-arm64/test-boot.sh \
		$(CURDIR)/build/arm64 $(CURDIR)/build/guest-arm64/Image \
		$(CURDIR)/build/arm64/smoke-initrd.cpio \
		$(CURDIR)/$(GUEST)/vmlinux $(L1_GIC)
# The arm64 boot bench (bench/boot_arm64.py): microvm vs Debian's arm64
# QEMU (bench/qemu_arm64.sh fetches it once) inside the arm64 machine.
.PHONY: bench-arm64
bench-arm64:
	$(MAKE) ARCH=arm64 build/arm64/microvm build/arm64/boot_arm64_timer \
		build/arm64/smoke-initrd.cpio
	python3 bench/boot_arm64.py
deps-arm64:
	scripts/deps-arm64.sh $(ARM64_SYSROOT)
clean: clean-arm64
clean-arm64:
	rm -rf build/arm64
# ----------------------------------------------------------------------------
GUEST := build/guest
GUEST_FILES := $(GUEST)/vmlinux $(GUEST)/initrd.cpio $(GUEST)/rootfs.ext4

.PHONY: all deps guest demo demo-snapshot test unit-all check-gcc check-san check-clang check-arm64 check layers integration integration-l1 fuzz bench format format-check clean install install-compat static
all: $(PROGRAMS)

UFFD_SRCS := $(wildcard uffd/*.c)
$(BUILD)/microvm-uffd: $(UFFD_SRCS:%.c=$(BUILD)/obj/%.o)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

JAILER_SRCS := $(wildcard jailer/*.c)
$(BUILD)/microvm-jailer: $(JAILER_SRCS:%.c=$(BUILD)/obj/%.o)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

# V=1 shows the full commands.
Q := $(if $(V),,@)

# -MMD -MP: each object depends on the headers it includes (build/**/*.d).
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libmicrovm.a: $(LIB_OBJS)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/microvm: $(BUILD)/obj/microvm/main.o $(BUILD)/libmicrovm.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libmicrovm.a
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(filter %.o,$^) $(BUILD)/libmicrovm.a $(LDFLAGS) $(LDLIBS) -lcmocka

# The guest-side harness (tests/harness): the tests that drive devices.
$(BUILD)/tests/test_virtio_mmio: $(BUILD)/obj/tests/harness/guest.o
$(BUILD)/tests/test_balloon: $(BUILD)/obj/tests/harness/guest.o
$(BUILD)/tests/test_virtio_mem: $(BUILD)/obj/tests/harness/guest.o

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

deps:
	scripts/deps.sh

guest: $(GUEST_FILES)
$(GUEST)/vmlinux: tests/guest/build-kernel.sh tests/guest/kernel.fragment $(wildcard tests/guest/patches/*)
	tests/guest/build-kernel.sh $(GUEST)
	@touch $@
$(GUEST)/initrd.cpio $(GUEST)/rootfs.ext4 &: tests/guest/build-rootfs.sh $(GUEST_USERLAND_SRCS)
	tests/guest/build-rootfs.sh $(GUEST)

demo: deps
	$(MAKE) all guest
	scripts/demo.sh

demo-snapshot: deps
	$(MAKE) all guest
	scripts/demo-snapshot.sh

# (The layering check reads native objects; the arm64 build has only vmm/arm64.)
check: $(if $(filter arm64,$(ARCH)),,layers) $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $(TEST_RUNNER) $$t; done

# Imports and calls point one way, down the layers (README "Layout").
layers: $(LIB_OBJS)
	@scripts/check-layers.sh $(BUILD)/obj

# INTEGRATION_TESTS: a test file pattern (default all); make test runs the
# boot tests here as a smoke run and everything in L1.
integration: all guest
	$(MAKE) TEST_HOOKS=1 all
	python3 tests/integration/run.py $(INTEGRATION_TESTS)

# L1 (tests/l1/): Debian's amd64 kernel with kvm_amd under QEMU TCG with
# SVM emulated, the host's root shared read-only; built once, cached.
# Unit tests that use /dev/kvm run there too (they skip where it is missing).
KVM_UNIT_BINS := $(BUILD)/tests/test_cpuid $(BUILD)/tests/test_cpu_template
integration-l1: all guest $(KVM_UNIT_BINS)
	$(MAKE) TEST_HOOKS=1 all
	tests/l1/integration.sh "$(L1_TESTS)" $(KVM_UNIT_BINS)

# libFuzzer targets (clang): FUZZ_RUNS executions each, 10^5 by default;
# FUZZ_TARGETS="dev_block dev_net": only those (tests/fuzz/run.sh).
FUZZ_RUNS ?= 100000
fuzz:
	FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_TARGETS="$(FUZZ_TARGETS)" tests/fuzz/run.sh

unit-all: check-gcc check-san check-clang check-arm64 fuzz
# check-arm64 and the _arm64 fuzz targets need the arm64 sysroot
# (scripts/deps-arm64.sh): made once, before either runs.
check-arm64: | deps-arm64
fuzz: | $(if $(FUZZ_TARGETS),$(if $(filter %_arm64,$(FUZZ_TARGETS)),deps-arm64),deps-arm64)
check-gcc:
	$(MAKE) check
check-san:
	$(MAKE) SAN=1 check
check-clang:
	$(MAKE) CLANG=1 check
check-arm64:
	$(MAKE) ARCH=arm64 check

# The README's test command: everything CI runs.
# The unit tests of the four builds and the fuzzers share the machine's
# cores (make's jobserver): each build has its own folder and the tests
# name their files, taps and sockets per process. -Orecurse prints each
# one's output in one piece when it ends. They run beside the integration
# tests, at a lower priority: L1's emulated CPUs leave about one of two
# host cores idle (most tests run a one-vCPU guest). What both share is
# built first; the unit tests' output is printed when both are done.
JOBS ?= $(shell nproc)
test: deps
	$(MAKE) format-check
	$(MAKE) -j$(JOBS) all guest $(KVM_UNIT_BINS)
	$(MAKE) -j$(JOBS) TEST_HOOKS=1 all
	@(nice -n 10 $(MAKE) -j$(JOBS) -Orecurse unit-all \
		>$(BUILD)/unit-all.log 2>&1; echo $$? >$(BUILD)/unit-all.rc) & \
	$(MAKE) integration-l1; l1=$$?; wait; \
	cat $(BUILD)/unit-all.log; unit=$$(cat $(BUILD)/unit-all.rc); \
	echo "make test: unit tests and fuzzers exit $$unit," \
		"integration tests in L1 exit $$l1"; \
	[ "$$unit" = 0 ] && [ "$$l1" = 0 ]
	$(MAKE) integration INTEGRATION_TESTS=test_boot.py

# The KVM floor bench/boot.py compares microvm's start with (bench/kvm-floor.c).
$(BUILD)/kvm-floor: $(BUILD)/obj/bench/kvm-floor.o
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

bench: all guest $(BUILD)/kvm-floor
	python3 bench/api.py
	python3 bench/boot.py
	python3 bench/block.py
	python3 bench/jailer.py

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')
	@scripts/check-layers.sh

# make install [PREFIX=/usr/local] [DESTDIR=]: the three binaries (the
# static ones with STATIC=1) and their man pages (docs/man).
PREFIX ?= /usr/local
BINDIR = $(DESTDIR)$(PREFIX)/bin
MAN1DIR = $(DESTDIR)$(PREFIX)/share/man/man1
install: all
	install -D -m 0755 $(BUILD)/microvm $(BINDIR)/microvm
	install -D -m 0755 $(BUILD)/microvm-jailer $(BINDIR)/microvm-jailer
	install -D -m 0755 $(BUILD)/microvm-uffd $(BINDIR)/microvm-uffd
	install -D -m 0644 -t $(MAN1DIR) docs/man/microvm.1 \
		docs/man/microvm-jailer.1 docs/man/microvm-uffd.1

# Firecracker's names, for platforms configured with its binary paths: as
# firecracker, microvm's default API socket is /run/firecracker.socket.
install-compat: install
	ln -sf microvm $(BINDIR)/firecracker
	ln -sf microvm-jailer $(BINDIR)/jailer
	ln -sf microvm.1 $(MAN1DIR)/firecracker.1
	ln -sf microvm-jailer.1 $(MAN1DIR)/jailer.1

static:
	$(MAKE) STATIC=1 all

$(BUILD)/obj/cjson/cJSON.o:
	@mkdir -p $(dir $@)
	@echo "  CC      cJSON.c (Debian's source)"
	$(Q)src=$$(scripts/cjson-source.sh) && \
		$(CC) -std=c89 -O2 -g -fstack-protector-strong -c -o $@ $$src/cJSON.c

clean:
	rm -rf build/obj build/san build/hooks build/clang build/static build/tests \
		build/microvm build/microvm-jailer build/libmicrovm.a build/kvm-floor
