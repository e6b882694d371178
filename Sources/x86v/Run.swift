import ArgumentParser
import ELF
import Machine
import ShadowMMU
import VMM
import X86Core
#if canImport(Glibc)
import Glibc
#endif

/// `x86v run`: boot a guest on the PC machine, under the VMM (`--virt=hw`) or on the bare
/// interpreter (`--virt=none`).
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a multiboot ELF guest (or a flat binary, or a firmware ROM from the reset vector: --bios) on the virtual PC.",
        discussion: """
            Exit status: the guest's debug-exit status ((V << 1) | 1 for a write of V to port 0xF4, \
            always odd); 0 when the guest halts with interrupts off; x86v's own stops are even: \
            2 bad input, 4 instruction limit, 6 not implemented, 8 triple fault, 10 timeout, \
            12 halted with interrupts on and nothing left to wake it, 14 unknown port under \
            --strict-io, 16 reset requested, 18 saved (--save-at N --save FILE wrote the machine \
            at instruction N; --resume FILE continues it, and the two runs together give the serial \
            output, exit status, --stats-json and trace tails of one uninterrupted run), 20 stopped by \
            the debugger (--gdb: GDB killed the run), 22 the guest powered the machine off (ACPI S5: \
            SLP_EN with SLP_TYP 0 written to PM1_CNT, port 0x604), 24 ended from the console \
            (Ctrl-A x, or the terminal closed). With a terminal on stdin (and no --serial-in or \
            --keys-in) the terminal is raw and feeds COM1 (the keyboard under --display text); \
            Ctrl-A h lists the escapes. See docs/formats.md.
            """
    )

    @OptionGroup var options: RunOptions
    @OptionGroup var snapshot: SnapshotOptions
    @OptionGroup var gdbOptions: GDBOptions
    @OptionGroup var traceOptions: TraceOptions

    func validate() throws {
        try options.checkUMIP()
        try snapshot.check(options)
        try gdbOptions.check(snapshot)
        if traceOptions.active && (gdbOptions.gdb != nil || snapshot.saveAt != nil || snapshot.resume != nil) {
            throw InputError("--trace does not combine with --gdb, --save-at or --resume")
        }
    }

    func run() throws {
        if gdbOptions.gdb != nil { try gdbOptions.run(options) }
        if snapshot.saveAt != nil || snapshot.resume != nil { try snapshot.run(options) }
        let setup = try options.makeSetup()
        if traceOptions.active { try runTraced(setup) }
        let began = monotonicSeconds()
        let stop = setup.run(options.limits)
        try setup.finish(stop, wallSeconds: monotonicSeconds() - began)
    }
}

extension Run {
    /// `--trace`: the run with the recorder; the trace's end record holds the stop.
    func runTraced(_ setup: GuestSetup) throws -> Never {
        let traced = try traceOptions.makeRun(setup)
        let began = monotonicSeconds()
        let stop = traced.run(options.limits)
        let seconds = monotonicSeconds() - began
        do { try traced.recorder?.finish(stop: stop.name) } catch { throw InputError(error.description) }
        try setup.finish(stop, wallSeconds: seconds)
    }
}

/// "64M", "1G", "65536K" or a byte count → bytes; nil if malformed or outside 1 MiB…3 GiB.
func parseMemorySize(_ text: String) -> Int? {
    var digits = text.uppercased()
    var unit = 1
    if let last = digits.last, "KMG".contains(last) {
        unit = last == "K" ? 1 << 10 : last == "M" ? 1 << 20 : 1 << 30
        digits.removeLast()
    }
    guard let n = Int(digits), n > 0, n <= (3 << 30) / unit else { return nil }
    let bytes = n * unit
    guard bytes >= 1 << 20, bytes % 4096 == 0 else { return nil }
    return bytes
}

/// COM1, 0xE9 and 0x80 output: buffered, flushed at the end (and per byte on a terminal, so an
/// interactive guest is readable as it runs; per line or per byte in the debug-port files, so a
/// run that dies loses at most a line).
final class SerialOutput {
    enum Buffering {
        /// 64 KiB at a time (per byte on a terminal).
        case block
        /// At every newline.
        case line
        /// At every byte.
        case none
    }

    let fd: Int32
    let buffering: Buffering
    var buffer: [UInt8] = []

    init(path: String?, buffering: Buffering = .block) throws {
        if let p = path {
            let f = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard f >= 0 else { throw InputError("\(p): \(String(cString: strerror(errno)))") }
            fd = f
        } else {
            fd = 1
        }
        // On a terminal every byte at once: an interactive guest's prompt has no newline.
        self.buffering = buffering == .block && isatty(fd) != 0 ? .none : buffering
        buffer.reserveCapacity(1 << 16)
    }

    func append(_ byte: UInt8) {
        buffer.append(byte)
        switch buffering {
        case .block: if buffer.count >= 1 << 16 { flush() }
        case .line: if byte == 10 || buffer.count >= 1 << 16 { flush() }
        case .none: flush()
        }
    }

    init(fileDescriptor: Int32) {
        fd = fileDescriptor
        buffering = .line
    }

    func flush() {
        writeAll(fd, buffer)
        buffer.removeAll(keepingCapacity: true)
    }
}
