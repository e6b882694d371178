# x86v — top-level commands. See README.md.
#   make deps    install missing system packages (Debian 12, as root, non-interactive)
#   make         release build
#   make run     disassemble a test guest, checked against Capstone
#   make test    deps + build + guests + CLI checks + swift test (ends with its summary)
#   make bench   decoder speed against Capstone
#   make guests  build testguests/
#   make clean

SWIFT ?= swift
X86V := .build/release/x86v
GUEST := testguests/build/hello.elf
APT_PACKAGES := libcapstone-dev pkg-config gcc binutils make

.PHONY: all build deps run test bench guests clean check-cli

all: build

deps:
	@missing=""; \
	pkg-config --exists capstone 2>/dev/null || missing="$$missing libcapstone-dev pkg-config"; \
	command -v gcc >/dev/null || missing="$$missing gcc"; \
	command -v ld >/dev/null || missing="$$missing binutils"; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

build: deps
	$(SWIFT) build -c release

guests:
	$(MAKE) -C testguests

run: build guests
	$(X86V) disasm $(GUEST) --check

check-cli: build guests
	bash Tests/cli/check-cli.sh $(X86V)

test: build guests check-cli
	$(SWIFT) build -c release --build-tests
	$(SWIFT) test -c release --skip-build

bench: build guests
	$(SWIFT) build -c release --product x86v-bench
	.build/release/x86v-bench testguests/build/*.elf

clean:
	rm -rf .build
	$(MAKE) -C testguests clean
