import X86Core

/// Why a run ended. x86v turns each into its exit status (docs/formats.md).
public enum StopReason: Equatable, Sendable {
    /// The guest wrote to isa-debug-exit: the status it asked for.
    case debugExit(Int32)
    /// HLT with IF = 0: nothing but NMI or reset can wake the CPU (a clean stop).
    case haltedWithInterruptsOff
    /// HLT with IF = 1, but no timer is armed and no input can arrive: it would sleep forever.
    case idleForever
    case tripleFault
    case instructionLimit
    case timeout
    case notImplemented(eip: UInt32, what: String)
    /// The guest pulsed the reset line (port 0x92 bit 0, or 8042 command 0xFE).
    case resetRequested
    /// `--strict-io`: the guest touched a port no device owns.
    case unknownPort(port: UInt16, isIn: Bool)
    /// The guest entered ACPI S5 (SLP_EN with the soft-off SLP_TYP in PM1_CNT).
    case powerOff
    /// A debugger breakpoint, watchpoint or stop request (`CPU.breakpoints`, `watchpoints`,
    /// `requestOwnerStop`): only ever seen by a debugger, which resumes the run.
    case breakpoint
    /// The user ended the run from the console (`Ctrl-A x`).
    case userQuit
    /// A Linux guest panicked (`LinuxPanicWatch` saw its banner on COM1): the panic line.
    case guestPanic(String)
}

/// The PC around the CPU: RAM, the I/O bus and its devices, the interrupt controllers, the
/// virtual clock. It executes nothing itself: a runner (the bare `HardwareRunner` or the VMM)
/// drives the CPU and calls `performPortIO`, `runDueTimers` and the interrupt controller.
public final class PCMachine {
    public let cpu: CPU
    public let memory: PhysicalMemory
    public let clock: VirtualClock
    public let bus = IOBus()
    public let pic: DualPIC
    public let pit: PIT8254
    public let cmos: CMOS
    public let systemControl: SystemControl
    /// The 8042 with its PS/2 keyboard (0x60, 0x64; IRQ1).
    public let keyboard: Keyboard8042
    /// The VGA in text mode: the screen at 0xB8000, the CRTC (0x3D4/0x3D5), misc, status.
    public let vga: VGAText
    public let uart: UART16550
    public let lapic: LocalAPIC
    public let ioapic: IOAPIC
    public let lines: InterruptLines
    public let interrupts: InterruptController
    public let debugPorts: DebugPorts
    /// The IDE controller (both channels, always present; disks from `attachDrive`).
    public let ide: IDEController
    public let coprocessor = CoprocessorPorts()
    /// QEMU's fw_cfg (0x510/0x511) and the ACPI power-management registers (PIIX4 PM at 0x600,
    /// 0xB2, 0xCF9): always present, as on QEMU's pc.
    public let firmwareConfig: FirmwareConfig
    public let acpi: ACPIPowerManagement
    /// QEMU's pc-testdev, once `attachTestDevice` (`--device pc-testdev`) added it.
    public internal(set) var testDevice: PCTestDevice? = nil
    /// `--strict-io`: an access to a port nobody owns stops the run.
    public var strictIO = false
    /// Set by a device or a strict-I/O violation; the runner stops at the next boundary.
    public var stopRequest: StopReason? = nil
    /// Counters for `--stats` (hardware events, whatever the runner).
    public internal(set) var portAccesses: UInt64 = 0
    public internal(set) var interruptsDelivered: UInt64 = 0
    /// Timer events handled in a row while the CPU slept, none of which woke it.
    var fruitlessWakeups = 0
    /// After this many, a sleeping CPU is declared idle forever (its timers tick, but every
    /// interrupt they raise is masked): at 18.2 Hz that is over an hour of virtual time.
    public static let fruitlessWakeupLimit = 100_000
    /// Called for every MMIO access to a device region (the VMM counts them as exits).
    /// Unretained: the owner (the VMM) clears it in deinit. An object, not a closure, so that no
    /// closure context is retained and released on every access (xv6 reads its APIC ID once per
    /// lock operation: ~100 M accesses in usertests).
    public unowned(unsafe) var mmioSink: (any MMIOSink)? = nil
    /// The firmware ROM (`x86v run --bios`), if the machine powers on into one (`loadROM`).
    public private(set) var rom: ROMImage? = nil

