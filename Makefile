# x86v — top-level commands. See README.md.
#   make deps    install missing system packages (Debian 12, as root, non-interactive)
#   make         release build
#   make run     run the default guest (demo.elf) under the VMM, with --stats
#   make test    deps + build + guests + CLI checks + trace/lockstep checks + CPU differential
#                + fuzz + swift test
#   make bench   interpreter MIPS (paging off/on) beside QEMU and Bochs, VMM exit rate and
#                hw/none ratio, trace write speed and the cost of tracing compiled in but off,
#                decoder speed, shadow-vs-direct MMU table
#   make fuzz-cpu N=…   random code in random CPU states, N instructions (default 10^7)
#   make diff-cpu COUNT=… SEED=…   host-CPU differential run (default 10^6 sequences)
#   make linux   download Debian's i386 kernel and busybox (.build/linux), boot them under
#                none, hw-direct and hw-shadow, check the init's lines (docs/linux.md)
#   make guests  build testguests/
#   make clean

SWIFT ?= swift
X86V := .build/release/x86v
GUEST := testguests/build/demo.elf
NATIVE_HARNESS := Tools/native-harness/build/native-harness
CPU_DIFF := .build/release/cpu-diff
CPU_FUZZ := .build/release/cpu-fuzz
UNICORN_PY ?= /usr/bin/python3
APT_PACKAGES := libcapstone-dev libedit-dev pkg-config gcc binutils make gdb graphviz qemu-system-x86 nasm

.PHONY: all build deps run test bench guests clean check-cli check-test-command check-debug check-save-resume check-trace check-engines native-harness diff-cpu fuzz-cpu unicorn-cases xv6-check linux linux-check

all: build

deps:
	@missing=""; \
	pkg-config --exists capstone 2>/dev/null || missing="$$missing libcapstone-dev pkg-config"; \
	pkg-config --exists libedit 2>/dev/null || missing="$$missing libedit-dev"; \
	command -v gdb >/dev/null || missing="$$missing gdb"; \
	command -v dot >/dev/null || missing="$$missing graphviz"; \
	command -v gcc >/dev/null || missing="$$missing gcc"; \
	command -v ld >/dev/null || missing="$$missing binutils"; \
	command -v qemu-system-i386 >/dev/null || missing="$$missing qemu-system-x86"; \
	command -v nasm >/dev/null || missing="$$missing nasm"; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

build: deps
	$(SWIFT) build -c release

guests:
	$(MAKE) -C testguests

# The guest reports success by writing 0 to the debug-exit port: x86v then exits with
# status (0 << 1) | 1 = 1, as QEMU's isa-debug-exit does (docs/formats.md).
run: build guests
	@$(X86V) run $(GUEST) --stats; status=$$?; \
	if [ $$status -eq 1 ]; then echo "make run: the guest finished (debug-exit 0, status 1); the table above counts its VM exits"; \
	else echo "make run: guest failed (x86v status $$status)"; exit 1; fi

native-harness:
	$(MAKE) -C Tools/native-harness

# Differential check against the host CPU (COUNT/SEED overridable).
diff-cpu: build native-harness
	$(CPU_DIFF) --count $(or $(COUNT),1000000) --seed $(or $(SEED),$$(date +%s)) --harness $(NATIVE_HARNESS)

# Robustness: random bytes as code in random CPU states.
fuzz-cpu: build
	$(CPU_FUZZ) --instructions $(or $(N),10000000) --seed $(or $(SEED),$$(date +%s))

# Regenerate the committed Unicorn fixture (needs: apt-get install -y python3-unicorn nasm).
unicorn-cases:
	$(UNICORN_PY) Tools/unicorn-cases/gen.py

check-cli: build guests
	bash Tests/cli/check-cli.sh $(X86V)
	python3 Tests/cli/check-console.py $(X86V) testguests
	bash Tests/cli/check-drive.sh $(X86V)
	bash Tests/cli/check-linux-boot.sh $(X86V)

# The page-fault regression runner on every guest in all three configurations, with JUnit.
check-test-command: build guests
	bash Tests/cli/check-test-command.sh $(X86V)
	$(X86V) test testguests/ --junit .build/x86v-test-junit.xml
	$(X86V) test testguests/ --engine interp

