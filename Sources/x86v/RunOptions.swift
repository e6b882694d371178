import ArgumentParser
import ELF
import Machine
import ShadowMMU
import VMM
import X86Core
#if canImport(Glibc)
import Glibc
#endif

/// Every flag that says how to build and run a guest: shared by `run` and `debug` (and any
/// later command that runs a guest), so they accept the same flags with the same meaning.
struct RunOptions: ParsableArguments {
    enum Virt: String, ExpressibleByArgument, CaseIterable {
        case hw, none, classic, bt
    }

    enum MMU: String, ExpressibleByArgument, CaseIterable {
        case shadow, direct
    }

    enum Display: String, ExpressibleByArgument, CaseIterable {
        case none, text
    }

    @Argument(help: "The guest kernel: a 32-bit multiboot ELF or a Linux bzImage. Omit with --kernel, --flat or --bios.") var guest: String?
    @Option(help: "Guest memory, e.g. 64M or 1G (1M–3G).") var memory: String = "128M"
    @Option(name: .customLong("module"), help: "A multiboot module: 'FILE [ARGS]' (repeatable).")
    var modules: [String] = []
    @Option(help: ArgumentHelp("The kernel: a Linux bzImage (booted through the 32-bit boot protocol, as QEMU's -kernel) or a multiboot ELF; x86v says which it found. Same as GUEST, which takes either too.", valueName: "FILE"))
    var kernel: String?
    @Option(help: ArgumentHelp("A Linux initial RAM disk for a bzImage --kernel, placed as high as the kernel's initrd_addr_max allows.", valueName: "FILE"))
    var initrd: String?
    @Option(help: "The kernel command line (multiboot cmdline, or a bzImage's cmd_line_ptr).") var append: String = ""
    @Option(help: "hw: under the trap-and-emulate VMM (VT-x-like exits); classic: a pre-VT VMM (guest kernel deprivileged to ring 1, shadow descriptor tables, the Popek–Goldberg holes open); bt: the classic VMM with binary translation (every hole in guest-kernel code made to trap and emulated); none: the bare interpreter.")
    var virt: Virt = .hw
    @Flag(help: "--virt=classic: set CR4.UMIP on the real CPU (SGDT, SIDT, SLDT, SMSW, STR trap at CPL > 0, as on CPUs since 2017).")
    var umip = false
    @Option(help: "--virt=hw only: shadow (the VMM's shadow page tables) or direct (the CPU walks the guest's tables, the nested-paging reference).")
    var mmu: MMU = .shadow
    @Option(name: .customLong("shadow-pages"), help: "Shadow page-table pool in 4 KiB pages (default: 4 per MiB of guest memory, at least 256).")
    var shadowPages: Int?
    @Flag(name: .customLong("no-unsync"), help: "--mmu=shadow: keep every shadowed page table write-protected (each guest store to one exits and is synced), instead of letting leaf tables go out of sync as KVM does.")
    var noUnsync = false
    @Option(help: "How guest code runs: blocks (predecoded basic blocks, the default) or interp (one instruction at a time through the decoded cache). Same results, counts and traces; see docs/interpreter.md.")
    var engine: ExecutionEngine = .blocks
    @Option(name: .customLong("trace-faults"), help: "Write one JSON line per page fault (hidden and delivered).")
    var traceFaults: String?
    @Option(help: "Exit policy edits for --virt=hw, e.g. '-io,+rdtsc,+exception:14' (see docs/formats.md).")
    var exits: String = ""
    @Option(name: .customLong("max-instructions"), help: "Stop after this many instructions (status 4).")
    var maxInstructions: UInt64 = 10_000_000_000
    @Option(help: "Stop after this many seconds of wall time (status 10; not deterministic).")
    var timeout: Double?
    @Flag(help: "Print instructions, time, MIPS and the exit table to stderr at the end.") var stats = false
    @Option(name: .customLong("stats-json"), help: "Write the statistics as JSON (deterministic fields only).")
    var statsJSON: String?
    @Option(name: .customLong("trace-exits"), help: "Write one JSON line per VM exit.") var traceExits: String?
    @Option(help: "Write COM1 output to this file instead of stdout.") var serial: String?
    @Option(name: .customLong("serial-in"), help: "Feed this file to COM1's receive line.") var serialIn: String?
    @Option(name: .customLong("keys-in"), help: ArgumentHelp("Type this file's bytes on the PS/2 keyboard (ASCII, Enter, Backspace, Tab, Esc, Ctrl-letters, ANSI sequences for arrows, Home/End, PgUp/PgDn, Insert/Delete, F1-F12), one key after the guest read the last, from 100 ms of virtual time on. See docs/formats.md.", valueName: "FILE"))
    var keysIn: String?
    @Option(help: ArgumentHelp("text: draw the guest's 80x25 text screen in this terminal as it changes (like QEMU's -display curses); keys typed go to the PS/2 keyboard, and COM1 output is not shown (give --serial FILE). none: no screen.", valueName: "none|text"))
    var display: Display = .none
    @Option(name: .customLong("screen-dump"), help: ArgumentHelp("At the end of the run, whatever stopped it, write the 80x25 text screen to FILE as UTF-8 text (docs/formats.md).", valueName: "FILE"))
    var screenDump: String?
    @Flag(name: .customLong("strict-io"), help: "An access to a port no device owns stops the run (status 14).")
    var strictIO = false
    @Option(help: "Load this flat binary instead of an ELF (needs --load and --entry).") var flat: String?
    @Option(help: "Physical load address for --flat (e.g. 0x100000).") var load: String?
    @Option(help: "Entry point for --flat.") var entry: String?
    @Option(help: "RTC boot date, YYYY-MM-DD[THH:MM:SS] (default 2000-01-01T00:00:00).") var rtc: String?
    @Option(help: ArgumentHelp("Power on into this firmware ROM instead of a GUEST: 64, 128, 192 or 256 KiB, mapped at the top of 4 GiB with its last 128 KiB at 0xE0000-0xFFFFF; the CPU starts in the power-on state at the reset vector 0xFFFFFFF0 (no multiboot information).", valueName: "FILE"))
    var bios: String?
    @Option(help: ArgumentHelp("Write the bytes the guest sends to port 0xE9 (the debug console) to FILE instead of stderr.", valueName: "FILE"))
    var debugcon: String?
    @Option(name: .customLong("dump-firmware"), help: ArgumentHelp("After loading the guest, write the firmware tables (BDA, EBDA, IVT, MP, ACPI), the memory map and the multiboot information to DIR (created if missing; docs/formats.md), then run as usual.", valueName: "DIR"))
    var dumpFirmware: String?
    @Option(name: .customLong("nmi-at"), help: ArgumentHelp("Press the NMI button before these instructions (retired-instruction counts, comma-separated): the chipset's NMI, masked by port 0x70 bit 7, reaches the CPU through the local APIC's LINT1.", valueName: "N,..."))
    var nmiAt: String?
    @Option(help: ArgumentHelp("Decode port 0x80 (POST codes) and write the bytes the guest sends there to FILE (without it no device owns 0x80).", valueName: "FILE"))
    var post: String?
    @Option(name: .customLong("device"), help: ArgumentHelp("Add an optional device, as QEMU's -device (repeatable): pc-testdev (QEMU's test device: ports 0xE0-0xE4, 0x2000-0x2017, RAM-like MMIO at 0xFF000000); isa-debug-exit is accepted and changes nothing (always present at 0xF4).", valueName: "NAME"))
    var devices: [String] = []
    @Option(name: .customLong("drive"), help: ArgumentHelp("An IDE disk: FILE[,index=0-3][,readonly][,snapshot] (repeatable; index 0 primary master, 1 primary slave, 2 secondary master, 3 secondary slave; snapshot: writes stay in memory). See docs/formats.md.", valueName: "SPEC"))
    var drives: [String] = []