    public struct MMIOAccess: Sendable {
        public var device: String
        public var address: UInt32
        public var size: Int
        public var isWrite: Bool
        public var value: UInt32
    }

    /// `privateMemory`: RAM after the guest's that only the VMM uses (shadow page tables).
    public init(memorySize: Int, rtcStart: RTCDateTime = .defaultStart, privateMemory: Int = 0) {
        cpu = CPU(memorySize: memorySize, privateMemory: privateMemory)
        memory = cpu.memory
        clock = VirtualClock(cpu: cpu)
        pic = DualPIC()
        lapic = LocalAPIC(clock: clock)
        cpu.localAPICPresent = true
        ioapic = IOAPIC(lapic: lapic)
        lines = InterruptLines(pic: pic, ioapic: ioapic)
        interrupts = InterruptController(pic: pic, lapic: lapic)
        pit = PIT8254(clock: clock, lines: lines)
        cmos = CMOS(clock: clock, lines: lines, start: rtcStart, memorySize: memorySize)
        systemControl = SystemControl()
        keyboard = Keyboard8042(lines: lines, clock: clock)
        vga = VGAText(memory: memory)
        uart = UART16550(lines: lines)
        uart.clock = clock
        debugPorts = DebugPorts()
        firmwareConfig = FirmwareConfig(ramSize: UInt64(memorySize))
        acpi = ACPIPowerManagement(clock: clock, lines: lines)
        ide = IDEController(lines: lines)
        bus.attach(pic, ports: 0x20...0x21)
        bus.attach(pic, ports: 0xA0...0xA1)
        bus.attach(pic, ports: 0x4D0...0x4D1)
        bus.attach(pit, ports: 0x40...0x43)
        bus.attach(pit, ports: 0x61...0x61)
        bus.attach(cmos, ports: 0x70...0x71)
        bus.attach(keyboard, ports: 0x60...0x60)
        bus.attach(keyboard, ports: 0x64...0x64)
        for r in VGAText.portRanges { bus.attach(vga, ports: r) }
        bus.attach(systemControl, ports: 0x92...0x92)
        bus.attach(uart, ports: 0x3F8...0x3FF)
        bus.attach(debugPorts, ports: 0xF4...0xF7)
        bus.attach(debugPorts, ports: 0xE9...0xE9)
        ide.attachPorts(to: bus)
        memory.add(ObservedRegion(lapic, name: "lapic", machine: self))
        memory.add(ObservedRegion(ioapic, name: "ioapic", machine: self))
        systemControl.onReset = { [unowned self] in self.stopRequest = self.resetOrPanic }
        keyboard.onReset = { [unowned self] in self.stopRequest = self.resetOrPanic }
        bus.attach(firmwareConfig, ports: FirmwareConfig.ports)
        for r in ACPIPowerManagement.portRanges { bus.attach(acpi, ports: r) }
        acpi.onReset = { [unowned self] in self.stopRequest = self.resetOrPanic }
        acpi.onPowerOff = { [unowned self] in self.stopRequest = .powerOff }
        bus.attach(coprocessor, ports: CoprocessorPorts.ports)
        // FERR# → IRQ13 → the CPU at the next instruction boundary; 0xF0 → IGNNE#.
        cpu.numericErrorSignal = { [unowned self] high in
            self.lines.set(CoprocessorPorts.irq, high: high)
            self.cpu.interruptRequested = self.interrupts.pending
        }
        coprocessor.onClear = { [unowned self] in
            self.lines.set(CoprocessorPorts.irq, high: false)
            self.cpu.ignoreNumericError()
        }
    }

