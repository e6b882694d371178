import X86Core

/// Which guest events exit to the VMM: the VM-execution controls of a VMCS as plain data
/// (SDM Vol. 3C §24.6). Events that do not exit happen "in hardware": the instruction runs on
/// the interpreter as it would natively, and the VMM never sees it.
public struct ExitPolicy: Sendable, Equatable {
    /// Ports whose IN/OUT/INS/OUTS exit (the I/O bitmaps, §24.6.4). Unlisted ports go straight to
    /// the device, like a port passed through to a real device.
    public var ioPorts: IOBitmap = .all
    /// MOV to CR0/CLTS/LMSW, MOV to CR3, MOV from CR3, MOV to CR4. CR0/CR4 reads never exit: the
    /// guest reads the VMM's read shadows (§24.6.6).
    public var cr0Write = true
    public var cr3Write = true
    public var cr3Read = true
    public var cr4Write = true
    public var invlpg = true
    public var hlt = true
    /// CPUID always exits on VT-x; x86v lets a policy turn it off to show the difference.
    public var cpuid = true
    public var msr = true
    public var rdtsc = false
    public var drAccess = false
    /// SGDT/SIDT/LGDT/LIDT and SLDT/STR/LLDT/LTR ("descriptor-table exiting").
    public var descriptorTables = false
    /// Exception bitmap (§24.6.3): bit n = exception vector n exits instead of being delivered.
    public var exceptions: UInt32 = 0
    /// Local APIC and I/O APIC MMIO accesses are counted as exits (APIC_ACCESS / MMIO_ACCESS).
    public var mmio = true
    /// Task switches (JMP/CALL to a TSS or task gate, IRET with NT, a task gate in the IDT).
    /// VT-x always exits on them (SDM Vol. 3C §26.4.2); `-task` lets the interpreter switch
    /// tasks "in hardware", the VMM still loading CR3 for the shadow MMU.
    public var taskSwitch = true

    public init() {}

    /// The default: what KVM asks of VT-x for a guest without EPT pass-through of devices.
    public static let `default` = ExitPolicy()

    /// The interpreter's intercept set for this policy.
    var intercepts: Intercept {
        var i: Intercept = []
        if cr0Write { i.insert(.cr0Write) }
        if cr3Write { i.insert(.cr3Write) }
        if cr3Read { i.insert(.cr3Read) }
        if cr4Write { i.insert(.cr4Write) }
        if invlpg { i.insert(.invlpg) }
        if hlt { i.insert(.hlt) }
        if cpuid { i.insert(.cpuid) }
        if msr { i.insert(.msr) }
        if rdtsc { i.insert(.rdtsc) }
        if drAccess { i.insert(.drAccess) }
        if descriptorTables { i.insert(.descriptorTable) }
        if taskSwitch { i.insert(.taskSwitch) }
        return i
    }

    /// Applies `spec`, a comma-separated list of `+name`/`-name` (`--exits`): io, io:PORT[-PORT],
    /// cr0, cr3, cr3-read, cr4, invlpg, hlt, cpuid, msr, rdtsc, dr, desc, mmio, task, exception:N.
    public mutating func apply(_ spec: String) -> String? {
        for item in spec.split(separator: ",").map(String.init) where !item.isEmpty {
            guard let sign = item.first, sign == "+" || sign == "-" else {
                return "'\(item)': start each item with + or -"
            }
            let on = sign == "+"
            let name = String(item.dropFirst())
            switch name {
            case "io": ioPorts = on ? .all : .none
            case "cr0": cr0Write = on
            case "cr3": cr3Write = on
            case "cr3-read": cr3Read = on
            case "cr4": cr4Write = on
            case "invlpg": invlpg = on
            case "hlt": hlt = on
            case "cpuid": cpuid = on
            case "msr": msr = on
            case "rdtsc": rdtsc = on
            case "dr": drAccess = on
            case "desc": descriptorTables = on
            case "mmio": mmio = on
            case "task": taskSwitch = on
            default:
                if name.hasPrefix("exception:"), let v = UInt32(name.dropFirst(10)), v < 32 {
                    if on { exceptions |= 1 << v } else { exceptions &= ~(1 << v) }
                } else if name.hasPrefix("io:"), let range = Self.portRange(String(name.dropFirst(3))) {
                    for p in range { ioPorts.set(p, on) }
                } else {
                    return "unknown exit '\(name)' (io, io:PORT[-PORT], cr0, cr3, cr3-read, cr4, invlpg, hlt, cpuid, msr, rdtsc, dr, desc, mmio, task, exception:N)"
                }
            }
        }
        return nil
    }

    static func portRange(_ text: String) -> ClosedRange<UInt16>? {
        func port(_ s: Substring) -> UInt16? {
            s.hasPrefix("0x") ? UInt16(s.dropFirst(2), radix: 16) : UInt16(s)
        }
        let parts = text.split(separator: "-", maxSplits: 1)
        guard let lo = parts.first.flatMap(port) else { return nil }
        let hi = parts.count == 2 ? port(parts[1]) : lo
        guard let h = hi, h >= lo else { return nil }
        return lo...h
    }
}

/// 65,536 bits, one per port (VT-x's I/O bitmaps A and B).
public struct IOBitmap: Sendable, Equatable {
    var words: [UInt64]
    public static let all = IOBitmap(words: [UInt64](repeating: ~0, count: 1024))
    public static let none = IOBitmap(words: [UInt64](repeating: 0, count: 1024))
    public func contains(_ port: UInt16) -> Bool { words[Int(port >> 6)] & (1 << UInt64(port & 63)) != 0 }
    public mutating func set(_ port: UInt16, _ on: Bool) {
        if on { words[Int(port >> 6)] |= 1 << UInt64(port & 63) } else { words[Int(port >> 6)] &= ~(1 << UInt64(port & 63)) }
    }
}