    /// What `--device` accepts: QEMU's device names x86v has (isa-debug-exit is always there).
    static let deviceNames = ["pc-testdev", "isa-debug-exit"]

    /// `--umip` belongs to the classic VMM (`x86v audit` implies it; `run` and `debug` check).
    func checkUMIP() throws {
        if umip && virt != .classic && virt != .bt { throw InputError("--umip goes with --virt=classic or --virt=bt") }
    }

    /// Checks that do not need the files (ArgumentParser calls this before `run`).
    /// The guest itself is checked by `checkGuestGiven` (`run --resume` takes it from a snapshot).
    func validate() throws {
        if flat != nil && guest != nil { throw InputError("give either GUEST or --flat, not both") }
        if kernel != nil && (guest != nil || flat != nil || bios != nil) {
            throw InputError("--kernel is the guest: give it instead of GUEST, --flat or --bios")
        }
        if initrd != nil && (flat != nil || bios != nil) {
            throw InputError("--initrd goes with a Linux bzImage (--kernel FILE), not --flat or --bios")
        }
        if bios != nil && (guest != nil || flat != nil) {
            throw InputError("--bios powers the machine on into a ROM: give GUEST, --flat or --bios, not two of them")
        }
        if bios != nil && dumpFirmware != nil {
            throw InputError("--dump-firmware writes the tables x86v builds for a multiboot guest: a --bios run has the ROM's own")
        }
        if bios != nil && (!modules.isEmpty || !append.isEmpty) {
            throw InputError("--module and --append are multiboot information: a --bios run has none")
        }
        if flat != nil && (load == nil || entry == nil) { throw InputError("--flat needs --load ADDR and --entry ADDR") }
        if flat == nil && (load != nil || entry != nil) { throw InputError("--load and --entry go with --flat") }
        for d in devices where !Self.deviceNames.contains(d) {
            throw InputError("unknown --device '\(d)' (\(Self.deviceNames.joined(separator: ", ")))")
        }
        _ = try driveSpecs()
        if let t = timeout, !(t > 0) { throw InputError("bad --timeout (seconds > 0)") }
        if maxInstructions == 0 { throw InputError("bad --max-instructions (must be > 0)") }
        if virt == .none && !exits.isEmpty { throw InputError("--exits needs --virt=hw") }
        if virt == .none && traceExits != nil { throw InputError("--trace-exits needs --virt=hw (no VMM, no exits)") }
        if let n = shadowPages, n < 8 || n > 1 << 18 { throw InputError("bad --shadow-pages (8–262144)") }
        if noUnsync && !useShadow { throw InputError("--no-unsync goes with the shadow MMU (--virt=hw, classic or bt; --mmu=shadow)") }
        if (virt == .classic || virt == .bt) && mmu != .shadow {
            throw InputError("--virt=\(virt.rawValue) needs the shadow MMU (it protects the VMM's tables)")
        }
    }