    /// Maps a firmware ROM (`ROMImage.map`: at the top of 4 GiB, its end copied below 1 MiB) and
    /// puts the CPU in its power-on state, so the run starts at the reset vector 0xFFFFFFF0.
    /// Call before a VMM is built on the machine (it reads the CPU's state and the memory map).
    public func loadROM(_ image: ROMImage) throws(ROMImage.LoadError) {
        guard rom == nil else { throw ROMImage.LoadError("a ROM is already mapped") }
        try image.map(into: memory)
        rom = image
        cpu.powerOn()
    }

    /// Puts a disk at IDE position `index` (0–3: primary master, primary slave, secondary master,
    /// secondary slave, as QEMU's `-drive index=`). Attach before the run starts.
    public func attachDrive(_ image: DiskImage, index: Int) {
        ide.attach(image, index: index)
    }

    /// Decodes the POST-code port 0x80 (`x86v run --post FILE`): bytes written there go to
    /// `debugPorts.onPOST`. Without it no device owns 0x80 (writes are dropped and counted as
    /// unknown ports, and `--strict-io` stops on them), as before POST codes were captured.
    public func attachPOSTPort(_ sink: @escaping (UInt8) -> Void) {
        debugPorts.onPOST = sink
        bus.attach(debugPorts, ports: 0x80...0x80)
    }

    /// Where serial (COM1) output goes (through the panic watch, if armed).
    public var serialOutput: (UInt8) -> Void {
        get { serialSink }
        set {
            serialSink = newValue
            if let watch = panicWatch {
                uart.onTransmit = { watch.feed($0); newValue($0) }
            } else {
                uart.onTransmit = newValue
            }
        }
    }
    private var serialSink: (UInt8) -> Void = { _ in }

    /// A bzImage boot's watch for Linux's panic banner on COM1 (`watchForLinuxPanic`).
    public private(set) var panicWatch: LinuxPanicWatch? = nil

    /// Arms `LinuxPanicWatch`: the end of a panic's text stops the run (`.guestPanic`), and so
    /// does a reset once a panic began (`panic=N`).
    public func watchForLinuxPanic() {
        let watch = LinuxPanicWatch()
        watch.onEnd = { [unowned self, unowned watch] in self.stopRequest = .guestPanic(watch.panicLine ?? "") }
        panicWatch = watch
        let sink = serialSink
        serialOutput = sink
    }

    /// What a reset request means: a reset, or the end of a panic that asked for a reboot.
    var resetOrPanic: StopReason {
        if let line = panicWatch?.panicLine { return .guestPanic(line) }
        return .resetRequested
    }

    // MARK: Port I/O

    /// Performs a port access on the bus: the value read for IN (nil for OUT). Sets
    /// `stopRequest` for a debug exit or a strict-I/O violation.
    public func performPortIO(_ access: PortAccess) -> UInt32? {
        portAccesses &+= 1
        if strictIO && !bus.isOwned(access.port) {
            stopRequest = .unknownPort(port: access.port, isIn: access.isIn)
        }
        if access.isIn {
            return bus.read(port: access.port, size: Int(access.size))
        }
        bus.write(port: access.port, size: Int(access.size), value: access.value)
        if let status = debugPorts.exitStatus { stopRequest = .debugExit(status) }
        return nil
    }

    /// Performs the CPU's pending port access and completes the instruction.
    public func completePortIO(_ access: PortAccess) {
        if let value = performPortIO(access) {
            cpu.completePortIn(value: value)
        } else {
            cpu.completePortOut()
        }
    }

    // MARK: Time

    /// The earliest timer deadline (absolute virtual ns), if any timer is armed.
    public func nextDeadline() -> UInt64? {
        // The three clocked devices by name, not through `[any ClockedDevice]`: this runs on
        // every VM exit, and existential dispatch plus retain/release of each element was a
        // tenth of an exit's cost. The order is fixed (determinism): PIT, CMOS, LAPIC, ACPI.
        var best = pit.nextDeadline() ?? .max
        if let d = cmos.nextDeadline(), d < best { best = d }
        if let d = lapic.nextDeadline(), d < best { best = d }
        if let d = acpi.nextDeadline(), d < best { best = d }
        if let d = keyboard.nextDeadline(), d < best { best = d }
        if let d = uart.nextDeadline(), d < best { best = d }
        return best == .max ? nil : best
    }

