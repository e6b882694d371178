// swift-tools-version: 6.2
import PackageDescription

// Hot-path modules are built with existentials as errors: an `any P` in the decoder or the
// interpreter would mean dynamic dispatch in the loop (see ../shared/STYLE.md part B §4).
let hotPathSettings: [SwiftSetting] = [
    .treatWarning("ExistentialType", as: .error),
]

let package = Package(
    name: "x86v",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "x86v", targets: ["x86v"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // bytes → DecodedInstruction, and the one opcode table. No dependencies.
        .target(name: "X86Decode", swiftSettings: hotPathSettings),
        // 32-bit ELF reader shared by `disasm` and (later) the guest loader.
        .target(name: "ELF"),
        // Capstone 4 as a system library: the decoder's reference oracle.
        .systemLibrary(
            name: "CCapstone",
            pkgConfig: "capstone",
            providers: [.apt(["libcapstone-dev"])]
        ),
        // A small Swift wrapper over Capstone used by tests, `disasm --check` and the benchmark.
        .target(name: "CapstoneOracle", dependencies: ["CCapstone", "X86Decode"]),
        // The "hardware": a 32-bit protected-mode i686 interpreter with a paging MMU. It knows
        // nothing of shadows or VMM policy; it runs until an event its owner asked to see.
        // Its loop reaches state through pointers; the class properties it has are the owner's
        // hooks, read on the slow path (every instruction while a debugger, tracer or binary
        // translator is on), where dynamic exclusivity checks were a fifth of the time.
        .target(name: "X86Core", dependencies: ["X86Decode", "CX87Host"],
                swiftSettings: hotPathSettings + [.unsafeFlags(["-enforce-exclusivity=unchecked"])]),
        // The machine around the CPU: loader, devices, run loop (grows with the VMM issue).
        // Its run gate and timers run on every VM exit (budget, due timers, device registers):
        // class state, not reentrant, where dynamic exclusivity checks were ~3% of a PTE-churn run.
        .target(name: "Machine", dependencies: ["X86Core", "ELF"],
                swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]),
        // The trap-and-emulate engine: exit policy, exit handling, virtual control registers,
        // event injection, exit statistics and traces. The only module that knows about exits.
        // Its exit loop runs once per VM exit (every hidden fault, port access, CR write): class
        // state, not reentrant, where dynamic exclusivity checks were ~6% of a PTE-churn run.
        .target(name: "VMM", dependencies: ["X86Core", "X86Decode", "Machine", "ShadowMMU"],
                swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]),
        // Shadow page tables built from the guest's and kept in sync (used by the VMM).
        // Its bookkeeping is class state touched on every fault: dynamic exclusivity checks cost
        // more than the work (a third of the time on PTE churn), and nothing here is reentrant.
        .target(name: "ShadowMMU", dependencies: ["X86Core"],
                swiftSettings: hotPathSettings + [.unsafeFlags(["-enforce-exclusivity=unchecked"])]),
        // The host's x87 FPU as the guest FPU's arithmetic core (issue 16, docs/x87.md): inline
        // asm under the guest's control word, host exceptions masked, host state left as it was.
        .target(name: "CX87Host"),
        // Robustness fuzzer: random bytes in random CPU states, every run with a budget.
        .executableTarget(name: "cpu-fuzz", dependencies: ["X86Core", "CX87Host"], path: "Tools/cpu-fuzz"),
        // Differential checker: seeded random user-mode sequences run natively (Tools/native-harness)
        // and on X86Core; also the random-code robustness fuzzer (`make fuzz-cpu`).
        .executableTarget(
            name: "cpu-diff",
            dependencies: ["X86Core", "X86Decode"],
            path: "Tools/cpu-diff"
        ),
        // Line editing for the debugger's REPL (libedit, Debian's libedit-dev).
        .systemLibrary(name: "CEditLine", pkgConfig: "libedit", providers: [.apt(["libedit-dev"])]),
        // The teaching debugger: one engine (stepping, breakpoints, views, snapshots, reverse
        // execution) shared by the REPL, scripts and the GDB stub. Above VMM and Machine.
        .target(name: "Debugger", dependencies: ["X86Core", "X86Decode", "Machine", "VMM", "ShadowMMU", "ELF", "CEditLine"]),
        // The Popek–Goldberg catalog: the opcode table's sensitivity column grouped by family
        // (`x86v audit --table`).
        .target(name: "Audit", dependencies: ["X86Decode", "X86Core", "Machine", "VMM", "ShadowMMU", "ELF"]),
        // Instruction traces (x86v's JSON lines and binary form, QEMU's -d cpu,exec logs), the
        // lockstep diff that finds the first instruction where two runs disagree, and its rules.
        // The recorder and the writer run once per guest instruction while a trace is on: like
        // the shadow MMU, non-reentrant class state where dynamic exclusivity checks cost a
        // quarter of the time (measured with callgrind on a binary trace of alu).
        .target(name: "Trace", dependencies: ["X86Decode", "X86Core", "Machine", "VMM", "ShadowMMU", "ELF"],
                swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]),
        // The 80386 real-hardware conformance harness (SingleStepTests/80386: JSON lines and MOO
        // files): readers, the revocation list, the opcode table's flag masks, the runner.
        .target(name: "Conformance", dependencies: ["X86Core"]),
        // The terminal at the edge: raw mode (always restored), the Ctrl-A escapes, the text
        // screen drawn with ANSI sequences and dumped as text. Depends on nothing else. Its signal
        // handler reads saved globals: no dynamic exclusivity checks there (they call into the
        // runtime's access tracking, which is not async-signal-safe).
        .target(name: "Console", swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]),
        .executableTarget(
            name: "x86v",
            dependencies: [
                "X86Decode", "X86Core", "Machine", "VMM", "ShadowMMU", "ELF", "CapstoneOracle", "Debugger", "Audit", "Trace", "Conformance", "Console",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "x86v-bench",
            dependencies: ["X86Decode", "X86Core", "Machine", "ELF", "CapstoneOracle"],
            path: "Benchmarks/x86v-bench"
        ),
        // Counts malloc calls so tests can prove the decoder does not allocate.
        .target(name: "CMallocCounter", path: "Tests/CMallocCounter"),
        .testTarget(
            name: "X86DecodeTests",
            dependencies: ["X86Decode", "ELF", "CapstoneOracle", "CMallocCounter"]
        ),
        .testTarget(
            name: "X86CoreTests",
            dependencies: ["X86Core", "X86Decode", "Machine", "ELF", "CMallocCounter", "CX87Host"],
            // Read by path at run time (see UnicornSystemTests), not bundled.
            exclude: ["UnicornKnownDifferences.md", "Fixtures"]
        ),
        .testTarget(name: "MachineTests", dependencies: ["Machine", "X86Core"]),
        .testTarget(name: "ConsoleTests", dependencies: ["Console"]),
        .testTarget(name: "DebuggerTests", dependencies: ["Debugger", "VMM", "Machine", "X86Core", "ELF", "ShadowMMU"]),
        .testTarget(name: "TraceTests", dependencies: ["Trace", "X86Core", "X86Decode", "Machine", "VMM"]),
        .testTarget(name: "AuditTests", dependencies: ["Audit", "X86Core", "X86Decode", "Machine"]),
        .testTarget(name: "ConformanceTests", dependencies: ["Conformance", "X86Core"]),
        .testTarget(name: "VMMTests", dependencies: ["VMM", "Machine", "X86Core", "ShadowMMU", "ELF", "CMallocCounter"]),
    ]
)