    /// GUEST, --flat or --bios was given (`makeSetup` needs one; `run` checks it unless it resumes).
    func checkGuestGiven() throws {
        if flat == nil && guest == nil && bios == nil && kernel == nil {
            throw InputError("missing GUEST (or --kernel FILE, --flat FILE --load ADDR --entry ADDR, or --bios FILE)")
        }
    }

    /// The name the guest goes by in traces, the debugger and snapshots: its file.
    var guestName: String { guest ?? kernel ?? flat ?? bios ?? "" }

    var useShadow: Bool { virt != .none && mmu == .shadow }
    var configName: String {
        switch virt {
        case .hw: "hw-\(mmu.rawValue)"
        case .classic: umip ? "classic-umip" : "classic"
        case .bt: umip ? "bt-umip" : "bt"
        case .none: "none"
        }
    }
    var limits: RunLimits { RunLimits(maxInstructions: maxInstructions, timeoutSeconds: timeout) }

    /// Builds the machine, loads the guest, wires the serial port, the console and the traces,
    /// and creates the VMM for `--virt=hw`. `interactiveInput`: a terminal on stdin feeds COM1
    /// (off for the debugger, whose stdin is its command line).
    func makeSetup(interactiveInput: Bool = true) throws -> GuestSetup {
        try checkGuestGiven()
        guard let bytes = parseMemorySize(memory) else {
            throw InputError("bad --memory '\(memory)' (use e.g. 64M, 1G; 1M–3G)")
        }
        var start = RTCDateTime.defaultStart
        if let r = rtc {
            guard let d = RTCDateTime.parse(r) else { throw InputError("bad --rtc '\(r)' (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS)") }
            start = d
        }
        var policy = ExitPolicy.default
        if let problem = policy.apply(exits) { throw InputError("bad --exits: \(problem)") }

        let pool = shadowPages ?? max(256, (bytes >> 20) * 4)
        let classicPages = virt == .classic || virt == .bt ? ClassicState.Layout.privatePages : 0
        let machine = PCMachine(memorySize: bytes, rtcStart: start,
                                privateMemory: useShadow ? (pool + classicPages) * 4096 : 0)
        machine.strictIO = strictIO
        machine.scheduledNMIs = try parseNMISchedule()
        machine.cpu.engine = engine
        if devices.contains("pc-testdev") { machine.attachTestDevice() }
        let elf = try loadGuest(into: machine)
        try attachDrives(to: machine)

        // Under --display text COM1 is not shown (QEMU's curses display keeps it on another console);
        // its --serial file is written as the guest writes, so `tail -f` follows the session.
        let output = try SerialOutput(path: serial ?? (display == .text && interactiveInput ? "/dev/null" : nil),
                                      buffering: display == .text ? .none : .block)
        machine.serialOutput = { output.append($0) }
        let (console, post) = try wireDebugPorts(machine)
        if let path = serialIn { machine.uart.receive(try readFile(path)) }
        if let path = keysIn { ConsoleFrontEnd.typeFile(try readFile(path), into: machine) }
        if bios == nil { machine.vga.clearScreen() }
        if interactiveInput {
            try ConsoleFrontEnd.attach(machine, options: self,
                                       interactive: isatty(0) != 0 && serialIn == nil && keysIn == nil)
        }

        var faults: FaultTrace? = nil
        if let path = traceFaults {
            guard let t = FaultTrace(path: path) else { throw InputError("\(path): cannot write the fault trace") }
            faults = t
        }
        var vmm: VMM? = nil
        switch virt {
        case .none:
            faults?.attach(to: machine.cpu)
        case .hw, .classic, .bt:
            let v = VMM(machine: machine, policy: policy, mmu: useShadow ? .shadow(pages: pool) : .direct,
                        classic: virt == .classic || virt == .bt, umip: umip, binaryTranslation: virt == .bt)
            v.shadow?.allowUnsync = !noUnsync
            if let f = faults {
                if useShadow { v.faultTrace = f } else { f.attach(to: machine.cpu) }
            }
            if let path = traceExits {
                guard let t = ExitTrace(path: path) else { throw InputError("\(path): cannot write the exit trace") }
                v.trace = t
            }
            vmm = v
        }
        return GuestSetup(options: self, machine: machine, vmm: vmm, elf: elf, serial: output, console: console,
                          faults: faults, post: post)
    }

