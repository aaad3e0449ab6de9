# The libFuzzer targets' build (run.sh calls it: make -f tests/fuzz/fuzz.mk
# OUT=dir TARGETS="http dev_block ..." -j2). One flavour, clang -O1 with
# ASan+UBSan: each source is compiled once into $(OUT)/obj (headers
# tracked with -MMD -MP) and every target links the objects it needs, so a
# source shared by ten targets is compiled once, and again only when it or
# a header it includes changes.
OUT ?= build/fuzz
TARGETS ?=
CC := clang
FLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -fno-sanitize-recover=all
LIBS := -lcjson -lm

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
srcs_mmds := $(wildcard mmds/*.c)
srcs_arm64_image := vmm/arm64/image.c
srcs_seccomp_file := base/seccomp_file.c
srcs_uffd_handshake := uffd/handshake.c
$(foreach d,block net vsock rng balloon mem,$(eval srcs_dev_$(d) := $(dev)))
libs_dev = -luring

.PHONY: all
.DELETE_ON_ERROR:
all: $(TARGETS:%=$(OUT)/fuzz_%)

obj = $(patsubst %.c,$(OUT)/obj/%.o,$(1))

$(OUT)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(FLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP \
		-c -o $@ $<

# A target's sources become prerequisites only once its name is known.
define target
$(OUT)/fuzz_$(1): $(call obj,tests/fuzz/fuzz_$(1).c $(sort $(srcs_$(1))))
	$(CC) -fsanitize=fuzzer,address,undefined -o $$@ $$^ \
		$(if $(filter dev_%,$(1)),$(libs_dev)) $(LIBS)
endef
$(foreach t,$(TARGETS),$(eval $(call target,$(t))))

-include $(shell find $(OUT)/obj -name '*.d' 2>/dev/null)