# Scripted debugger sessions against test guests, compared with full expected transcripts.
check-debug: build guests
	bash Tests/cli/check-debug.sh $(X86V)
	bash Tests/cli/check-audit.sh $(X86V)
	bash Tests/cli/check-gdb.sh $(X86V) testguests/build/hello.elf

# Save and resume every guest at many instruction counts against its uninterrupted run.
check-save-resume: build guests
	bash Tests/cli/check-save-resume.sh $(X86V) testguests

# Instruction traces, trace print/diff and lockstep (against --virt=none and against QEMU).
check-trace: build guests
	bash Tests/cli/check-trace.sh $(X86V)

# The block engine against the interpreter on every guest (lockstep at block boundaries, traces).
check-engines: build guests
	bash Tests/cli/check-engines.sh $(X86V) testguests

test: build guests check-cli check-test-command check-debug check-save-resume check-trace check-engines native-harness
	$(CPU_DIFF) --count 100000 --seed 1 --harness $(NATIVE_HARNESS) --engine blocks
	$(CPU_DIFF) --count 100000 --seed 1 --harness $(NATIVE_HARNESS) --engine interp
	$(CPU_DIFF) --family fpu --count 200000 --seed 1 --harness $(NATIVE_HARNESS) --engine blocks
	$(CPU_DIFF) --family fpu --count 200000 --seed 1 --harness $(NATIVE_HARNESS) --engine interp
	@a=$$($(CPU_FUZZ) --instructions 1000000 --seed 1 --engine blocks) && echo "$$a" && \
	b=$$($(CPU_FUZZ) --instructions 1000000 --seed 1 --engine interp) && echo "$$b" && \
	if [ "$${a% (engine*}" != "$${b% (engine*}" ]; then echo "cpu-fuzz: the engines differ"; exit 1; fi
	$(X86V) conformance testguests/conformance/80386/00.jsonl
	$(SWIFT) build -c release --build-tests
	$(SWIFT) test -c release --skip-build
	@$(MAKE) --no-print-directory xv6-check
	@$(MAKE) --no-print-directory linux-check

# xv6 (issue 18): boot mit-pdos/xv6-public's kernel with its file system on the primary slave,
# run usertests on the serial console in none, hw-direct and hw-shadow, type on the keyboard
# under --display text, and time QEMU TCG doing the same (docs/xv6.md). Needs a built xv6
# tree: make xv6-check XV6=DIR (DIR/kernel, DIR/fs.img); skipped, and says so, without one.
xv6-check: build
	@if [ -z "$(XV6)" ] || [ ! -f "$(XV6)/kernel" ] || [ ! -f "$(XV6)/fs.img" ]; then \
		echo "xv6-check: skipped: no xv6 build given (make xv6-check XV6=DIR, DIR a built mit-pdos/xv6-public tree with kernel and fs.img; see docs/xv6.md)"; \
	else python3 Tools/xv6/xv6-check.py --x86v $(X86V) --xv6 "$(XV6)"; fi

# Linux (issue 19): Debian 12's linux-image-6.1.0-*-686-unsigned and busybox-static:i386,
# downloaded with apt-get download into .build/linux (never committed), an initramfs with our
# test init (Tools/linux/init.sh), booted to power-off in the three configurations.
# `make test` runs the check when the downloads are cached and says it skipped otherwise.
LINUX_DIR := .build/linux
linux: build
	bash Tools/linux/fetch.sh $(LINUX_DIR)
	python3 Tools/linux/linux-check.py --x86v $(X86V) --dir $(LINUX_DIR) --shell

linux-check: build
	@if [ ! -f $(LINUX_DIR)/vmlinuz ] || [ ! -f $(LINUX_DIR)/busybox ]; then \
		echo "linux-check: skipped: the Debian kernel and busybox are not downloaded (make linux fetches them into $(LINUX_DIR))"; \
	else bash Tools/linux/fetch.sh $(LINUX_DIR) && python3 Tools/linux/linux-check.py --x86v $(X86V) --dir $(LINUX_DIR) --shell; fi