    /// The `--drive` flags, parsed, with their indices assigned (bad syntax, an index out of range
    /// or given twice: an InputError).
    func driveSpecs() throws -> [DriveSpec] {
        do {
            return try DriveSpec.assignIndices(try drives.map { (text) throws(DriveSpec.ParseError) in try DriveSpec.parse(text) })
        } catch { throw InputError(error.description) }
    }

    /// Opens each `--drive` image and puts it on the IDE controller (a missing, unreadable,
    /// write-protected or badly sized file: an InputError).
    func attachDrives(to machine: PCMachine) throws {
        for spec in try driveSpecs() {
            do { machine.attachDrive(try spec.open(), index: spec.index!) } catch { throw InputError(error.description) }
        }
    }

    /// `--nmi-at N,…` as instruction counts.
    func parseNMISchedule() throws -> [UInt64] {
        guard let text = nmiAt else { return [] }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count <= 4096 else { throw InputError("--nmi-at: at most 4096 instruction counts") }
        return try parts.map { part in
            guard let n = UInt64(part.trimmingSpaces()) else {
                throw InputError("bad --nmi-at '\(text)' (instruction counts, e.g. 1000000,2500000)")
            }
            return n
        }
    }

    /// Port 0xE9 to stderr or `--debugcon FILE`, port 0x80 to `--post FILE` (or nowhere). The
    /// files are line-buffered (POST codes unbuffered), so a run that dies loses at most a line.
    func wireDebugPorts(_ machine: PCMachine) throws -> (console: SerialOutput, post: SerialOutput?) {
        let console = try debugcon.map { try SerialOutput(path: $0, buffering: .line) } ?? SerialOutput(fileDescriptor: 2)
        machine.debugPorts.onConsole = { console.append($0) }
        var post: SerialOutput? = nil
        if let path = self.post {
            let p = try SerialOutput(path: path, buffering: .none)
            machine.attachPOSTPort { p.append($0) }
            post = p
        }
        return (console, post)
    }