    /// Ticks every device whose deadline has come. Returns true if any had.
    @discardableResult
    public func runDueTimers() -> Bool {
        let now = clock.now
        var any = false
        // By name, in nextDeadline's fixed order.
        if let d = pit.nextDeadline(), d <= now { pit.tick(now: now); any = true }
        if let d = cmos.nextDeadline(), d <= now { cmos.tick(now: now); any = true }
        if let d = lapic.nextDeadline(), d <= now { lapic.tick(now: now); any = true }
        if let d = acpi.nextDeadline(), d <= now { acpi.tick(now: now); any = true }
        if let d = uart.nextDeadline(), d <= now { uart.tick(now: now); any = true }
        return any
    }

    /// The chipset's NMI line (the NMI button; on a PC also I/O channel check and parity
    /// errors, which x86v never raises): passes only while port 0x70's bit 7 leaves NMIs unmasked,
    /// then reaches the CPU through the local APIC's LINT1 (virtual-wire mode, MP spec §3.6.2.2).
    /// Returns whether the edge got past the mask.
    @discardableResult
    public func pulseNMI() -> Bool {
        guard !cmos.nmiMasked else { return false }
        lapic.assertLINT1()
        cpu.interruptRequested = interrupts.pending
        cpu.nmiRequested = interrupts.nmiPending
        return true
    }

    /// `--nmi-at N,…`: the NMI button pressed before instruction N (retired-instruction counts,
    /// ascending), so a run with NMIs is as deterministic as one without. A run option like the
    /// limits, not machine state: a resumed run is given the same list and skips what lies
    /// before its start (`RunGate`).
    public var scheduledNMIs: [UInt64] = [] { didSet { scheduledNMIs.sort(); nmiScheduleIndex = 0 } }
    var nmiScheduleIndex = 0

    public var nextScheduledNMI: UInt64? {
        nmiScheduleIndex < scheduledNMIs.count ? scheduledNMIs[nmiScheduleIndex] : nil
    }

    func skipScheduledNMIs(before count: UInt64) {
        while let at = nextScheduledNMI, at < count { nmiScheduleIndex += 1 }
    }

    /// A sleeping CPU that nothing else can wake retires no more instructions, so an NMI
    /// scheduled for later would never come: the button is pressed now instead (nil: the CPU may
    /// wake), or the run stops with `stop` when none is left.
    func pressNMIButtonInstead(of stop: StopReason) -> StopReason? {
        guard nextScheduledNMI != nil else { return stop }
        fireScheduledNMI()
        return nil
    }

    func fireScheduledNMI() {
        nmiScheduleIndex += 1
        pulseNMI()
    }

    /// The CPU took an external interrupt (INTA done, delivered or injected).
    public func noteInterruptDelivered() {
        interruptsDelivered &+= 1
        fruitlessWakeups = 0
    }

    /// HLT with nothing to take: skip virtual time to the next timer event (the TSC keeps
    /// counting), or say why the CPU can never wake: IF = 0 (a clean stop), or no timer armed and
    /// no input possible, or only masked interrupts for `fruitlessWakeupLimit` timer events.
    public func sleep(interruptsEnabled: Bool) -> StopReason? {
        // With IF = 0 only an NMI wakes the CPU: a timer can raise one only through an I/O APIC
        // entry in NMI mode (the old NMI-watchdog setup); without one this is a clean stop.
        if !interruptsEnabled && !ioapic.routesNMI { return pressNMIButtonInstead(of: .haltedWithInterruptsOff) }
        if let d = nextDeadline() {
            if fruitlessWakeups >= Self.fruitlessWakeupLimit {
                // Nothing the timers raise wakes it; a person at the terminal still may.
                guard canReceiveInput else { return pressNMIButtonInstead(of: .idleForever) }
                pollInput(waitMilliseconds: 100)
                return nil
            }
            fruitlessWakeups += 1
            clock.skipIdle(to: d)
            return nil
        }
        if canReceiveInput {
            pollInput(waitMilliseconds: 100)
            return nil
        }
        return pressNMIButtonInstead(of: .idleForever)
    }

    // MARK: Console input