# An I/O-bound flat guest: 1,000,000 × OUT 0x3F8 (mov ecx, 1000000 / mov dx, 0x3f8 /
# mov al, 'A' / 1: out dx, al / loop 1b / cli / hlt) — one IO_INSTRUCTION exit each.
IOBENCH := .build/iobench.bin
$(IOBENCH):
	@mkdir -p .build
	@printf '\271\100\102\017\000\146\272\370\003\260\101\356\342\375\372\364' > $@

bench: build guests $(IOBENCH)
	@rm -f .build/bench-virt.txt
	@for g in alu alu-paging; do for v in none hw; do \
		$(X86V) run testguests/build/$$g.elf --virt=$$v --stats 2>&1 >/dev/null \
		| sed -n "s/^x86v: .*(\([0-9.]*\) MIPS).*/virt=$$v guest=$$g mips=\1/p" | tee -a .build/bench-virt.txt; \
	done; done
	@awk '{ split($$1, v, "="); split($$2, gs, "="); split($$3, m, "="); r[gs[2] " " v[2]] = m[2] } \
		END { for (k in r) { split(k, a, " "); if (a[2] == "hw" && r[a[1] " none"] > 0) \
		printf "guest=%s hw/none MIPS ratio: %.3f (goal >= 0.95)\n", a[1], r[a[1] " hw"] / r[a[1] " none"] } }' .build/bench-virt.txt | sort
	@rm -f .build/bench-virt.txt
	@for i in 1 2 3; do $(X86V) run --flat $(IOBENCH) --load 0x100000 --entry 0x100000 --serial /dev/null --stats 2>&1 \
		| sed -n "s/^  VM exits *\([0-9]*\) (\([0-9.]*\) k\/s).*/iobench exits=\1 rate=\2k exits\/s/p"; done
	@mkdir -p .build/bench-trace
	@for f in bin jsonl; do for i in 1 2 3; do \
		$(X86V) run testguests/build/alu.elf --max-instructions 1000000 --trace .build/bench-trace/t.$$f --trace-format $$f --stats 2>&1 >/dev/null \
		| sed -n "s/^x86v: .*(\([0-9.]*\) MIPS).*/trace-write $$f: \1 M instructions\/s$$([ $$f = bin ] && echo ' (goal >= 5)')/p"; \
	done; done
	@rm -rf .build/bench-trace
	@for i in 1 2 3; do $(X86V) run testguests/build/alu.elf --virt=hw --stats 2>&1 >/dev/null \
		| sed -n "s/^x86v: .*(\([0-9.]*\) MIPS).*/tracing off: alu \1 MIPS (before tracing landed: 107.6 MIPS, commit 85a3994)/p"; done
	@echo "execution engines beside Bochs and QEMU (issue 15 goal: blocks >= 2x Bochs on every guest):"
	Benchmarks/engines/run.sh $(X86V) testguests/build/alu.elf testguests/build/alu-paging.elf testguests/build/bench/bench-cwork.elf 2>/dev/null
	Benchmarks/fpu/run.sh $(X86V) testguests/build/bench/bench-x87.elf testguests/build/bench/bench-sse2.elf 2>/dev/null
	.build/release/x86v-bench testguests/build/*.elf
	@echo "page-table loops, M iterations/s: x86v shadow, direct, none beside Bochs and QEMU (best of 3, full minus short build):"
	Benchmarks/shadow/run.sh $(X86V) testguests/build
	@if [ -f $(LINUX_DIR)/vmlinuz ] && [ -f $(LINUX_DIR)/busybox ]; then \
		echo "Linux boot and a 1,000-process fork/exec loop: x86v beside QEMU TCG (issue 19):"; \
		bash Tools/linux/fetch.sh $(LINUX_DIR) >/dev/null && \
		python3 Tools/linux/linux-check.py --x86v $(X86V) --dir $(LINUX_DIR) --configs hw-shadow,hw-direct --qemu --loop-counters; \
	else echo "linux bench: skipped (make linux downloads the kernel)"; fi

clean:
	rm -rf .build
	$(MAKE) -C Tools/native-harness clean
	$(MAKE) -C testguests clean