    /// Loads the ELF (returned, for its symbols), the flat image or the ROM (`--bios`).
    func loadGuest(into machine: PCMachine) throws -> ELF32File? {
        if let path = bios {
            let image = try Self.readROM(path)
            do { try machine.loadROM(image) } catch { throw InputError("\(path): \(error.description)") }
            return nil
        }
        let disks = UInt8(min(try driveSpecs().count, 4))  // BDA 0x475, as SeaBIOS counts them
        var mods: [MultibootLoader.Module] = []
        for spec in modules {
            let file = String(spec.split(separator: " ", maxSplits: 1).first ?? "")
            guard !file.isEmpty else { throw InputError("empty --module") }
            mods.append(.init(bytes: try readFile(file), string: spec))
        }
        do {
            if let path = flat {
                guard let at = parseAddress(load!), let e = parseAddress(entry!) else {
                    throw InputError("bad --load/--entry address (decimal or 0x hex, below 4 GiB)")
                }
                let placement = try MultibootLoader.loadFlat(try readFile(path), at: at, entry: e, into: machine.cpu,
                                                             commandLine: append, modules: mods, hardDiskCount: disks)
                try writeFirmwareDump(placement, machine)
                return nil
            }
            let path = (guest ?? kernel)!
            let contents = try readFile(path)
            if LinuxSetupHeader.looksLikeBzImage(contents) {
                guard modules.isEmpty else { throw InputError("--module is multiboot: a bzImage takes one --initrd") }
                let rd = try initrd.map { try readFile($0) }
                do {
                    let placement = try LinuxLoader.load(contents, into: machine.cpu, commandLine: append, initrd: rd,
                                                         hardDiskCount: disks)
                    if kernel != nil { writeAll(2, Array("x86v: \(path): Linux bzImage, boot protocol \(placement.header.protocolText), \(placement.header.kernelVersion)\n".utf8)) }
                    try writeFirmwareDump(placement, machine)
                    machine.watchForLinuxPanic()
                } catch let error as LinuxLoader.LoadError { throw InputError("\(path): \(error.description)") }
                return nil
            }
            if initrd != nil { throw InputError("--initrd goes with a Linux bzImage: \(path) is not one (give a multiboot ELF --module instead)") }
            let elf: ELF32File
            do { elf = try ELF32File(bytes: contents) } catch {
                guard contents.starts(with: [0x7F, 0x45, 0x4C, 0x46]) else {
                    throw InputError("\(path): neither a Linux bzImage (no \"HdrS\" setup header) nor a multiboot ELF (no ELF magic)")
                }
                throw InputError("\(path): \(error.description)")
            }
            if kernel != nil { writeAll(2, Array("x86v: \(path): multiboot ELF\n".utf8)) }
            let placement = try MultibootLoader.load(elf, into: machine.cpu, commandLine: append, modules: mods,
                                                     hardDiskCount: disks)
            try writeFirmwareDump(placement, machine)
            return elf
        } catch let error as MultibootLoader.LoadError {
            throw InputError("\(flat ?? guest ?? ""): \(error.description)")
        }
    }
}