    /// Host input (a terminal): its bytes go to `inputTarget`.
    public var inputSource: (any HostInput)? = nil
    /// COM1's receiver, or the keyboard (`--display text`: keys typed as on QEMU's screen).
    public var inputTarget: InputTarget = .serial
    /// Host bytes → key events for `inputTarget == .keyboard` (holds a split escape sequence).
    public var keyDecoder = KeyDecoder()
    /// Called from the input poll about every 256 polls or 2^20 instructions, and at every
    /// poll of a sleeping CPU: the terminal front end's chance to redraw (`--display text`).
    public var onPoll: (() -> Void)? = nil
    var pollCount: UInt32 = 0
    var lastPollInstructions: UInt64 = 0

    /// True when something outside the CPU could still raise an interrupt while it sleeps.
    public var canReceiveInput: Bool { inputSource?.isOpen ?? false }

    /// Gives the keyboard its next typed key if it may have one (every call: deterministic), then,
    /// rate-limited, lets the front end redraw and takes host input (the caller says whether it
    /// may block waiting). Polling a terminal costs a system call: at every VM exit it would
    /// halve the exit rate, so a waiting byte is seen within 256 exits or ~10 ms of guest time.
    public func pollInput(waitMilliseconds: Int32) {
        keyboard.deliverTyped()
        if waitMilliseconds == 0 {
            pollCount &+= 1
            let n = cpu.statePointer.pointee.instructions
            guard pollCount & 255 == 0 || n &- lastPollInstructions >= 1 << 20 else { return }
            lastPollInstructions = n
        }
        onPoll?()
        guard let input = inputSource, input.isOpen else { return }
        let bytes = input.read(waitMilliseconds: waitMilliseconds)
        switch inputTarget {
        case .serial:
            if !bytes.isEmpty { uart.receive(bytes) }
        case .keyboard:
            var events = keyDecoder.decode(bytes)
            if bytes.isEmpty { events += keyDecoder.flush() }
            if !events.isEmpty { keyboard.type(events) }
        }
    }
}

/// Where interactive host input goes.
public enum InputTarget: Sendable {
    case serial, keyboard
}

/// Sees every access to a device's MMIO window (`PCMachine.mmioSink`).
public protocol MMIOSink: AnyObject {
    func mmioAccess(_ access: PCMachine.MMIOAccess)
}

/// A device's MMIO window as the bus sees it: forwards to the device and tells the machine's
/// observer (the VMM's APIC-access / MMIO exits).
final class ObservedRegion: MMIORegion {
    /// Keeps the device alive; `inner` is the same object, read without a retain/release pair
    /// on every access.
    let owner: MMIORegion
    unowned(unsafe) let inner: MMIORegion
    let name: String
    /// unowned(unsafe): the machine owns its memory and so this region; a checked unowned
    /// reference cost a retain/release pair on every access (xv6 reads its APIC ID once per
    /// lock operation: ~100 M accesses in usertests).
    unowned(unsafe) let machine: PCMachine

    init(_ inner: MMIORegion, name: String, machine: PCMachine) {
        self.owner = inner
        self.inner = inner
        self.name = name
        self.machine = machine
        super.init(base: inner.base, size: inner.size)
    }

    override func read(offset: UInt32, size: Int) -> UInt32 {
        let v = inner.read(offset: offset, size: size)
        let access = PCMachine.MMIOAccess(device: name, address: base &+ offset, size: size, isWrite: false, value: v)
        machine.mmioSink?.mmioAccess(access)
        return v
    }

    override func write(offset: UInt32, size: Int, value: UInt32) {
        let access = PCMachine.MMIOAccess(device: name, address: base &+ offset, size: size, isWrite: true, value: value)
        machine.mmioSink?.mmioAccess(access)
        inner.write(offset: offset, size: size, value: value)
        // A self-IPI, an EOI or a TPR write can make an interrupt deliverable right after this
        // instruction, not at the end of the CPU's burst.
        machine.cpu.interruptRequested = machine.interrupts.pending
        machine.cpu.nmiRequested = machine.interrupts.nmiPending
    }
}
