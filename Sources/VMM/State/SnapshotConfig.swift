import Machine
import X86Core

/// What is needed to rebuild the machine a snapshot was taken of: the run flags that shape the
/// machine (`x86v run --memory --virt --mmu --shadow-pages --exits --strict-io --rtc`), the
/// firmware ROM's bytes (`--bios`: the ROM at the top of 4 GiB is not RAM, so the snapshot
/// carries it), the instruction budget of the run, and the guest's path (informational: for
/// symbols). A snapshot is restored into a machine built from its config (`makeMachine`), so
/// sizes and wiring match.
public struct SnapshotConfig: Sendable, Equatable {
    public enum Virt: String, Sendable, Equatable { case hw, none, classic, bt }
    public enum MMU: String, Sendable, Equatable { case shadow, direct }

    /// Guest RAM in bytes.
    public var memoryBytes: Int
    /// VMM-private memory after guest RAM (the shadow pool), in bytes.
    public var privateMemoryBytes: Int
    /// The shadow pool in 4 KiB pages (0 unless `virt == .hw && mmu == .shadow`).
    public var shadowPages: Int
    public var virt: Virt
    public var mmu: MMU
    /// The `--exits` spec the exit policy was built from ("" = the default policy).
    public var exits: String
    public var strictIO: Bool
    public var rtcStart: RTCDateTime
    /// The guest ELF (or flat image) the run started from; never read back.
    public var guestPath: String
    /// The run's `--max-instructions`.
    public var maxInstructions: UInt64
    /// `--umip` (classic and bt only).
    public var umip = false
    /// `--bios`: the ROM the machine powered on into (nil for a multiboot or flat guest).
    public var rom: ROMImage? = nil

    public init(memoryBytes: Int, privateMemoryBytes: Int, shadowPages: Int, virt: Virt, mmu: MMU,
                exits: String, strictIO: Bool, rtcStart: RTCDateTime, guestPath: String, maxInstructions: UInt64) {
        self.memoryBytes = memoryBytes
        self.privateMemoryBytes = privateMemoryBytes
        self.shadowPages = shadowPages
        self.virt = virt
        self.mmu = mmu
        self.exits = exits
        self.strictIO = strictIO
        self.rtcStart = rtcStart
        self.guestPath = guestPath
        self.maxInstructions = maxInstructions
    }

    /// "hw-shadow", "hw-direct" or "none" (the names `x86v test` uses).
    public var name: String {
        switch virt {
        case .hw: "hw-\(mmu.rawValue)"
        case .none: "none"
        case .classic, .bt: virt.rawValue + (umip ? "-umip" : "")
        }
    }

    /// The exit policy `exits` describes.
    public func policy() throws(StateError) -> ExitPolicy {
        var p = ExitPolicy.default
        if let problem = p.apply(exits) { throw StateError("snapshot config: bad exit policy '\(exits)': \(problem)") }
        return p
    }

    /// A machine and VMM (nil for `virt == .none`) built as `x86v run` builds them for these
    /// flags, with nothing loaded: ready for `MachineSnapshot.restore`. The caller wires outputs
    /// and traces.
    public func makeMachine() throws(StateError) -> (machine: PCMachine, vmm: VMM?) {
        let policy = try policy()
        let machine = PCMachine(memorySize: memoryBytes, rtcStart: rtcStart, privateMemory: privateMemoryBytes)
        machine.strictIO = strictIO
        if let r = rom {
            // Mapped before the VMM is built, as `x86v run` does (RAM and CPU state then come
            // from the snapshot).
            do { try machine.loadROM(r) } catch { throw StateError("snapshot ROM: \(error.description)") }
        }
        guard virt != .none else { return (machine, nil) }
        let classic = virt == .classic || virt == .bt
        if classic && (mmu != .shadow || privateMemoryBytes < (shadowPages + ClassicState.Layout.privatePages) * 4096) {
            throw StateError("snapshot corrupt: classic virtualization without its private memory")
        }
        let vmm = VMM(machine: machine, policy: policy, mmu: mmu == .shadow ? .shadow(pages: shadowPages) : .direct,
                      classic: classic, umip: umip, binaryTranslation: virt == .bt)
        return (machine, vmm)
    }

    /// Section "CONF".
    func write(to w: inout StateWriter) {
        w.tag("CONF")
        w.put(UInt64(memoryBytes))
        w.put(UInt64(privateMemoryBytes))
        w.put(UInt32(shadowPages))
        w.put(virt.rawValue)
        w.put(mmu.rawValue)
        w.put(exits)
        w.put(strictIO)
        w.put(Self.text(rtcStart))
        w.put(guestPath)
        w.put(maxInstructions)
        w.put(umip)
        w.put(rom != nil)
        if let r = rom { w.put(bytes: r.bytes) }
    }

    static func read(from r: inout StateReader) throws(StateError) -> SnapshotConfig {
        try r.expect("CONF")
        let memory = try r.get(UInt64.self)
        let privateBytes = try r.get(UInt64.self)
        let pages = Int(try r.get(UInt32.self))
        // The bounds `x86v run --memory` accepts, and those `PhysicalMemory` and `ShadowMMU` insist
        // on (they trap on anything else).
        guard memory >= 1 << 20, memory <= 0xC000_0000, memory % 4096 == 0, privateBytes % 4096 == 0,
              memory + privateBytes <= 0xF000_0000, UInt64(pages) * 4096 <= privateBytes,
              pages == 0 || pages >= 8
        else { throw StateError("snapshot corrupt: memory \(memory) + private \(privateBytes) bytes, \(pages) shadow pages") }
        let virtName = try r.getString(limit: 16)
        let mmuName = try r.getString(limit: 16)
        guard let virt = Virt(rawValue: virtName), let mmu = MMU(rawValue: mmuName) else {
            throw StateError("snapshot corrupt: configuration virt=\(virtName) mmu=\(mmuName)")
        }
        if virt != .none && mmu == .shadow && pages == 0 { throw StateError("snapshot corrupt: shadow MMU without a pool") }
        let exits = try r.getString(limit: 1 << 16)
        let strict = try r.getBool()
        let rtcText = try r.getString(limit: 64)
        guard let rtc = RTCDateTime.parse(rtcText) else { throw StateError("snapshot corrupt: RTC start '\(rtcText)'") }
        let guest = try r.getString(limit: 1 << 16)
        let maxInstructions: UInt64 = try r.get()
        var c = SnapshotConfig(memoryBytes: Int(memory), privateMemoryBytes: Int(privateBytes), shadowPages: pages,
                               virt: virt, mmu: mmu, exits: exits, strictIO: strict, rtcStart: rtc,
                               guestPath: guest, maxInstructions: maxInstructions)
        c.umip = try r.getBool()
        if try r.getBool() {
            let at = r.offset
            let bytes = Array(try r.getBytes(limit: ROMImage.maximumSize))
            do { c.rom = try ROMImage(bytes: bytes) } catch {
                throw StateError("snapshot corrupt: ROM at byte \(at): \(error.description)")
            }
        }
        return c
    }

    /// "YYYY-MM-DDTHH:MM:SS", the form `RTCDateTime.parse` reads.
    static func text(_ d: RTCDateTime) -> String {
        func pad(_ v: Int, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        return "\(pad(d.year, 4))-\(pad(d.month, 2))-\(pad(d.day, 2))T\(pad(d.hour, 2)):\(pad(d.minute, 2)):\(pad(d.second, 2))"
    }
}
