# The libFuzzer targets' build (run.sh calls it: make -f tests/fuzz/fuzz.mk
# OUT=dir TARGETS="http dev_block ..." -j2). One flavour, clang -O1 with
# ASan+UBSan: each source is compiled once into $(OUT)/obj (headers
# tracked with -MMD -MP) and every target links the objects it needs, so a
# source shared by ten targets is compiled once, and again only when it or
# a header it includes changes.
# A target named <name>_arm64 is <name>'s harness built for aarch64 (into
# $(OUT)/obj-arm64) by the same clang with the arm64 runtime
# scripts/deps-arm64.sh unpacks; run.sh runs it under qemu-aarch64-static.
# snapshot_arm64 fuzzes the state-file sections only an aarch64 build has
# (format_arm64.c).
OUT ?= build/fuzz
TARGETS ?=
CC := clang
FLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -fno-sanitize-recover=all
LIBS := -lcjson -lm
ARM64_SYSROOT ?= build/arm64-sysroot
ARM64_FLAGS := --target=aarch64-linux-gnu -resource-dir $(ARM64_SYSROOT)/clang \
	-isystem $(ARM64_SYSROOT)/usr/include

base := base/log.c base/metrics.c
config := config/schema.c config/resources.c config/config.c \
	config/cpu_template.c
api := api/http.c api/routes.c config/channel.c $(config) $(base)
vq := virtio/queue.c vmm/memory.c $(base)
# fuzz_dev_*: a device of the guest-side harness, driven by a script.
dev := tests/fuzz/guest_script.c tests/harness/guest.c \
	$(wildcard virtio/*.c) $(wildcard mmds/*.c) vmm/memory.c vmm/bus.c \
	$(config) base/event_loop.c $(base)

srcs_http := $(api)
srcs_json := $(api)
srcs_config := $(api)
srcs_cpu_template := $(api) vmm/cpu_template.c
srcs_vq := $(vq)
srcs_vsock := virtio/vsock_mux.c $(vq)
srcs_snapshot := snapshot/format.c $(config) $(base)
srcs_snapshot_arm64 := $(srcs_snapshot) snapshot/format_arm64.c
srcs_mmds := $(wildcard mmds/*.c)
srcs_arm64_image := vmm/arm64/image.c
srcs_seccomp_file := base/seccomp_file.c
srcs_uffd_handshake := uffd/handshake.c
$(foreach d,block net vsock rng balloon mem,$(eval srcs_dev_$(d) := $(dev)))
libs_dev = -luring

.PHONY: all
.DELETE_ON_ERROR:
all: $(TARGETS:%=$(OUT)/fuzz_%)

# $(call obj,SOURCES,TARGET): the objects of TARGET's flavour
obj = $(patsubst %.c,$(OUT)/$(if $(filter %_arm64,$(2)),obj-arm64,obj)/%.o,$(1))
arm64_flags = $(if $(filter %_arm64,$(1)),$(ARM64_FLAGS) -L$(ARM64_SYSROOT)/clang/lib)

$(OUT)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(FLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP \
		-c -o $@ $<
$(OUT)/obj-arm64/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ARM64_FLAGS) $(FLAGS) -fsanitize=fuzzer-no-link,address,undefined \
		-MMD -MP -c -o $@ $<

# A target's sources become prerequisites only once its name is known.
define target
$(OUT)/fuzz_$(1): $(call obj,tests/fuzz/fuzz_$(1:_arm64=).c $(sort $(srcs_$(1))),$(1))
	$(CC) $(call arm64_flags,$(1)) -fsanitize=fuzzer,address,undefined \
		-o $$@ $$^ $(if $(filter dev_%,$(1)),$(libs_dev)) $(LIBS)
endef
$(foreach t,$(TARGETS),$(eval $(call target,$(t))))

-include $(shell find $(OUT)/obj $(OUT)/obj-arm64 -name '*.d' 2>/dev/null)