extension RunOptions {
    /// `--dump-firmware DIR` (FirmwareDump; a bad DIR is an InputError).
    func writeFirmwareDump(_ placement: MultibootLoader.Placement, _ machine: PCMachine) throws {
        guard let dir = dumpFirmware else { return }
        do { try FirmwareDump.write(placement, memory: machine.memory, to: dir) } catch { throw InputError(error.description) }
    }

    func writeFirmwareDump(_ placement: LinuxLoader.Placement, _ machine: PCMachine) throws {
        guard let dir = dumpFirmware else { return }
        do { try FirmwareDump.write(placement, memory: machine.memory, to: dir) } catch { throw InputError(error.description) }
    }

    /// A `--bios` file as a checked `ROMImage`: at most one byte more than the largest ROM is
    /// read, so a huge file (or a device) is refused without being read whole.
    static func readROM(_ path: String) throws -> ROMImage {
        guard let handle = fopen(path, "rb") else {
            throw InputError("\(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(handle) }
        let cap = ROMImage.maximumSize + 1
        var bytes = [UInt8](repeating: 0, count: cap)
        let n = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, cap, handle) }
        if n < cap && ferror(handle) != 0 { throw InputError("\(path): read error (is it a directory?)") }
        bytes.removeLast(cap - n)
        do {
            return try ROMImage(bytes: bytes)
        } catch {
            guard n == cap else { throw InputError("\(path): \(error.description)") }
            // Too large: say how large when the file knows (not a pipe or a device).
            var info = stat()
            let size = fstat(fileno(handle), &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
                ? "\(info.st_size) bytes" : "more than \(ROMImage.maximumSize >> 10) KiB"
            throw InputError("\(path): " + ROMImage.badSize(size))
        }
    }
}

/// A guest ready to run: the machine, the VMM (nil for `--virt=none`), the ELF it came from, and
/// the outputs to flush at the end.
struct GuestSetup {
    let options: RunOptions
    let machine: PCMachine
    let vmm: VMM?
    let elf: ELF32File?
    let serial: SerialOutput
    let console: SerialOutput
    let faults: FaultTrace?
    /// `--post FILE`.
    var post: SerialOutput? = nil

    /// Runs to one of `limits`' ends under the VMM or the bare runner.
    func run(_ limits: RunLimits) -> StopReason {
        if let v = vmm { return v.run(limits) }
        return HardwareRunner(machine: machine).run(limits)
    }

    /// Flushes the outputs, writes `--stats`/`--stats-json` and the stop line, and exits with the
    /// run's status (docs/formats.md).
    /// `since`: the instruction count the timed part started at (MIPS counts from there).
    func finish(_ stop: StopReason, wallSeconds: Double, since: UInt64 = 0) throws -> Never {
        ConsoleFrontEnd.finish(machine)
        vmm?.trace?.close()
        closeDrives()
        serial.flush()
        console.flush()
        post?.flush()
        faults?.close()
        var report = RunReport(virt: options.configName, machine: machine, vmm: vmm, stop: stop, wallSeconds: wallSeconds)
        report.startInstructions = since
        if options.stats { writeAll(2, Array(report.table().utf8)) }
        if let path = options.statsJSON {
            guard let f = fopen(path, "w") else { throw InputError("\(path): cannot write statistics") }
            fputs(report.json(), f)
            fclose(f)
        }
        if let line = report.stopMessage() { writeAll(2, Array("x86v: \(line)\n".utf8)) }
        throw ExitCode(report.exitStatus)
    }
}
extension GuestSetup {
    /// Flushes (`fsync`) and closes the `--drive` images; a failure is reported on stderr (the
    /// guest's writes may not all be on the disk).
    func closeDrives() {
        for path in machine.ide.closeAll() {
            writeAll(2, Array("x86v: \(path): fsync failed: the guest's last writes may not be on the disk\n".utf8))
        }
    }
}

extension ExecutionEngine: ExpressibleByArgument {}
